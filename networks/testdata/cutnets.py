"""Builds CUT's networks and PatchNCE loss (contrastive-unpaired-translation,
models/networks.py, models/patchnce.py, models/cut_model.py; written
independently from their description) in PyTorch, loads the state dicts
cyclepix saved with strict key/shape checking, and saves what they compute.

usage: cutnets.py SPEC_JSON DIR

DIR holds G.pth, D.pth, F.pth and x.npy, src.npy, tgt.npy (float32). The
script writes there: G_out.npy = G(x); feat_<i>.npy = G(x, layers,
encode_only=True)[i]; D_out.npy = D(x); nce.npy = calculate_NCE_loss(src,
tgt) with the patch ids of the spec; and after backward of that loss,
grad_G_<key>.npy and grad_F_<key>.npy for every parameter with a gradient.
Networks run in eval mode (no dropout, batch-norm running statistics).

bench/iter.py imports the networks and the loss from here (bench/side.py's
cutnets()); only main() needs NumPy, and the tensors the loss makes are on
its inputs' device, as in CUT.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def norm_layer(kind):
    if kind == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if kind == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    return lambda c: nn.Identity()


def binomial(k, scale):
    row = torch.tensor([float(math.comb(k - 1, i)) for i in range(k)], dtype=torch.float64)
    f = (row[:, None] * row[None, :]).float()
    return f / torch.sum(f) * scale


class Blur(nn.Module):
    """Downsample: reflection pad, 3x3 binomial blur per channel, stride 2."""

    def __init__(self, c):
        super().__init__()
        self.register_buffer("filt", binomial(3, 1)[None, None].repeat(c, 1, 1, 1))

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class BlurUp(nn.Module):
    """Upsample: replication pad, depthwise transposed conv with 4x4 binomial*4, crop."""

    def __init__(self, c):
        super().__init__()
        self.register_buffer("filt", binomial(4, 4)[None, None].repeat(c, 1, 1, 1))

    def forward(self, x):
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.filt, stride=2, padding=2,
                               groups=x.shape[1])
        return y[:, :, 1:, 1:][:, :, :-1, :-1]


class ResBlock(nn.Module):
    def __init__(self, dim, norm, dropout, bias):
        super().__init__()
        m = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim), nn.ReLU(True)]
        if dropout:
            m.append(nn.Dropout(0.5))
        m += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim)]
        self.conv_block = nn.Sequential(*m)

    def forward(self, x):
        return x + self.conv_block(x)


class Generator(nn.Module):
    def __init__(self, s):
        super().__init__()
        norm, ngf = norm_layer(s["norm"]), s["ngf"]
        bias = s["norm"] == "instance"
        m = [nn.ReflectionPad2d(3), nn.Conv2d(s["in"], ngf, 7, bias=bias), norm(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            if s["no_antialias"]:
                m += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), norm(2 * c), nn.ReLU(True)]
            else:
                m += [nn.Conv2d(c, 2 * c, 3, 1, 1, bias=bias), norm(2 * c), nn.ReLU(True), Blur(2 * c)]
        m += [ResBlock(ngf * 4, norm, s["dropout"], bias) for _ in range(s["blocks"])]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            if s["no_antialias_up"]:
                m += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), norm(c // 2), nn.ReLU(True)]
            else:
                m += [BlurUp(c), nn.Conv2d(c, c // 2, 3, 1, 1, bias=bias), norm(c // 2), nn.ReLU(True)]
        m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, s["out"], 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x, layers=(), encode_only=False):
        if not layers:
            return self.model(x)
        feats = []
        for i, layer in enumerate(self.model):
            x = layer(x)
            if i in layers:
                feats.append(x)  # later in-place layers keep changing this object, as in CUT
            if encode_only and i == layers[-1]:
                return feats
        return x, feats


class Discriminator(nn.Module):
    def __init__(self, s):
        super().__init__()
        norm, ndf, n = norm_layer(s["norm"]), s["ndf"], s["n_layers"]
        bias = s["norm"] == "instance"
        aa = not s["no_antialias"]
        m = [nn.Conv2d(s["in"], ndf, 4, 1 if aa else 2, 1), nn.LeakyReLU(0.2, True)] + ([Blur(ndf)] if aa else [])
        k = 1
        for i in range(1, n):
            p, k = k, min(2 ** i, 8)
            m += [nn.Conv2d(ndf * p, ndf * k, 4, 1 if aa else 2, 1, bias=bias), norm(ndf * k), nn.LeakyReLU(0.2, True)]
            if aa:
                m.append(Blur(ndf * k))
        p, k = k, min(2 ** n, 8)
        m += [nn.Conv2d(ndf * p, ndf * k, 4, 1, 1, bias=bias), norm(ndf * k), nn.LeakyReLU(0.2, True),
              nn.Conv2d(ndf * k, 1, 4, 1, 1)]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x)


def l2norm(x):
    return x.div(x.pow(2).sum(1, keepdim=True).pow(0.5) + 1e-7)


class Sampler(nn.Module):
    """PatchSampleF: same positions for every image, optional MLP heads, L2 norm."""

    def __init__(self, use_mlp, nc, channels):
        super().__init__()
        self.use_mlp = use_mlp
        if use_mlp:
            for i, c in enumerate(channels):
                setattr(self, "mlp_%d" % i, nn.Sequential(nn.Linear(c, nc), nn.ReLU(), nn.Linear(nc, nc)))

    def forward(self, feats, ids):
        out = []
        for i, f in enumerate(feats):
            rows = f.permute(0, 2, 3, 1).flatten(1, 2)[:, torch.tensor(ids[i], dtype=torch.long, device=f.device), :].flatten(0, 1)
            if self.use_mlp:
                rows = getattr(self, "mlp_%d" % i)(rows)
            out.append(l2norm(rows))
        return out


def patch_nce(q, k, T, batch):
    n, dim = q.shape
    k = k.detach()
    pos = torch.bmm(q.view(n, 1, -1), k.view(n, -1, 1)).view(n, 1)
    qb, kb = q.view(batch, -1, dim), k.view(batch, -1, dim)
    p = qb.size(1)
    neg = torch.bmm(qb, kb.transpose(2, 1))
    neg.masked_fill_(torch.eye(p, dtype=torch.bool, device=q.device)[None], -10.0)
    logits = torch.cat((pos, neg.view(-1, p)), dim=1) / T
    return F.cross_entropy(logits, torch.zeros(n, dtype=torch.long, device=q.device), reduction="none")


def main():
    import numpy as np

    spec = json.loads(sys.argv[1])
    d = sys.argv[2]
    load = lambda n: torch.load(os.path.join(d, n), weights_only=True)
    npy = lambda n: torch.from_numpy(np.load(os.path.join(d, n)))
    save = lambda n, t: np.save(os.path.join(d, n), t.detach().numpy())

    g = Generator(spec["G"])
    g.load_state_dict(load("G.pth"), strict=True)
    g.eval()
    dnet = Discriminator(spec["D"])
    dnet.load_state_dict(load("D.pth"), strict=True)
    dnet.eval()
    layers = spec["layers"]
    x = npy("x.npy")
    with torch.no_grad():
        save("G_out.npy", g(x))
        for i, f in enumerate(g(x, layers, encode_only=True)):
            save("feat_%d.npy" % i, f)
        save("D_out.npy", dnet(x))

    c = spec["nce"]
    src, tgt = npy("src.npy"), npy("tgt.npy")
    fq = g(tgt, layers, encode_only=True)
    if c["flipped"]:
        fq = [torch.flip(f, [3]) for f in fq]
    fk = g(src, layers, encode_only=True)
    f = Sampler(spec["F"]["use_mlp"], spec["F"]["nc"], [t.shape[1] for t in fk])
    f.load_state_dict(load("F.pth"), strict=True)
    pk, pq = f(fk, c["ids"]), f(fq, c["ids"])
    total = 0.0
    for q, k in zip(pq, pk):
        batch = 1 if c["all_negatives"] else c["batch_size"]
        total += (patch_nce(q, k, c["T"], batch) * c["lambda"]).mean()
    loss = total / len(layers)
    save("nce.npy", loss.reshape(1))
    loss.backward()
    for prefix, net in (("G", g), ("F", f)):
        for name, p in net.named_parameters():
            if p.grad is not None:
                save("grad_%s_%s.npy" % (prefix, name), p.grad)


if __name__ == "__main__":
    main()
