package raster

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// fuzzCheckRaster checks what every successful decode promises.
func fuzzCheckRaster(t *testing.T, r *Raster) {
	t.Helper()
	if r.W <= 0 || r.H <= 0 || r.C <= 0 || r.C > MaxChannels || r.DType.Size() == 0 || len(r.Data) != r.W*r.H*r.C {
		t.Fatalf("decoded an inconsistent raster: %d×%d×%d %v with %d values", r.W, r.H, r.C, r.DType, len(r.Data))
	}
	if r.DType.Integer() {
		lo, hi := r.DType.Limits()
		for _, v := range r.Data {
			if float64(v) < lo || float64(v) > hi || v != float32(math.Round(float64(v))) {
				t.Fatalf("%v sample %v is not one of the type's values", r.DType, v)
			}
		}
	}
}

// fuzzSame reports whether two rasters hold the same samples (NaN equal
// to NaN).
func fuzzSame(a, b *Raster) bool {
	if a.W != b.W || a.H != b.H || a.C != b.C || a.DType != b.DType {
		return false
	}
	for i, v := range a.Data {
		if v != b.Data[i] && !(v != v && b.Data[i] != b.Data[i]) {
			return false
		}
	}
	return true
}

// FuzzDecodeNPY feeds DecodeNPY arbitrary bytes: it must not panic, and
// what it accepts must write back and read again unchanged.
func FuzzDecodeNPY(f *testing.F) {
	h := npyTestHeader
	f.Add(npyTestFile(h("|u1", false, "(2, 3)"), []byte{1, 2, 3, 4, 5, 6}))
	f.Add(npyTestFile(h("<u2", true, "(1, 2, 2)"), []byte{1, 0, 2, 0, 3, 0, 4, 0}))
	f.Add(npyTestFile(h(">f8", false, "(1, 1, 1)"), []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1}))
	f.Add(npyTestFile(h("<f2", false, "(1, 2)"), []byte{0, 0x7c, 0, 0x3c}))
	f.Add(npyTestFile(h("|b1", true, "(2, 1)"), []byte{0, 1}))
	f.Add(npyTestFile(h("<i4", false, "(1, 1)"), []byte{1, 0, 0, 0}))
	f.Add(npyTestFile(h("<f4", false, "(1048576, 1048576)"), nil))
	f.Add(npyTestFile(h("<f4", false, "(-1, 2)"), nil))
	f.Add([]byte("\x93NUMPY\x02\x00\x10\x00\x00\x00{'descr': '|u1'}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeNPY(b)
		if err != nil {
			if r != nil {
				t.Fatal("raster and error both returned")
			}
			return
		}
		fuzzCheckRaster(t, r)
		p := filepath.Join(t.TempDir(), "x.npy")
		if err := WriteNPY(p, r); err != nil {
			t.Fatal(err)
		}
		b2, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeNPY(b2)
		if err != nil {
			t.Fatalf("re-reading what WriteNPY wrote: %v", err)
		}
		if !fuzzSame(r, r2) {
			t.Fatalf("%s changed through WriteNPY", r.Shape())
		}
	})
}

// FuzzDecodePNG feeds DecodePNG arbitrary bytes: it must not panic, and
// what it accepts must encode and decode again unchanged.
func FuzzDecodePNG(f *testing.F) {
	enc := func(m image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	for _, r := range []*Raster{pngTestRaster(3, 2, 1, Uint8, 1), pngTestRaster(2, 2, 2, Uint16, 2), pngTestRaster(3, 1, 4, Uint8, 3)} {
		var b bytes.Buffer
		if err := pngEncode(&b, r); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	pal := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{color.NRGBA{1, 2, 3, 4}, color.Black})
	pal.Pix[1] = 1
	f.Add(enc(pal))
	g := image.NewGray16(image.Rect(0, 0, 2, 2))
	g.Pix[0] = 0xff
	f.Add(enc(g))
	f.Add(pngTestFile(100000, 100000, 8, 0, pngTestChunk("IDAT", []byte{0x78, 1})))
	f.Add(pngTestFile(4, 4, 2, 0, pngTestChunk("tRNS", []byte{0, 1}), pngTestChunk("IDAT", []byte{0x78, 1})))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodePNG(b)
		if err != nil {
			if r != nil {
				t.Fatal("raster and error both returned")
			}
			return
		}
		fuzzCheckRaster(t, r)
		if r.C > 4 || r.DType != Uint8 && r.DType != Uint16 {
			t.Fatalf("decoded %s from a PNG", r.Shape())
		}
		var out bytes.Buffer
		if err := pngEncode(&out, r); err != nil {
			t.Fatal(err)
		}
		r2, err := DecodePNG(out.Bytes())
		if err != nil {
			t.Fatalf("re-reading what WritePNG writes: %v", err)
		}
		if !fuzzSame(r, r2) {
			t.Fatalf("%s changed through WritePNG", r.Shape())
		}
	})
}
