"""Writes image files in every variant the reference's loader meets, and
what Pillow makes of each, for data's TestDecodeMatchesPillow.

usage: pillow_corpus.py OUTDIR

For each file OUTDIR/<name> the manifest OUTDIR/manifest.json lists what
Image.open(f).convert('RGB') gave (OUTDIR/<name>.rgb, raw bytes) and
.convert('RGB').convert('L') (OUTDIR/<name>.l), or the error Pillow raised.
Photographs come from scikit-image's sample images. JPEG variants that
Pillow cannot write (4:4:0, restart markers, arithmetic coding, RGB colour
space) are written by libjpeg-turbo's cjpeg; PNGs with chosen chunks are
written by hand.
"""

import io
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import skimage.data
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
manifest = []


def record(name, data):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(data)
    entry = {"file": name}
    try:
        with Image.open(path) as im:
            entry["pillow_mode"] = im.mode
            rgb = im.convert("RGB")
        entry["size"] = list(rgb.size)
        with open(path + ".rgb", "wb") as f:
            f.write(rgb.tobytes())
        with open(path + ".l", "wb") as f:
            f.write(rgb.convert("L").tobytes())
    except Exception as e:  # what the reference would die with
        entry["error"] = f"{type(e).__name__}: {e}"
    manifest.append(entry)


def pil_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def cjpeg(im, *args):
    ppm = pil_bytes(im, "PPM")
    return subprocess.run(["cjpeg", *args], input=ppm, stdout=subprocess.PIPE, check=True).stdout


photos = {
    "astronaut": Image.fromarray(skimage.data.astronaut()),
    "chelsea": Image.fromarray(skimage.data.chelsea()),
    "coffee": Image.fromarray(skimage.data.coffee()),
}
camera = Image.fromarray(skimage.data.camera())
# Crops at sizes that exercise partial MCUs and edge upsampling.
crops = {
    "256": photos["astronaut"].crop((100, 60, 356, 316)),
    "odd": photos["chelsea"].crop((3, 5, 3 + 97, 5 + 61)),
    "tall": photos["coffee"].crop((200, 10, 217, 10 + 143)),
    "tiny": photos["coffee"].crop((300, 200, 301, 201)),
    "row": photos["astronaut"].crop((0, 300, 255, 301)),
}

# ---- JPEG: what Pillow writes ----
for cname, im in crops.items():
    for q in (95, 75):
        for sub, label in ((0, "444"), (1, "422"), (2, "420")):
            record(f"jpeg_{cname}_q{q}_{label}.jpg", pil_bytes(im, "JPEG", quality=q, subsampling=sub))
big = photos["coffee"]
record("jpeg_photo_progressive.jpg", pil_bytes(big, "JPEG", quality=90, progressive=True))
record("jpeg_photo_optimized.jpg", pil_bytes(big, "JPEG", quality=90, optimize=True))
record("jpeg_photo_full.jpg", pil_bytes(big, "JPEG", quality=85))
record("jpeg_grey.jpg", pil_bytes(camera.crop((0, 0, 203, 157)), "JPEG", quality=90))
record("jpeg_grey_progressive.jpg", pil_bytes(camera, "JPEG", quality=80, progressive=True))
cmyk = crops["odd"].convert("CMYK")
cmyk_jpeg = pil_bytes(cmyk, "JPEG", quality=90)
record("jpeg_cmyk.jpg", cmyk_jpeg)
# YCCK: the same scans under an Adobe marker that says transform 2, so
# libjpeg converts them from YCC (a valid file of that colour space).
i = cmyk_jpeg.index(b"Adobe")
ycck = bytearray(cmyk_jpeg)
ycck[i + 11] = 2
record("jpeg_ycck.jpg", bytes(ycck))
exif = Image.Exif()
exif[0x0112] = 6  # rotate 90 CW to view: Pillow's open() ignores it
record("jpeg_exif_orientation6.jpg", pil_bytes(crops["odd"], "JPEG", quality=90, exif=exif))

