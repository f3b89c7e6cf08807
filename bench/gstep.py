"""PyTorch side of bench: one training step (forward, L1 loss, backward,
Adam) of the reference ResNet-9 generator, written like the reference's
networks.py. Prints JSON with per-step seconds and peak RSS.

usage: gstep.py SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16]
"""
import torch
import torch.nn as nn

import side

args = side.parse(("size", int))
size, dev = args.size, args.dev


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


def resnet9(ngf=64):
    m = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=True), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(2):
        mult = 2 ** i
        m += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=True), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
    m += [ResnetBlock(ngf * 4) for _ in range(9)]
    for i in range(2):
        mult = 2 ** (2 - i)
        m += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=True),
              nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
    m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*m)


g = resnet9()
for p in g.parameters():
    nn.init.normal_(p, 0, 0.02)
g.to(dev)
opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
x = (torch.rand(1, 3, size, size) * 2 - 1).to(dev)
y = (torch.rand(1, 3, size, size) * 2 - 1).to(dev)


def step():
    opt.zero_grad()
    loss = (g(x) - y).abs().mean()
    loss.backward()
    opt.step()


side.timed(args, step, warmup=2)
