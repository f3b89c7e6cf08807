// Package sciencedata writes the small scientific datasets (multi-channel
// 16-bit TIFFs, float .npy files, 12-bit band TIFFs) that the tests of
// train and cli learn on. It is apart from testsupport, which the raster
// and npy packages' own tests import.
package sciencedata

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"cyclepix/data/raster"
)

// Write writes the two kinds of scientific datasets the tests train
// on, under dir: "paired", 5-channel uint16 TIFFs (trainA, testA) paired
// by name with 2-channel float32 .npy files (trainB, testB), and "bands",
// unpaired 4-band 12-bit TIFFs (trainA) and RGB PNGs (trainB). The values
// are smooth fields, so that the crops and flips matter.
func Write(t testing.TB, dir string) (paired, bands string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	field := func(w, h, c int, dt raster.DType, lo, hi float64) *raster.Raster {
		r := raster.New(w, h, c, dt)
		for k := 0; k < c; k++ {
			fx, fy, ph := 1+rng.Float64()*3, 1+rng.Float64()*3, rng.Float64()*6
			p := r.Plane(k)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					u := 0.5 + 0.5*math.Sin(fx*float64(x)/float64(w)*math.Pi+fy*float64(y)/float64(h)*math.Pi+ph)
					p[y*w+x] = float32(dt.Round(lo + u*(hi-lo)))
				}
			}
		}
		return r
	}
	write := func(path string, r *raster.Raster) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch filepath.Ext(path) {
		case ".tif":
			err = raster.WriteTIFF(path, r)
		case ".npy":
			err = raster.WriteNPY(path, r)
		default:
			err = raster.WritePNG(path, r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	paired, bands = filepath.Join(dir, "paired"), filepath.Join(dir, "bands")
	for _, phase := range []string{"train", "test"} {
		for i := 0; i < 4; i++ {
			write(filepath.Join(paired, phase+"A", fmt.Sprintf("s%d.tif", i)), field(36, 36, 5, raster.Uint16, 100, 60000))
			write(filepath.Join(paired, phase+"B", fmt.Sprintf("s%d.npy", i)), field(36, 36, 2, raster.Float32, -0.5, 2.5))
		}
	}
	for i := 0; i < 4; i++ {
		write(filepath.Join(bands, "trainA", fmt.Sprintf("b%d.tif", i)), field(36, 36, 4, raster.Uint16, 0, 4095))
		write(filepath.Join(bands, "trainB", fmt.Sprintf("c%d.png", i)), field(36, 36, 3, raster.Uint8, 0, 255))
	}
	return paired, bands
}