# ---- JPEG: what cjpeg writes ----
src = crops["odd"]
record("cjpeg_440.jpg", cjpeg(src, "-quality", "90", "-sample", "1x2"))
record("cjpeg_411.jpg", cjpeg(src, "-quality", "90", "-sample", "4x1"))
record("cjpeg_restart.jpg", cjpeg(photos["chelsea"], "-quality", "85", "-restart", "1"))
record("cjpeg_restart_rows.jpg", cjpeg(src, "-quality", "85", "-restart", "2B", "-sample", "2x2"))
record("cjpeg_arithmetic.jpg", cjpeg(src, "-quality", "90", "-arithmetic"))
record("cjpeg_rgb.jpg", cjpeg(src, "-quality", "90", "-rgb"))
record("cjpeg_progressive_optimize.jpg", cjpeg(photos["chelsea"], "-quality", "70", "-progressive", "-optimize"))
record("cjpeg_smooth.jpg", cjpeg(src, "-quality", "50", "-smooth", "30", "-dct", "float"))

# ---- JPEG: damaged files ----
good = pil_bytes(crops["256"], "JPEG", quality=90)
record("bad_truncated_half.jpg", good[: len(good) // 2])
record("bad_truncated_header.jpg", good[:200])
record("bad_no_eoi.jpg", good[:-2])  # complete scan data, no EOI: Pillow decodes it
prog = pil_bytes(crops["256"], "JPEG", quality=90, progressive=True)
record("bad_truncated_progressive.jpg", prog[: len(prog) * 3 // 4])
sos = good.index(b"\xff\xda")
# Garbage before a marker inside the scan: libjpeg warns and recovers.
j = good.index(b"\xff\xd9")
record("bad_extraneous_bytes.jpg", good[:j] + b"\x12\x34\x56" + good[j:])
twelve = bytearray(good)
sof = good.index(b"\xff\xc0")
twelve[sof + 4] = 12
record("bad_12bit.jpg", bytes(twelve))
scrambled = bytearray(good)
for k in range(sos + 400, sos + 480):
    scrambled[k] = (scrambled[k] * 7 + 13) & 0xFF
record("bad_scrambled_scan.jpg", bytes(scrambled))


# ---- PNG: what Pillow writes ----
def gradient(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return x, y


x, y = gradient(23, 17)
rgba = np.dstack([x * 11 % 256, y * 15 % 256, (x * y) % 256, (x * 40 + y * 3) % 256]).astype(np.uint8)
record("png_rgb.png", pil_bytes(crops["odd"], "PNG"))
record("png_rgba.png", pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))
record("png_la.png", pil_bytes(Image.fromarray(rgba[:, :, :2].copy(), "LA"), "PNG"))
record("png_l.png", pil_bytes(camera.crop((0, 0, 31, 29)), "PNG"))
record("png_1.png", pil_bytes(camera.crop((0, 0, 31, 29)).convert("1"), "PNG"))
pal = crops["odd"].convert("P", palette=Image.ADAPTIVE, colors=40)
record("png_p.png", pil_bytes(pal, "PNG"))
record("png_p_transparency.png", pil_bytes(pal, "PNG", transparency=3))
i16 = Image.fromarray((x * 2900 + y * 37).astype(np.uint16))
record("png_i16.png", pil_bytes(i16, "PNG"))


# ---- PNG: chunks chosen by hand ----
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(w, h, depth, ctype, rows, extra=b""):
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


w, h = 19, 7
r16 = lambda a: [a[i].astype(">u2").tobytes() for i in range(h)]
x, y = gradient(w, h)
v16 = (x * 3301 + y * 157 + 200).astype(np.uint16)
record("png16_grey.png", png(w, h, 16, 0, r16(v16)))
record("png16_grey_trns.png", png(w, h, 16, 0, r16(v16), chunk(b"tRNS", struct.pack(">H", int(v16[0, 3])))))
record("png16_ga.png", png(w, h, 16, 4, r16(np.dstack([v16, 65535 - v16]).reshape(h, w * 2))))
c16 = np.dstack([v16, 65535 - v16, (v16 * 7) & 0xFFFF]).astype(np.uint16)
record("png16_rgb.png", png(w, h, 16, 2, r16(c16.reshape(h, w * 3))))
record("png16_rgb_trns.png", png(w, h, 16, 2, r16(c16.reshape(h, w * 3)), chunk(b"tRNS", c16[0, 0].astype(">u2").tobytes())))
c16a = np.dstack([c16, v16]).astype(np.uint16)
record("png16_rgba.png", png(w, h, 16, 6, r16(c16a.reshape(h, w * 4))))
# 2- and 4-bit greyscale: rows packed MSB first.
def pack(vals, bits):
    """Packs one row of samples MSB first, padding the row to a byte."""
    out, acc, n = bytearray(), 0, 0
    for v in vals:
        acc, n = (acc << bits) | int(v), n + bits
        while n >= 8:
            out.append((acc >> (n - 8)) & 0xFF)
            n -= 8
    if n:
        out.append((acc << (8 - n)) & 0xFF)
    return bytes(out)


for bits in (2, 4):
    vals = (x + y) % (1 << bits)
    record(f"png_grey{bits}.png", png(w, h, bits, 0, [pack(vals[i], bits) for i in range(h)]))
# A palette of 5 entries with pixels that index past it: Pillow's default
# palette (a grey ramp) fills in.
plte = bytes([10, 20, 30, 200, 100, 50, 0, 0, 255, 255, 255, 255, 1, 2, 3])
idx = ((x * 7 + y * 3) % 40).astype(np.uint8)
record("png_p_short_palette.png", png(w, h, 8, 3, [idx[i].tobytes() for i in range(h)], chunk(b"PLTE", plte)))
record("png_p_trns.png", png(w, h, 8, 3, [(idx[i] % 5).tobytes() for i in range(h)], chunk(b"PLTE", plte) + chunk(b"tRNS", bytes([0, 128, 255]))))
record("png_p4.png", png(w, h, 4, 3, [pack(idx[i] % 5, 4) for i in range(h)], chunk(b"PLTE", plte)))
record("png_grey_trns.png", png(w, h, 8, 0, [((x[i] * 13) % 256).astype(np.uint8).tobytes() for i in range(h)], chunk(b"tRNS", b"\x00\x0d")))
record("png_rgb_gamma.png", png(w, h, 8, 2, [rgba[i, :w, :3].tobytes() for i in range(h)], chunk(b"gAMA", struct.pack(">I", 100000))))
full = pil_bytes(crops["odd"], "PNG")
record("bad_png_truncated.png", full[: len(full) // 2])

# ---- BMP, TIFF, PPM ----
for mode in ("1", "L", "P", "RGB", "RGBA"):
    im = crops["odd"].convert(mode) if mode != "P" else pal
    record(f"bmp_{mode}.bmp", pil_bytes(im, "BMP"))
tif_modes = {
    "1": camera.crop((0, 0, 45, 33)).convert("1"),
    "L": camera.crop((0, 0, 45, 33)),
    "LA": Image.fromarray(rgba[:, :, :2].copy(), "LA"),
    "P": pal,
    "RGB": crops["odd"],
    "RGBA": Image.fromarray(rgba, "RGBA"),
    "CMYK": cmyk,
    "I;16": i16,
    "I": Image.fromarray((x * 70001 - 50000).astype(np.int32)),
    "F": Image.fromarray((x * 13.37 - y * 2.5).astype(np.float32)),
}
for mode, im in tif_modes.items():
    for comp in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits"):
        if mode == "1" and comp == "packbits":
            continue
        record(f"tiff_{mode.replace(';', '')}_{comp}.tif", pil_bytes(im, "TIFF", compression=comp))
record("tiff_RGB_jpeg.tif", pil_bytes(crops["odd"], "TIFF", compression="jpeg", quality=90))
record("tiff_L_jpeg.tif", pil_bytes(camera.crop((0, 0, 45, 33)), "TIFF", compression="jpeg"))



# TIFF layouts Pillow does not write: by tiffcp (libtiff-tools), and
# uncompressed files with chosen tags written by hand.
def tiffcp(name, src, *args):
    path = os.path.join(out, name)
    subprocess.run(["tiffcp", *args, os.path.join(out, src), path], check=True, stderr=subprocess.DEVNULL)
    with open(path, "rb") as f:
        record(name, f.read())


tiffcp("tiffcp_ycbcr_jpeg.tif", "tiff_RGB_raw.tif", "-c", "jpeg", "-r", "16")
tiffcp("tiffcp_tiled_rgb.tif", "tiff_RGB_raw.tif", "-t", "-w", "16", "-l", "16")
tiffcp("tiffcp_tiled_lzw_l.tif", "tiff_L_raw.tif", "-t", "-w", "32", "-l", "16", "-c", "lzw")
tiffcp("tiffcp_separate_rgb.tif", "tiff_RGB_raw.tif", "-p", "separate")
tiffcp("tiffcp_separate_rgba.tif", "tiff_RGBA_raw.tif", "-p", "separate", "-c", "zip")
tiffcp("tiffcp_bigendian_i16.tif", "tiff_I16_raw.tif", "-B")
tiffcp("tiffcp_bigendian_f.tif", "tiff_F_raw.tif", "-B")
tiffcp("tiffcp_bigendian_rgb.tif", "tiff_RGB_tiff_lzw.tif", "-B")
tiffcp("tiffcp_lsb2msb_1.tif", "tiff_1_raw.tif", "-f", "lsb2msb")
tiffcp("tiffcp_strips1_rgb.tif", "tiff_RGB_tiff_adobe_deflate.tif", "-r", "1")


def tiff(w, h, spp, bits, photo, data, extra=(), fmt=1, endian="<"):
    """An uncompressed single-strip TIFF with the given layout."""
    entries = [(256, 4, [w]), (257, 4, [h]), (258, 3, [bits] * spp), (259, 3, [1]), (262, 3, [photo]),
               (273, 4, [0]), (277, 3, [spp]), (278, 4, [h]), (279, 4, [len(data)]), (284, 3, [1])]
    if extra:
        entries.append((338, 3, list(extra)))
    if fmt != 1:
        entries.append((339, 3, [fmt] * spp))
    entries.sort()
    size = {3: 2, 4: 4}
    ifd_len = 2 + 12 * len(entries) + 4
    blobs, blob_off = [], 8 + ifd_len
    ifd = struct.pack(endian + "H", len(entries))
    for tag, typ, vals in entries:
        raw = b"".join(struct.pack(endian + ("H" if typ == 3 else "I"), v) for v in vals)
        if len(raw) <= 4:
            ifd += struct.pack(endian + "HHI", tag, typ, len(vals)) + raw.ljust(4, b"\0")
        else:
            ifd += struct.pack(endian + "HHII", tag, typ, len(vals), blob_off)
            blobs.append(raw)
            blob_off += len(raw)
    data_off = blob_off
    ifd = ifd.replace(struct.pack(endian + "HHI", 273, 4, 1) + struct.pack(endian + "I", 0),
                      struct.pack(endian + "HHI", 273, 4, 1) + struct.pack(endian + "I", data_off))
    head = (b"II*\0" if endian == "<" else b"MM\0*") + struct.pack(endian + "I", 8)
    return head + ifd + struct.pack(endian + "I", 0) + b"".join(blobs) + data


tw, th = 13, 5
tx, ty = gradient(tw, th)
t16 = np.dstack([tx * 5003 + ty * 11, 60000 - tx * 4000, (tx * ty * 900) % 65536, 65535 - ty * 9000]).astype(np.uint16)
for endian in ("<", ">"):
    e = "le" if endian == "<" else "be"
    u16 = t16.astype(endian + "u2")
    record(f"hand_rgb16_{e}.tif", tiff(tw, th, 3, 16, 2, u16[:, :, :3].tobytes(), endian=endian))
    record(f"hand_rgba16_{e}.tif", tiff(tw, th, 4, 16, 2, u16.tobytes(), extra=(2,), endian=endian))
    record(f"hand_rgba16_assoc_{e}.tif", tiff(tw, th, 4, 16, 2, u16.tobytes(), extra=(1,), endian=endian))
    record(f"hand_cmyk16_{e}.tif", tiff(tw, th, 4, 16, 5, u16.tobytes(), endian=endian))
    record(f"hand_i16s_{e}.tif", tiff(tw, th, 1, 16, 1, (t16[:, :, 0].astype(np.int32) - 30000).astype(endian + "i2").tobytes(), fmt=2, endian=endian))
    record(f"hand_u32_{e}.tif", tiff(tw, th, 1, 32, 1, (t16[:, :, 0].astype(np.uint32) * 70001).astype(endian + "u4").tobytes(), endian=endian))
    record(f"hand_f32_minwhite_{e}.tif", tiff(tw, th, 1, 32, 0, (tx * 30.7 - 20).astype(endian + "f4").tobytes(), fmt=3, endian=endian))
t8 = (t16 >> 8).astype(np.uint8)
t8[:, :, 3] = np.maximum(t8[:, :, 3], t8[:, :, :3].max(axis=2))  # premultiplied: colour <= alpha
t8[0, 0, 3] = 0
t8[0, 0, :3] = 0
record("hand_rgba8_assoc.tif", tiff(tw, th, 4, 8, 2, t8.tobytes(), extra=(1,)))
record("hand_rgbx8.tif", tiff(tw, th, 4, 8, 2, t8.tobytes(), extra=(0,)))
record("hand_rgb8_2extra.tif", tiff(tw, th, 5, 8, 2, np.dstack([t8, t8[:, :, :1]]).tobytes(), extra=(2, 0)))
record("hand_l8_minwhite.tif", tiff(tw, th, 1, 8, 0, t8[:, :, 0].tobytes()))
record("hand_la8_assoc.tif", tiff(tw, th, 2, 8, 1, t8[:, :, :2].tobytes(), extra=(1,)))
record("hand_l4.tif", tiff(tw, th, 1, 4, 1, b"".join(pack(r, 4) for r in (tx + ty) % 16)))
record("hand_l2_minwhite.tif", tiff(tw, th, 1, 2, 0, b"".join(pack(r, 2) for r in (tx + ty) % 4)))
v12 = ((tx * 300 + ty * 41) % 4096).astype(np.uint16)
record("hand_l12.tif", tiff(tw, th, 1, 12, 1, b"".join(pack(r, 12) for r in v12)))
record("hand_lab.tif", tiff(tw, th, 3, 8, 8, t8[:, :, :3].tobytes()))
record("hand_2samples.tif", tiff(tw, th, 2, 8, 1, t8[:, :, :2].tobytes()))

px = np.asarray(crops["odd"])[:9, :11]
gy = np.asarray(camera)[:9, :11]
for maxval in (255, 15, 6, 2, 1000, 65535):
    if maxval <= 255:
        body = (px.astype(np.uint32) * maxval // 255).astype(np.uint8).tobytes()
        gbody = (gy.astype(np.uint32) * maxval // 255).astype(np.uint8).tobytes()
    else:
        body = (px.astype(np.uint32) * maxval // 255).astype(">u2").tobytes()
        gbody = (gy.astype(np.uint32) * maxval // 255).astype(">u2").tobytes()
    record(f"ppm_p6_{maxval}.ppm", b"P6\n11 9\n%d\n" % maxval + body)
    record(f"ppm_p5_{maxval}.ppm", b"P5 11 9 %d\n" % maxval + gbody)

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
