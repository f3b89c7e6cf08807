"""Builds the reference's networks (models/networks.py of
pytorch-CycleGAN-and-pix2pix, written independently from its description)
in PyTorch, loads a state dict that cyclepix saved with strict key/shape
checking, runs the input through it and saves the output.

usage: refnets.py SPEC_JSON WEIGHTS.pth INPUT.npy OUTPUT.npy
"""
import functools
import json
import sys

import numpy as np
import torch
import torch.nn as nn


def norm_layer(kind):
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return lambda c: nn.Identity()


def uses_bias(norm):
    # Only instance norm gets conv biases ("none" gets none, as in the reference).
    return isinstance(norm, functools.partial) and norm.func == nn.InstanceNorm2d


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm, dropout, bias):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, inc, outc, ngf, norm, dropout, blocks):
        super().__init__()
        bias = uses_bias(norm)
        m = [nn.ReflectionPad2d(3), nn.Conv2d(inc, ngf, 7, bias=bias), norm(ngf), nn.ReLU(True)]
        for i in range(2):
            k = 2 ** i
            m += [nn.Conv2d(ngf * k, ngf * k * 2, 3, 2, 1, bias=bias), norm(ngf * k * 2), nn.ReLU(True)]
        m += [ResnetBlock(ngf * 4, norm, dropout, bias) for _ in range(blocks)]
        for i in range(2):
            k = 2 ** (2 - i)
            m += [nn.ConvTranspose2d(ngf * k, ngf * k // 2, 3, 2, 1, output_padding=1, bias=bias),
                  norm(ngf * k // 2), nn.ReLU(True)]
        m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, outc, 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x)


class UnetBlock(nn.Module):
    def __init__(self, outer, inner, inc=None, sub=None, outermost=False, innermost=False, norm=None, dropout=False):
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm)
        inc = outer if inc is None else inc
        down = nn.Conv2d(inc, inner, 4, 2, 1, bias=bias)
        if outermost:
            m = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            m = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), norm(outer)]
        else:
            m = [nn.LeakyReLU(0.2, True), down, norm(inner), sub, nn.ReLU(True),
                 nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), norm(outer)]
            if dropout:
                m.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*m)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # x was rewritten by the in-place LeakyReLU


class UnetGenerator(nn.Module):
    def __init__(self, inc, outc, downs, ngf, norm, dropout):
        super().__init__()
        b = UnetBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(downs - 5):
            b = UnetBlock(ngf * 8, ngf * 8, sub=b, norm=norm, dropout=dropout)
        b = UnetBlock(ngf * 4, ngf * 8, sub=b, norm=norm)
        b = UnetBlock(ngf * 2, ngf * 4, sub=b, norm=norm)
        b = UnetBlock(ngf, ngf * 2, sub=b, norm=norm)
        self.model = UnetBlock(outc, ngf, inc=inc, sub=b, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, inc, ndf, layers, norm):
        super().__init__()
        bias = uses_bias(norm)
        s = [nn.Conv2d(inc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        k = 1
        for n in range(1, layers):
            p, k = k, min(2 ** n, 8)
            s += [nn.Conv2d(ndf * p, ndf * k, 4, 2, 1, bias=bias), norm(ndf * k), nn.LeakyReLU(0.2, True)]
        p, k = k, min(2 ** layers, 8)
        s += [nn.Conv2d(ndf * p, ndf * k, 4, 1, 1, bias=bias), norm(ndf * k), nn.LeakyReLU(0.2, True)]
        s += [nn.Conv2d(ndf * k, 1, 4, 1, 1)]
        self.model = nn.Sequential(*s)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, inc, ndf, norm):
        super().__init__()
        bias = uses_bias(norm)
        self.net = nn.Sequential(nn.Conv2d(inc, ndf, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm(ndf * 2), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x):
        return self.net(x)


def build(spec):
    norm = norm_layer(spec["norm"])
    net = spec["net"]
    if net.startswith("resnet_"):
        return ResnetGenerator(spec["in"], spec["out"], spec["nf"], norm, spec["dropout"], int(net[7:-6]))
    if net.startswith("unet_"):
        return UnetGenerator(spec["in"], spec["out"], int(np.log2(int(net[5:]))), spec["nf"], norm, spec["dropout"])
    if net == "basic":
        return NLayerDiscriminator(spec["in"], spec["nf"], 3, norm)
    if net == "n_layers":
        return NLayerDiscriminator(spec["in"], spec["nf"], spec["layers"], norm)
    if net == "pixel":
        return PixelDiscriminator(spec["in"], spec["nf"], norm)
    raise ValueError(net)


def main():
    spec = json.loads(sys.argv[1])
    net = build(spec)
    net.load_state_dict(torch.load(sys.argv[2], weights_only=True), strict=True)
    net.eval()
    x = torch.from_numpy(np.load(sys.argv[3]))
    with torch.no_grad():
        y = net(x)
    np.save(sys.argv[4], y.numpy())


if __name__ == "__main__":
    main()
