#!/usr/bin/env python3
"""Where one image's inference time goes, per generator (README, "Speed").

usage: python3 scripts/infer_profile.py BENCH NETG:SIZE [NETG:SIZE ...]

BENCH is a built bench program (go build -o /tmp/bench ./bench). For each
configuration it runs `BENCH -infer NETG:SIZE` twice with ONEDNN_VERBOSE=1,
for 1 and for 4 timed images after the warm-up, and takes the difference of
oneDNN's own per-primitive times over the 3 extra images, so that the
warm-up's one-off work (primitive creation, weights laid out for the
prepacked path) does not count. The rest of the median image time is spent
outside oneDNN: ATen's element-wise ops (norms, activations, padding,
concatenations, the anti-aliasing filters), allocation and dispatch.

Weight re-layouts are the reorders whose memory formats block the output-
channel dimension (an upper-case A in oneDNN's tag, as in OIhw8i8o's
ABcd8b8a); activation re-layouts are the others. The shim's own AVX2
Winograd convolutions (torch/shim_wino.cpp) log their calls in the same
format as primitive "cyclepix_winograd" and have a column of their own.
"""
import json
import os
import statistics
import subprocess
import sys

KINDS = ("convolution", "shim Winograd", "deconvolution", "weight reorders", "activation reorders", "other oneDNN")


def run(bench, spec, steps):
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run([bench, "-infer", spec, "-steps", str(steps)], env=env, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    ms = dict.fromkeys(KINDS, 0.0)
    result = None
    for line in out.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            continue
        f = line.split(",")
        if len(f) < 5 or f[0] != "onednn_verbose" or f[1] != "exec":
            continue
        prim, t = f[3], float(f[-1])
        if prim in ("convolution", "deconvolution"):
            ms[prim] += t
        elif prim == "cyclepix_winograd":
            ms["shim Winograd"] += t
        elif prim == "reorder":
            fmt = f[6] if len(f) > 6 else ""
            tags = [part.split("::blocked:")[-1].split(":")[0] for part in fmt.split()]
            weights = any("A" in tag for tag in tags)
            ms["weight reorders" if weights else "activation reorders"] += t
        else:
            ms["other oneDNN"] += t
    if result is None:
        sys.exit(f"infer_profile: {spec}: no JSON result from {bench}")
    return ms, result


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    bench = sys.argv[1]
    head = ["generator", "size", "ms/image"] + list(KINDS) + ["outside oneDNN"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for spec in sys.argv[2:]:
        one, _ = run(bench, spec, 1)
        four, res = run(bench, spec, 4)
        wall = statistics.median(res["times"]) * 1000
        per = {k: (four[k] - one[k]) / 3 for k in KINDS}
        outside = wall - sum(per.values())
        net, size = spec.split(":")
        cells = [net, size, f"{wall:.0f}"] + [f"{100 * per[k] / wall:.0f} %" for k in KINDS]
        cells.append(f"{100 * outside / wall:.0f} %")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
