"""PyTorch side of `bench -suite iter`: full optimize_parameters() iterations
of the reference's cycle_gan and pix2pix models (default networks, batch 1,
in-memory data), with the networks built by networks/testdata/refnets.py.
Prints JSON with per-iteration seconds and peak RSS.

usage: iter.py MODEL SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16]
"""
import itertools

import torch

import side

args = side.parse(("model", str), ("size", int))
model, size, dev = args.model, args.size, args.dev
refnets = side.refnets()


def init(net):
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(m.weight, 0, 0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1, 0.02)
            torch.nn.init.zeros_(m.bias)
    return net.to(dev).train()


def net(spec):
    return init(refnets.build(spec))


def requires_grad(nets, flag):
    for n in nets:
        for p in n.parameters():
            p.requires_grad = flag


mse, l1, bce = torch.nn.MSELoss(), torch.nn.L1Loss(), torch.nn.BCEWithLogitsLoss()


def gan(loss, pred, real):
    return loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


a = (torch.rand(1, 3, size, size) * 2 - 1).to(dev)
b = (torch.rand(1, 3, size, size) * 2 - 1).to(dev)
if model == "cycle_gan":
    G = dict(norm="instance", dropout=False, **{"in": 3, "out": 3, "nf": 64, "net": "resnet_9blocks"})
    D = dict(norm="instance", **{"in": 3, "nf": 64, "net": "basic"})
    GA, GB, DA, DB = net(G), net(G), net(D), net(D)
    optG = torch.optim.Adam(itertools.chain(GA.parameters(), GB.parameters()), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(itertools.chain(DA.parameters(), DB.parameters()), lr=2e-4, betas=(0.5, 0.999))

    def step():
        fake_b = GA(a); rec_a = GB(fake_b); fake_a = GB(b); rec_b = GA(fake_a)
        requires_grad([DA, DB], False)
        optG.zero_grad()
        idt_a = GA(b); idt_b = GB(a)
        loss = (gan(mse, DA(fake_b), True) + gan(mse, DB(fake_a), True) + l1(rec_a, a) * 10 + l1(rec_b, b) * 10
                + l1(idt_a, b) * 10 * 0.5 + l1(idt_b, a) * 10 * 0.5)
        loss.backward()
        optG.step()
        requires_grad([DA, DB], True)
        optD.zero_grad()
        for d, real, fake in ((DA, b, fake_b), (DB, a, fake_a)):
            ((gan(mse, d(real), True) + gan(mse, d(fake.detach()), False)) * 0.5).backward()
        optD.step()
else:
    G = net(dict(norm="batch", dropout=True, **{"in": 3, "out": 3, "nf": 64, "net": "unet_%d" % size}))
    D = net(dict(norm="batch", **{"in": 6, "nf": 64, "net": "basic"}))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        fake_b = G(a)
        requires_grad([D], True)
        optD.zero_grad()
        fake_ab = torch.cat((a, fake_b), 1)
        ((gan(bce, D(fake_ab.detach()), False) + gan(bce, D(torch.cat((a, b), 1)), True)) * 0.5).backward()
        optD.step()
        requires_grad([D], False)
        optG.zero_grad()
        (gan(bce, D(fake_ab), True) + l1(fake_b, b) * 100).backward()
        optG.step()

side.timed(args, step, warmup=1)
