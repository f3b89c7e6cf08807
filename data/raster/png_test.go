package raster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

// pngTestRaster is a w×h×c raster of dt with smooth parts (which the
// filters predict) and noise (which they do not), and values beyond the
// type's range in its first row, which writers clip.
func pngTestRaster(w, h, c int, dt DType, seed uint64) *Raster {
	r := New(w, h, c, dt)
	_, hi := dt.Limits()
	rng := rand.New(rand.NewPCG(seed, 11))
	for k := range c {
		p := r.Plane(k)
		for y := range h {
			for x := range w {
				v := float64((x*(k+1)*37 + y*53) % int(hi+1))
				if (x+y)%3 == 0 {
					v = float64(rng.IntN(int(hi) + 1))
				}
				p[y*w+x] = float32(v)
			}
		}
		if len(p) >= 4 {
			p[0], p[1], p[2], p[3] = -7, float32(hi)+100, 2.5, 3.5
		}
	}
	return r
}

// pngTestChunk is one chunk with its CRC.
func pngTestChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// pngTestFile is a PNG of the given header and chunks after it.
func pngTestFile(w, h uint32, depth, colorType byte, chunks ...[]byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colorType, 0, 0, 0)
	b := append([]byte(pngSignature), pngTestChunk("IHDR", ihdr)...)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return append(b, pngTestChunk("IEND", nil)...)
}

func TestPNGRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dt := range []DType{Uint8, Uint16} {
		for c := 1; c <= 4; c++ {
			for _, size := range [][2]int{{1, 1}, {13, 6}, {70, 33}} {
				name := fmt.Sprintf("%v_c%d_%dx%d", dt, c, size[0], size[1])
				r := pngTestRaster(size[0], size[1], c, dt, uint64(c))
				if c == 4 {
					// An opaque alpha channel: still written as RGBA.
					for i := range r.Plane(3) {
						r.Plane(3)[i] = float32(r.DType.Round(1e9))
					}
				}
				path := filepath.Join(dir, name+".png")
				if err := WritePNG(path, r); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if b[24] != byte(8*dt.Size()) || b[25] != pngColorTypes[c] {
					t.Errorf("%s: depth %d colour type %d, want %d %d", name, b[24], b[25], 8*dt.Size(), pngColorTypes[c])
				}
				got, err := DecodePNG(b)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				npyTestSame(t, name, got, size[0], size[1], c, dt, npyTestRounded(r))
				// The standard library's decoder agrees, for what it
				// shows: the colour of pixel (1, 0) or the last one.
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("%s: image/png: %v", name, err)
				}
				x := min(1, size[0]-1)
				n := color.NRGBA64Model.Convert(img.At(x, 0)).(color.NRGBA64)
				grey := r.DType.Round(float64(r.Plane(0)[x]))
				if dt == Uint8 {
					grey *= 257
				}
				if float64(n.R) != grey {
					t.Errorf("%s: image/png reads red %d at (%d, 0), want %v", name, n.R, x, grey)
				}
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 24 {
		t.Errorf("folder holds %d files, want 24 (temporary files left?)", len(ents))
	}
}

// TestDecodePNGGoEncoder reads files that image/png writes, including
// 16-bit RGB and RGBA (which Pillow cannot write), against values computed
// by hand from the pixel formula.
func TestDecodePNGGoEncoder(t *testing.T) {
	const w, h = 11, 7
	val := func(x, y, k int) int { return (x*4099 + y*977 + k*15013 + x*y*31) % 65536 }
	type build func() (image.Image, int, DType, func(x, y, k int) float64)
	for name, b := range map[string]build{
		"rgb16": func() (image.Image, int, DType, func(x, y, k int) float64) {
			m := image.NewRGBA64(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					m.SetRGBA64(x, y, color.RGBA64{uint16(val(x, y, 0)), uint16(val(x, y, 1)), uint16(val(x, y, 2)), 0xffff})
				}
			}
			return m, 3, Uint16, func(x, y, k int) float64 { return float64(val(x, y, k)) }
		},
		"rgba16": func() (image.Image, int, DType, func(x, y, k int) float64) {
			m := image.NewNRGBA64(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					m.SetNRGBA64(x, y, color.NRGBA64{uint16(val(x, y, 0)), uint16(val(x, y, 1)), uint16(val(x, y, 2)), uint16(val(x, y, 3))})
				}
			}
			return m, 4, Uint16, func(x, y, k int) float64 { return float64(val(x, y, k)) }
		},
		"grey16": func() (image.Image, int, DType, func(x, y, k int) float64) {
			m := image.NewGray16(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					m.SetGray16(x, y, color.Gray16{uint16(val(x, y, 0))})
				}
			}
			return m, 1, Uint16, func(x, y, k int) float64 { return float64(val(x, y, 0)) }
		},
		"rgba8": func() (image.Image, int, DType, func(x, y, k int) float64) {
			m := image.NewNRGBA(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					m.SetNRGBA(x, y, color.NRGBA{uint8(val(x, y, 0)), uint8(val(x, y, 1)), uint8(val(x, y, 2)), uint8(val(x, y, 3))})
				}
			}
			return m, 4, Uint8, func(x, y, k int) float64 { return float64(val(x, y, k) % 256) }
		},
		"paletted": func() (image.Image, int, DType, func(x, y, k int) float64) {
			pal := color.Palette{color.RGBA{10, 20, 30, 255}, color.RGBA{200, 100, 0, 255}, color.RGBA{1, 2, 3, 255}}
			m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
			for y := range h {
				for x := range w {
					m.SetColorIndex(x, y, uint8((x+y)%3))
				}
			}
			return m, 3, Uint8, func(x, y, k int) float64 {
				c := pal[(x+y)%3].(color.RGBA)
				return float64([]uint8{c.R, c.G, c.B}[k])
			}
		},
	} {
		img, c, dt, want := b()
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		r, err := DecodePNG(buf.Bytes())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		planar := make([]float64, w*h*c)
		for k := range c {
			for y := range h {
				for x := range w {
					planar[k*w*h+y*w+x] = want(x, y, k)
				}
			}
		}
		npyTestSame(t, name, r, w, h, c, dt, planar)
	}
}

func TestWritePNGErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.png")
	for _, tc := range []struct {
		name string
		r    *Raster
		want []string
	}{
		{"float32", New(2, 2, 1, Float32), []string{"not float32", "tif or npy", "uint8 or uint16 range"}},
		{"int16", New(2, 2, 3, Int16), []string{"not int16", "tif or npy"}},
		{"five channels", New(2, 2, 5, Uint8), []string{"not 5", "tif or npy"}},
		{"short data", &Raster{W: 2, H: 2, C: 1, DType: Uint8, Data: []float32{1}}, []string{"holds 1 values, want 4"}},
		{"nil", nil, []string{"no raster"}},
	} {
		err := WritePNG(p, tc.r)
		if err == nil || !strings.HasPrefix(err.Error(), "write "+p+": ") {
			t.Errorf("%s: error %v, want one naming the file", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files", len(ents))
	}
}

// TestDecodePNGHostile checks truncated, corrupt and oversized files: one
// line errors, no panic, and no allocation of a size only the header
// declares.
func TestDecodePNGHostile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	if err := WritePNG(good, pngTestRaster(9, 5, 4, Uint16, 1)); err != nil {
		t.Fatal(err)
	}
	valid, _ := os.ReadFile(good)
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-13] ^= 1 // the last IDAT's CRC
	idat := func(b []byte) []byte { return pngTestChunk("IDAT", b) }
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "png: "},
		{"not a PNG", []byte("GIF89a......................................"), "png: "},
		{"signature only", []byte(pngSignature), "png: "},
		{"bad CRC", badCRC, "checksum"},
		{"zero width", pngTestFile(0, 5, 8, 0, idat([]byte{1, 2, 3})), "png: "},
		{"bad depth", pngTestFile(2, 2, 7, 0, idat([]byte{1, 2, 3})), "png: "},
		{"huge", pngTestFile(100000, 100000, 16, 6, idat([]byte{1, 2, 3})), "100000×100000: 4 channels of 100000×100000 samples is more than"},
		{"largest", pngTestFile(1<<31-1, 1<<31-1, 8, 0, idat([]byte{1, 2, 3})), "png: "},
		{"large, no data", pngTestFile(40000, 40000, 8, 0, idat([]byte{1, 2, 3})), "40000×40000 image with 3 bytes of compressed data"},
		{"large, cut", pngTestFile(20000, 20000, 8, 2), "with 0 bytes of compressed data"},
	} {
		r, err := DecodePNG(tc.b)
		if err == nil {
			t.Errorf("%s: decoded %s", tc.name, r.Shape())
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "png: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q, want one line starting png: and containing %q", tc.name, msg, tc.want)
		}
	}
	for n := range len(valid) - 12 { // without IEND the data are complete
		if _, err := DecodePNG(valid[:n]); err == nil {
			t.Errorf("file cut to %d of %d bytes decoded", n, len(valid))
		}
	}
}

