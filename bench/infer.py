"""PyTorch side of `bench -suite infer`: one generator translating images
(batch 1, no autograd, as the reference's test.py with --model test), the
network built by networks/testdata/refnets.py. Prints JSON with per-image
seconds and peak RSS.

usage: infer.py NETG SIZE STEPS THREADS [--device cpu|cuda|cuda:N] [--precision fp32|bf16|fp16]
"""
import argparse
import contextlib
import json
import os
import resource
import sys
import time

import torch

try:
    import numpy  # noqa: F401
except ImportError:
    import math
    import types
    sys.modules["numpy"] = types.SimpleNamespace(log2=math.log2)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "networks", "testdata"))
import refnets  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("netG")
ap.add_argument("size", type=int)
ap.add_argument("steps", type=int)
ap.add_argument("threads", type=int)
ap.add_argument("--device", default="cpu")
ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
args = ap.parse_args()
dev = torch.device(args.device)
torch.set_num_threads(args.threads)
torch.manual_seed(0)
if dev.type == "cuda":
    torch.backends.cudnn.benchmark = True

norm = "batch" if args.netG.startswith("unet") else "instance"
g = refnets.build({"net": args.netG, "in": 3, "out": 3, "nf": 64, "norm": norm, "dropout": False}).to(dev)
for p in g.parameters():
    torch.nn.init.normal_(p, 0, 0.02)
g.eval()
x = (torch.rand(1, 3, args.size, args.size) * 2 - 1).to(dev)


def autocast():
    if args.precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(dev.type, dtype=torch.bfloat16 if args.precision == "bf16" else torch.float16)


times = []
with torch.no_grad(), autocast():
    for i in range(args.steps + 1):
        t = time.perf_counter()
        y = g(x).float()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= 1:
            times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
