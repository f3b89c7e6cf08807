"""What the PyTorch sides of bench (gstep.py, iter.py, infer.py) share: the
command line `... STEPS THREADS [--device D] [--precision P]`, torch's set-up,
the timed loop under autocast with its JSON report (per-step seconds, peak
RSS and, when the step was counted, its convolution FLOPs), and
networks/testdata/refnets.py, cutnets.py and parity/testdata/hd_ref.py
importable without NumPy."""
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


def parse(*positional, options=()):
    """Parses the positional (name, type) arguments, then STEPS THREADS and
    the options (with the script's own, (flag, type, default) in options);
    sets the thread count, the seed and cuDNN's autotuner. The device is
    args.dev."""
    ap = argparse.ArgumentParser()
    for name, typ in positional:
        ap.add_argument(name, type=typ)
    for flag, typ, default in options:
        ap.add_argument(flag, type=typ, default=default)
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


def _testdata(pkg="networks"):
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", pkg, "testdata")
    if d not in sys.path:
        sys.path.insert(0, d)


def _numpy():
    """NumPy, or where it is missing (the GPU machine's bare PyTorch) a
    stand-in with the np.log2 refnets needs: the scripts here use none of
    the rest."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        sys.modules["numpy"] = types.SimpleNamespace(log2=math.log2)


def refnets():
    """The reference's networks. refnets imports NumPy for its command line
    and np.log2 only; a bare PyTorch environment (the GPU machine's) may
    not have it."""
    _numpy()
    _testdata()
    import refnets as r
    return r


def cutnets():
    """CUT's networks and PatchNCE loss (networks/testdata/cutnets.py, which
    needs NumPy only for its own command line)."""
    _testdata()
    import cutnets as c
    return c


def hdref():
    """pix2pixHD's networks and losses (parity/testdata/hd_ref.py, which
    needs NumPy only for its cross-check)."""
    _numpy()
    _testdata("parity")
    import hd_ref as h
    return h


class FLOPCounter:
    """Counts what cyclepix's nn.CountFLOPs counts, for the check that both
    sides of a benchmark do the same work: the convolutions' FLOPs (a
    multiply-add is 2) forward, plus the backward passes autograd will run
    for them: the input gradient where the input requires one, the weight
    gradient where the weight does. It hooks every Conv2d and ConvTranspose2d
    of the modules and the classes in extra, a dict {class: macs(module,
    input, output)} for modules that convolve functionally (cutnets' Blur
    and BlurUp, with fixed filters).

    Inside extra_work(), the weight-gradient FLOPs of the convolutions run
    are also booked in self.extra: work the reference does by design that
    cyclepix leaves out (pix2pixHD's G pass fills D's weight gradients,
    which its D step zeroes), counted in flops as well."""

    def __init__(self, modules, extra=None):
        self.flops, self.extra, self.hooks, self._in_extra = 0, 0, [], False
        extra = extra or {}
        for root in modules:
            for m in root.modules():
                if isinstance(m, torch.nn.Conv2d):
                    macs = lambda m, x, y: y.numel() * m.weight.shape[1:].numel()
                elif isinstance(m, torch.nn.ConvTranspose2d):
                    macs = lambda m, x, y: x.numel() * m.weight.shape[1:].numel()
                elif type(m) in extra:
                    macs = extra[type(m)]
                else:
                    continue
                self.hooks.append(m.register_forward_hook(self._hook(macs)))

    def _hook(self, macs):
        def hook(m, inputs, output):
            x = inputs[0]
            n = 2 * macs(m, x, output)
            w = getattr(m, "weight", None)
            if torch.is_grad_enabled():
                wg = w is not None and w.requires_grad
                n += 2 * macs(m, x, output) * (int(x.requires_grad) + int(wg))
                if wg and self._in_extra:
                    self.extra += 2 * macs(m, x, output)
            self.flops += n
        return hook

    @contextlib.contextmanager
    def extra_work(self):
        self._in_extra = True
        try:
            yield
        finally:
            self._in_extra = False

    def remove(self):
        for h in self.hooks:
            h.remove()


def timed(args, step, warmup, counter=None):
    """Runs step warmup + args.steps times, each whole under autocast (as
    cyclepix's bench and train loop run theirs) and synchronised on CUDA,
    and prints the timed ones' seconds and the peak RSS as JSON. A
    FLOPCounter counts the first (warm-up) step and is removed after it;
    its count goes in as "flops" (and its extra_work() as "flops_extra")."""
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
        if counter is not None and i == 0:
            counter.remove()
    out = {"times": times, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if counter is not None:
        out["flops"] = counter.flops
        if counter.extra:
            out["flops_extra"] = counter.extra
    print(json.dumps(out))
