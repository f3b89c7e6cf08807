"""PyTorch side of `bench -suite iter`: full optimize_parameters() iterations
of the reference's cycle_gan and pix2pix models (default networks, batch 1,
in-memory data), with the networks built by networks/testdata/refnets.py.
Prints JSON with per-iteration seconds and peak RSS.

usage: iter.py MODEL SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16]
"""
import argparse
import contextlib
import itertools
import json
import os
import resource
import sys
import time

import torch

try:
    import numpy  # noqa: F401
except ImportError:
    # refnets imports NumPy for its command line and np.log2; a bare
    # PyTorch environment (the GPU machine's) may not have it.
    import math
    import types
    sys.modules["numpy"] = types.SimpleNamespace(log2=math.log2)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "networks", "testdata"))
import refnets  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("size", type=int)
ap.add_argument("steps", type=int)
ap.add_argument("threads", type=int)
ap.add_argument("--device", default="cpu")
ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
args = ap.parse_args()
model, size, steps, threads, dev = args.model, args.size, args.steps, args.threads, torch.device(args.device)
torch.set_num_threads(threads)
torch.manual_seed(0)
if dev.type == "cuda":
    torch.backends.cudnn.benchmark = True


def autocast():
    """The whole iteration under autocast, as cyclepix's train loop runs optimize_parameters()."""
    if args.precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(dev.type, dtype=torch.bfloat16 if args.precision == "bf16" else torch.float16)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


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

times = []
for i in range(steps + 1):
    t = time.perf_counter()
    with autocast():
        step()
    sync()
    if i >= 1:
        times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