// pngTestPython is a PNG reader and writer in Python (zlib and numpy), so
// that files Pillow cannot write or read fully (16 bits with more than one
// channel, 2- and 4-bit grey, a tRNS chunk on grey or RGB) are checked
// against a second implementation.
const pngTestPython = `
import struct, zlib
import numpy as np
SIG = b"\x89PNG\r\n\x1a\n"
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}

def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

def png_write(path, a, ct, depth, plte=None, trns=None):
    """a: H x W x samples, written unfiltered."""
    h, w = a.shape[:2]
    raw = bytearray()
    for y in range(h):
        row = a[y].reshape(-1)
        if depth == 16:
            rb = row.astype(">u2").tobytes()
        elif depth == 8:
            rb = row.astype("u1").tobytes()
        else:
            bits = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:]
            rb = np.packbits(bits.reshape(-1)).tobytes()
        raw += b"\0" + rb
    out = SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ct, 0, 0, 0))
    if plte is not None:
        out += chunk(b"PLTE", bytes(plte))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)

def png_read(path):
    """Colour type, depth and the H x W x samples array of a non-interlaced
    8- or 16-bit file, every chunk's CRC checked."""
    data = open(path, "rb").read()
    assert data[:8] == SIG
    pos, idat, names = 8, b"", []
    while True:
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(t + body), t
        pos += 12 + n
        names.append(t)
        if t == b"IHDR":
            w, h, depth, ct, comp, filt, il = struct.unpack(">IIBBBBB", body)
            assert (comp, filt, il) == (0, 0, 0)
        elif t == b"IDAT":
            idat += body
        elif t == b"IEND":
            break
    assert pos == len(data), "bytes after IEND"
    assert names[0] == b"IHDR" and names[-1] == b"IEND"
    s = SAMPLES[ct]
    bpp = s * depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    assert len(raw) == h * (stride + 1)
    out = np.zeros((h, stride), np.int64)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        f = raw[y * (stride + 1)]
        cur = np.frombuffer(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)], np.uint8).astype(np.int64)
        if f == 2:
            cur = (cur + prev) & 255
        elif f in (1, 3, 4):
            cur = cur.copy()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur[i] = (cur[i] + p) & 255
        else:
            assert f == 0, f
        out[y] = cur
        prev = cur
    u8 = out.astype(np.uint8)
    samples = u8.view(">u2") if depth == 16 else u8
    return ct, depth, samples.reshape(h, w, s)
`

