"""PyTorch side of `bench -suite infer`: one generator translating images
(batch 1, no autograd, as the reference's test.py with --model test), the
network built by networks/testdata/refnets.py. Prints JSON with per-image
seconds and peak RSS.

usage: infer.py NETG SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16]
"""
import torch

import side

args = side.parse(("netG", str), ("size", int))
dev = args.dev
refnets = side.refnets()

norm = "batch" if args.netG.startswith("unet") else "instance"
g = refnets.build({"net": args.netG, "in": 3, "out": 3, "nf": 64, "norm": norm, "dropout": False}).to(dev)
for p in g.parameters():
    torch.nn.init.normal_(p, 0, 0.02)
g.eval()
x = (torch.rand(1, 3, args.size, args.size) * 2 - 1).to(dev)

with torch.no_grad():
    side.timed(args, lambda: g(x).float(), warmup=1)
