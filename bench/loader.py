"""Python side of `bench -suite loader`: tifffile and NumPy reading the
same multi-channel 16-bit TIFF files as cyclepix and mapping them by the
same range to [-1, 1] float32 (C, H, W) arrays. Prints JSON with per-image
seconds of each timed pass, peak RSS (VmHWM), RSS before the first file, a
checksum of the first image's array and the versions used. No torch: the
work is tifffile's and NumPy's alone.

usage: loader.py DIR LO HI STEPS THREADS [--device D] [--precision P]
           (the device and precision are accepted and ignored: CPU, float32)
       loader.py compress zlib|zlib-pred SRC DST
           (rewrites SRC's TIFF files into DST with tifffile's deflate,
           zlib-pred with the horizontal predictor too)
"""
import glob
import json
import os
import sys
import time

import numpy as np
import tifffile


def vm_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == key:
                return int(v.split()[0])
    return 0


def compress(kind, src, dst):
    os.makedirs(dst, exist_ok=True)
    for p in sorted(glob.glob(os.path.join(src, "*.tif"))):
        a = tifffile.imread(p)
        tifffile.imwrite(os.path.join(dst, os.path.basename(p)), a, photometric="minisblack",
                         compression="zlib", predictor=(kind == "zlib-pred"))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "compress":
        compress(*sys.argv[2:])
        return
    d, lo, hi, steps, threads = sys.argv[1:6]
    lo, hi, steps, threads = float(lo), float(hi), int(steps), int(threads)
    files = sorted(glob.glob(os.path.join(d, "*.tif")))
    if not files:
        sys.exit("loader.py: no .tif file in " + d)
    base = vm_kb("VmRSS")

    def load(p):
        # tifffile decodes a file's pages on maxworkers threads; NumPy's
        # element-wise operations run on one. In place, as a careful
        # loader would write it.
        x = tifffile.imread(p, maxworkers=threads).astype(np.float32)
        x -= lo
        x /= hi - lo
        np.clip(x, 0, 1, out=x)
        x *= 2
        x -= 1
        return x

    first = load(files[0])
    assert first.dtype == np.float32 and first.ndim == 3, (first.dtype, first.shape)
    check = [float(np.sum(first, dtype=np.float64)), float(np.sum(np.square(first, dtype=np.float64)))]
    del first
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        for p in files:
            load(p)
        if i >= 1:
            times.append((time.perf_counter() - t) / len(files))
    print(json.dumps({"times": times, "peak_rss_kb": vm_kb("VmHWM"), "base_rss_kb": base, "check": check,
                      "engine": "Python %d.%d, tifffile %s, NumPy %s" % (sys.version_info[0], sys.version_info[1],
                                                                        tifffile.__version__, np.__version__)}))


main()
