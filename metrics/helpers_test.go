package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"cyclepix/data"
	"cyclepix/internal/testsupport"
)

// reference runs testdata/reference.py on a job and decodes its JSON
// answer into out.
func reference(t *testing.T, job map[string]any, out any) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.json")
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := testsupport.RunPythonFile(t, "testdata/reference.py", path)
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("reference.py output %q: %v", res, err)
	}
}

func writeFloat64s(t *testing.T, path string, v []float64) {
	t.Helper()
	if err := os.WriteFile(path, float64Bytes(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testImage draws a w×h image with gradients, a disc, stripes and noise,
// so that SSIM sees both flat and textured regions.
func testImage(rng *rand.Rand, w, h, c int, noise float64) *data.Image {
	m := &data.Image{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
	cx, cy, r := rng.Float64()*float64(w), rng.Float64()*float64(h), float64(min(w, h))/3
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ch := 0; ch < c; ch++ {
				v := 255 * (float64(x)/float64(w)*0.5 + float64(y)/float64(h)*0.3 + 0.1*float64(ch))
				if (float64(x)-cx)*(float64(x)-cx)+(float64(y)-cy)*(float64(y)-cy) < r*r {
					v = 255 - v
				}
				if (x/3)%4 == 0 {
					v += 40
				}
				v += rng.NormFloat64() * noise
				m.Pix[(y*w+x)*c+ch] = uint8(min(max(math.Round(v), 0), 255))
			}
		}
	}
	return m
}

// distort returns a blurred, shifted and noisy copy of m.
func distort(rng *rand.Rand, m *data.Image, noise float64) *data.Image {
	out := &data.Image{W: m.W, H: m.H, C: m.C, Pix: make([]uint8, len(m.Pix))}
	at := func(x, y, c int) float64 {
		x, y = min(max(x, 0), m.W-1), min(max(y, 0), m.H-1)
		return float64(m.Pix[(y*m.W+x)*m.C+c])
	}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < m.C; c++ {
				v := (at(x, y, c) + at(x+1, y, c) + at(x, y+1, c) + at(x-1, y-1, c)) / 4
				v += rng.NormFloat64() * noise
				out.Pix[(y*m.W+x)*m.C+c] = uint8(min(max(math.Round(v), 0), 255))
			}
		}
	}
	return out
}

func writeBytes(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
