package data

import (
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// writePNG writes a w×h RGB PNG whose pixel (x, y) is f(x, y).
func writePNG(t testing.TB, path string, w, h int, f func(x, y int) color.RGBA) {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA(x, y, f(x, y))
		}
	}
	writeStd(t, path, m)
}

func writeStd(t testing.TB, path string, m image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, m); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func solid(c color.RGBA) func(x, y int) color.RGBA { return func(int, int) color.RGBA { return c } }

// pattern is a deterministic, non-symmetric test picture.
func pattern(x, y int) color.RGBA {
	return color.RGBA{uint8(x * 7), uint8(y * 11), uint8((x * y) % 256), 255}
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// testOptions are small, fast options: 16 → 12 crops.
func testOptions(root string) Options {
	o := DefaultOptions()
	o.Dataroot = root
	o.LoadSize = 16
	o.CropSize = 12
	return o
}
