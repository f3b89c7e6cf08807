"""What the PyTorch sides of bench (gstep.py, iter.py, infer.py) share: the
command line `... STEPS THREADS [--device D] [--precision P]`, torch's set-up,
the timed loop under autocast with its JSON report (per-step seconds and
peak RSS), and networks/testdata/refnets.py importable without NumPy."""
import argparse
import contextlib
import json
import math
import os
import resource
import sys
import time
import types

import torch


def parse(*positional):
    """Parses the positional (name, type) arguments, then STEPS THREADS and
    the options; sets the thread count, the seed and cuDNN's autotuner.
    The device is args.dev."""
    ap = argparse.ArgumentParser()
    for name, typ in positional:
        ap.add_argument(name, type=typ)
    ap.add_argument("steps", type=int)
    ap.add_argument("threads", type=int)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    args = ap.parse_args()
    args.dev = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return args


def refnets():
    """The reference's networks. refnets imports NumPy for its command line
    and np.log2 only; a bare PyTorch environment (the GPU machine's) may
    not have it."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        sys.modules["numpy"] = types.SimpleNamespace(log2=math.log2)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "networks", "testdata"))
    import refnets as r
    return r


def timed(args, step, warmup):
    """Runs step warmup + args.steps times, each whole under autocast (as
    cyclepix's bench and train loop run theirs) and synchronised on CUDA,
    and prints the timed ones' seconds and the peak RSS as JSON."""
    def autocast():
        if args.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(args.dev.type, dtype=torch.bfloat16 if args.precision == "bf16" else torch.float16)

    times = []
    for i in range(args.steps + warmup):
        t = time.perf_counter()
        with autocast():
            step()
        if args.dev.type == "cuda":
            torch.cuda.synchronize(args.dev)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    print(json.dumps({"times": times, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
