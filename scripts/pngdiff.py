"""Compares the PNG images of two folders (same names) and prints the mean
and largest difference in 8-bit levels per image and over all; Python's
standard library only (the GPU machine has no Pillow).

usage: pngdiff.py DIR_A DIR_B [MAX_MEAN]   (exit 1 if the overall mean > MAX_MEAN, default 2)
"""
import os
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(path + ": not a PNG")
    pos, idat, head = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = head
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("%s: only 8-bit non-interlaced gray/RGB(A) PNGs" % path)
    raw = zlib.decompress(b"".join(idat))
    bpp, stride = channels, w * channels
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        out += line
        prev = line
    return (w, h, channels), out


def main():
    a, b = sys.argv[1], sys.argv[2]
    max_mean = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    names = sorted(n for n in os.listdir(a) if n.endswith(".png") and os.path.exists(os.path.join(b, n)))
    if not names:
        print("no PNG in common between", a, "and", b)
        return 1
    total, count, worst, per = 0, 0, 0, []
    for n in names:
        sa, pa = read_png(os.path.join(a, n))
        sb, pb = read_png(os.path.join(b, n))
        if sa != sb:
            print("%s: shapes differ %s %s" % (n, sa, sb))
            return 1
        d = [abs(x - y) for x, y in zip(pa, pb)]
        total += sum(d)
        count += len(d)
        worst = max(worst, max(d))
        per.append((sum(d) / len(d), max(d), n))
    for m, mx, n in sorted(per, reverse=True)[:3]:
        print("%-40s mean %.3f max %d" % (n, m, mx))
    mean = total / count
    print("%d images: mean |difference| %.4f levels, max %d (limit on the mean %.1f)" % (len(names), mean, worst, max_mean))
    return 0 if mean <= max_mean else 1


if __name__ == "__main__":
    sys.exit(main())