// TestPNGPillow checks WritePNG against Pillow and a second PNG reader,
// and DecodePNG against files Pillow and a second PNG writer make: 8-bit
// grey, grey+alpha, RGB, RGBA, palette with and without transparency,
// 1-bit, 16-bit grey (Pillow's I;16), 2- and 4-bit grey, 16-bit grey+alpha,
// RGB and RGBA, and tRNS on grey and RGB.
func TestPNGPillow(t *testing.T) {
	testsupport.NeedPythonLong(t, "numpy", "PIL.Image")
	dir := t.TempDir()
	var args []string
	for _, dt := range []DType{Uint8, Uint16} {
		for c := 1; c <= 4; c++ {
			for _, size := range [][2]int{{13, 6}, {40, 30}} {
				r := pngTestRaster(size[0], size[1], c, dt, uint64(c)+3)
				p := filepath.Join(dir, fmt.Sprintf("go_%v_%d_%d.png", dt, c, size[0]))
				if err := WritePNG(p, r); err != nil {
					t.Fatal(err)
				}
				// The expected samples, channels last, by the .npy writer
				// (checked against numpy by TestNPYNumpy).
				if err := WriteNPY(strings.TrimSuffix(p, ".png")+".want.npy", r); err != nil {
					t.Fatal(err)
				}
				args = append(args, p)
			}
		}
	}
	testsupport.RunPython(t, pngTestPython+`
import sys
from PIL import Image
MODES = {(8, 1): "L", (8, 2): "LA", (8, 3): "RGB", (8, 4): "RGBA",
         (16, 1): ("I", "I;16"), (16, 2): "RGBA", (16, 3): "RGB", (16, 4): "RGBA"}
for p in sys.argv[1:]:
    want = np.load(p[:-4] + ".want.npy")
    want3 = want[:, :, None] if want.ndim == 2 else want
    depth = 8 * want.dtype.itemsize
    ct, d, got = png_read(p)
    assert d == depth and got.dtype.itemsize == want.dtype.itemsize, (p, d)
    assert np.array_equal(got, want3), (p, got, want3)
    im = Image.open(p)
    im.load()
    mode = MODES[(depth, want3.shape[2])]
    assert im.mode in mode if isinstance(mode, tuple) else im.mode == mode, (p, im.mode)
    assert im.size == (want.shape[1], want.shape[0]), (p, im.size)
    arr = np.asarray(im)
    if depth == 8 or want3.shape[2] == 1:
        assert np.array_equal(arr.astype(np.int64), want.astype(np.int64)), (p, arr, want)
    else:
        # Pillow keeps the high byte of 16-bit colour samples, and reads
        # 16-bit grey+alpha as RGBA.
        if want3.shape[2] == 2:
            want3 = want3[:, :, [0, 0, 0, 1]]
        assert np.array_equal(arr.astype(np.int64), want3.astype(np.int64) >> 8), (p, arr, want3 >> 8)
`, args...)

	out := testsupport.RunPython(t, pngTestPython+`
import json, os, sys
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(5)
H, W = 9, 14
cases = []
def want(name, a):
    a = a[:, :, None] if a.ndim == 2 else a
    np.save(os.path.join(d, name + ".want.npy"), a)
    cases.append(name)
def pil(name, im, expect, **kw):
    im.save(os.path.join(d, name + ".png"), **kw)
    want(name, expect)
u8 = lambda *s: rng.integers(0, 256, s, dtype=np.uint8)
u16 = lambda *s: rng.integers(0, 65536, s, dtype=np.uint16)
for mode, n in [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)]:
    a = u8(H, W, n)
    a = a[:, :, 0] if n == 1 else a
    pil("pil_" + mode, Image.fromarray(a, mode), a)
    pil("pil_" + mode + "_opt", Image.fromarray(a, mode), a, optimize=True)
g16 = u16(H, W)
g16.flat[:2] = [0, 65535]
im = Image.fromarray(g16, "I;16")
pil("pil_I16", im, g16)
assert np.array_equal(np.asarray(Image.open(os.path.join(d, "pil_I16.png"))), g16)
pal = u8(16 * 3)
idx = rng.integers(0, 16, (H, W), dtype=np.uint8)
im = Image.fromarray(idx, "P")
im.putpalette(pal.tolist())
pil("pil_P", im, np.asarray(im.convert("RGB")))
alpha = bytes(u8(16))
im.info["transparency"] = alpha
pil("pil_P_trns", im, np.asarray(im.convert("RGBA")), transparency=alpha)
assert "transparency" in Image.open(os.path.join(d, "pil_P_trns.png")).info
im = Image.fromarray(np.where(u8(H, W) > 127, 255, 0).astype(np.uint8), "L").convert("1", dither=Image.Dither.NONE)
pil("pil_1bit", im, np.asarray(im.convert("L")))
assert Image.open(os.path.join(d, "pil_1bit.png")).mode == "1"
# A second writer: sub-8-bit grey (scaled to 0..255 as Pillow reads it),
# 16 bits with more than one channel, tRNS on grey and RGB (kept as
# stored: no alpha channel).
for bits in (1, 2, 4):
    v = rng.integers(0, 1 << bits, (H, W)).astype(np.uint8)
    v.flat[:2] = [0, (1 << bits) - 1]
    name = "grey%dbit" % bits
    png_write(os.path.join(d, name + ".png"), v[:, :, None], 0, bits)
    scaled = (v.astype(np.int64) * 255 // ((1 << bits) - 1)).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(os.path.join(d, name + ".png")).convert("L")), scaled), name
    want(name, scaled)
for ct, n in [(4, 2), (2, 3), (6, 4)]:
    a = u16(H, W, n)
    name = "py16_ct%d" % ct
    png_write(os.path.join(d, name + ".png"), a, ct, 16)
    want(name, a)
a = u8(H, W)
png_write(os.path.join(d, "grey8_trns.png"), a[:, :, None], 0, 8, trns=struct.pack(">H", int(a[0, 0])))
want("grey8_trns", a)
a = u16(H, W, 3)
png_write(os.path.join(d, "rgb16_trns.png"), a, 2, 16, trns=struct.pack(">HHH", *map(int, a[0, 0])))
want("rgb16_trns", a)
a = u8(H, W, 3)
png_write(os.path.join(d, "rgb8_trns.png"), a, 2, 8, trns=struct.pack(">HHH", *map(int, a[0, 0])))
want("rgb8_trns", a)
# A 2-bit palette with a tRNS shorter than it: the rest are opaque.
plte = u8(4 * 3)
idx = rng.integers(0, 4, (H, W)).astype(np.uint8)
png_write(os.path.join(d, "pal2_trns.png"), idx[:, :, None], 3, 2, plte=plte, trns=bytes([0, 128]))
im = Image.open(os.path.join(d, "pal2_trns.png"))
rgba = np.asarray(im.convert("RGBA"))
lut = np.concatenate([plte.reshape(4, 3), np.array([[0], [128], [255], [255]], np.uint8)], axis=1)
assert np.array_equal(rgba, lut[idx]), "pal2_trns"
want("pal2_trns", rgba)
print(json.dumps(cases))
`, dir)
	var cases []string
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, name := range cases {
		b, err := os.ReadFile(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodePNG(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		wb, err := os.ReadFile(filepath.Join(dir, name+".want.npy"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := DecodeNPY(wb)
		if err != nil {
			t.Fatal(err)
		}
		planar := make([]float64, len(want.Data))
		for i, v := range want.Data {
			planar[i] = float64(v)
		}
		npyTestSame(t, name, got, want.W, want.H, want.C, want.DType, planar)
	}
}
