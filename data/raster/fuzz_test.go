package raster

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data/libtiff"
)

// FuzzDecodeTIFF: any bytes give a raster that matches its shape, or a
// one-line error; never a panic, and reading in bands agrees with reading
// whole. Seeds are small valid files of the layouts the reader knows.
func FuzzDecodeTIFF(f *testing.F) {
	f.Add(tiffSmallFile())
	dir := f.TempDir()
	for _, s := range []struct {
		dt DType
		c  int
	}{{Uint8, 1}, {Uint16, 2}, {Float32, 3}, {Int16, 1}} {
		path := filepath.Join(dir, s.dt.String()+".tif")
		if err := WriteTIFF(path, tiffTestRaster(3, 2, s.c, s.dt, 1)); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var tb tiffBuilder
	tb.image(2, 1, 4, 16, 1, make([]byte, 16), tiffShort(262, 2), tiffShort(338, 2))
	f.Add(tb.bytes())
	tb = tiffBuilder{}
	tb.image(4, 2, 1, 16, 2, tiffDeflate(make([]byte, 16)), tiffShort(259, 8))
	f.Add(tb.bytes())
	tb = tiffBuilder{}
	tb.image(2, 2, 3, 8, 1, make([]byte, 12), tiffShort(262, 2), tiffShort(284, 2),
		tiffLong(273, 8, 12, 16), tiffLong(279, 4, 4, 4))
	f.Add(tb.bytes())
	f.Add(tiffOMEFile(2, `<Pixels DimensionOrder="XYZCT" Type="uint8" SizeX="4" SizeY="4" SizeC="1" SizeZ="2" SizeT="1"/>`))
	f.Add(tiffOMEFile(1, `<Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="4" SizeC="1" SizeZ="1" SizeT="1"/>`))

	f.Fuzz(func(t *testing.T, b []byte) {
		// Valid but huge declared sizes are legitimate up to MaxSamples;
		// the fuzzer should not spend gigabytes on them.
		if r, err := newTIFFReader(bytes.NewReader(b), int64(len(b)), func() (*libtiff.File, error) { return libtiff.OpenBytes(b) }); err == nil {
			big := r.W*r.H*r.C > 1<<20
			r.Close()
			if big {
				return
			}
		}
		r, err := DecodeTIFF(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of several lines: %q", err)
			}
			return
		}
		if r.W <= 0 || r.H <= 0 || r.C <= 0 || r.C > MaxChannels || len(r.Data) != r.W*r.H*r.C || r.DType.Size() == 0 {
			t.Fatalf("raster %s with %d values", r.Shape(), len(r.Data))
		}
		tr, err := newTIFFReader(bytes.NewReader(b), int64(len(b)), func() (*libtiff.File, error) { return libtiff.OpenBytes(b) })
		if err != nil {
			t.Fatalf("DecodeTIFF reads it, the band reader does not: %v", err)
		}
		defer tr.Close()
		for y := 0; y < r.H; y += 2 {
			band, err := tr.readRows(y, min(y+2, r.H))
			if err != nil {
				t.Fatalf("rows %d: %v", y, err)
			}
			for c := 0; c < r.C; c++ {
				want := r.Plane(c)[y*r.W : (y+band.H)*r.W]
				for i, v := range band.Plane(c) {
					if v != want[i] && !(v != v && want[i] != want[i]) {
						t.Fatalf("channel %d row %d: band %v, whole %v", c, y, v, want[i])
					}
				}
			}
		}
	})
}
