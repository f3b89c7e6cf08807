package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// TestLoaderCyclepix checks the loader suite's cyclepix side on small
// files: every file is read, and the checksum is that of the raster's
// values mapped by loaderRange to [-1, 1], clipped.
func TestLoaderCyclepix(t *testing.T) {
	dir := t.TempDir()
	if err := writeLoaderTIFFs(dir, 32, 3); err != nil {
		t.Fatal(err)
	}
	files, err := loaderFiles(dir)
	if err != nil || len(files) != 3 {
		t.Fatalf("files %v, %v", files, err)
	}
	r, err := loaderCyclepix(dir, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Times) != 2 || r.PeakRSSKB <= 0 || r.BaseRSSKB <= 0 {
		t.Fatalf("result %+v", r)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	ras, err := raster.Decode(b, files[0])
	if err != nil {
		t.Fatal(err)
	}
	if ras.C != loaderChannels || ras.DType != raster.Uint16 {
		t.Fatalf("wrote %s", ras.Shape())
	}
	want := make([]float32, len(ras.Data))
	clipped := 0
	for i, v := range ras.Data {
		u := v / 4095
		if u > 1 {
			u, clipped = 1, clipped+1
		}
		want[i] = u*2 - 1
	}
	if clipped == 0 {
		t.Error("no sample above the range: the clipping is not exercised")
	}
	if c := checksum(want); math.Abs(c[0]-r.Check[0]) > 1e-6 || math.Abs(c[1]-r.Check[1]) > 1e-6 {
		t.Errorf("checksum %v, want %v", r.Check, c)
	}
	if n := checkNote("x", r, &result{Check: []float64{r.Check[0] + 1, r.Check[1]}}); n == "" {
		t.Error("checkNote missed a difference")
	}
}

// BenchmarkLoaderDecode times cyclepix's side on one 1024×1024 file (go
// test ./bench -run - -bench Loader -cpuprofile cpu.out to see where the
// time goes).
func BenchmarkLoaderDecode(b *testing.B) {
	dir := b.TempDir()
	if err := writeLoaderTIFFs(dir, 1024, 1); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "img000.tif")
	side := data.Side{Name: "A", NC: loaderChannels, NCFlag: "input_nc", RangeFlag: "range_A", Range: loaderRange}
	for b.Loop() {
		buf, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		img, err := data.DecodeSide(buf, path, side, data.DepthFull)
		if err != nil {
			b.Fatal(err)
		}
		img.Tensor()
	}
}
