package data

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"testing"
)

// alignedPair writes a 2w×h A|B image whose halves hold the same pattern,
// A with red 10 and B with red 250, so that the same crop and flip give
// equal G and B planes.
func alignedPair(t *testing.T, path string, w, h int) {
	writePNG(t, path, 2*w, h, func(x, y int) color.RGBA {
		c := pattern(x%w, y)
		c.R = 10
		if x >= w {
			c.R = 250
		}
		return c
	})
}

func TestAlignedSameParamsBothHalves(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 3; i++ {
		alignedPair(t, filepath.Join(root, "train", fmt.Sprintf("%d.png", i)), 20, 20)
	}
	o := testOptions(root)
	ds, err := New("aligned", o)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 {
		t.Fatalf("len %d", ds.Len())
	}
	for seed := uint64(0); seed < 8; seed++ {
		s, err := ds.Get(1, rng(seed))
		if err != nil {
			t.Fatal(err)
		}
		a, b := s.Arrays["A"], s.Arrays["B"]
		if fmt.Sprint(a.Shape) != "[3 12 12]" || fmt.Sprint(b.Shape) != "[3 12 12]" {
			t.Fatalf("shapes %v %v", a.Shape, b.Shape)
		}
		n := 12 * 12
		for i := n; i < 3*n; i++ { // G and B planes
			if a.Data[i] != b.Data[i] {
				t.Fatalf("seed %d: A and B differ at %d: different crop or flip", seed, i)
			}
		}
		if a.Data[0] > -0.8 || b.Data[0] < 0.8 {
			t.Fatalf("A is not the left half or B not the right (red %v, %v)", a.Data[0], b.Data[0])
		}
		if s.Paths["A_paths"] != filepath.Join(root, "train", "1.png") || s.Paths["B_paths"] != s.Paths["A_paths"] {
			t.Errorf("paths %v", s.Paths)
		}
	}
	// BtoA: A (left) is the target and takes --output_nc.
	o.Direction, o.InputNC, o.OutputNC = "BtoA", 3, 1
	ds, _ = New("aligned", o)
	s, err := ds.Get(0, rng(1))
	if err != nil {
		t.Fatal(err)
	}
	if s.Arrays["A"].Shape[0] != 1 || s.Arrays["B"].Shape[0] != 3 {
		t.Errorf("BtoA channels A %d B %d, want 1 and 3", s.Arrays["A"].Shape[0], s.Arrays["B"].Shape[0])
	}
}

func TestUnaligned(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 2; i++ {
		writePNG(t, filepath.Join(root, "trainA", fmt.Sprintf("a%d.png", i)), 16, 16, solid(color.RGBA{uint8(i), 0, 0, 255}))
	}
	for i := 0; i < 5; i++ {
		writePNG(t, filepath.Join(root, "trainB", fmt.Sprintf("b%d.png", i)), 16, 16, solid(color.RGBA{0, uint8(i), 0, 255}))
	}
	o := testOptions(root)
	o.InputNC = 1
	ds, err := New("unaligned", o)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 5 {
		t.Fatalf("len %d, want max(2, 5)", ds.Len())
	}
	seenB := map[string]bool{}
	for i := 0; i < 5; i++ {
		s, err := ds.Get(i, SampleRNG(3, 0, i))
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(root, "trainA", fmt.Sprintf("a%d.png", i%2)); s.Paths["A_paths"] != want {
			t.Errorf("A %d = %s, want %s", i, s.Paths["A_paths"], want)
		}
		if s.Arrays["A"].Shape[0] != 1 || s.Arrays["B"].Shape[0] != 3 {
			t.Errorf("channels %v %v", s.Arrays["A"].Shape, s.Arrays["B"].Shape)
		}
		seenB[s.Paths["B_paths"]] = true
		again, _ := ds.Get(i, SampleRNG(3, 0, i))
		if again.Paths["B_paths"] != s.Paths["B_paths"] {
			t.Error("random B is not a function of the rng")
		}
	}
	if len(seenB) < 2 {
		t.Errorf("random B took only %v", seenB)
	}
	o.SerialBatches = true
	ds, _ = New("unaligned", o)
	for i := 0; i < 7; i++ {
		s, _ := ds.Get(i%ds.Len(), rng(uint64(i)))
		if want := filepath.Join(root, "trainB", fmt.Sprintf("b%d.png", i%5)); s.Paths["B_paths"] != want {
			t.Errorf("serial B %d = %s, want %s", i, s.Paths["B_paths"], want)
		}
	}
}

func TestSingleAndTemplate(t *testing.T) {
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "x", "1.png"), 20, 10, pattern)
	writePNG(t, filepath.Join(root, "2.png"), 20, 10, pattern)
	o := testOptions(root)
	o.Preprocess = "none"
	ds, err := New("single", o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Get(1, rng(0))
	if err != nil {
		t.Fatal(err)
	}
	// none: 10 rows round half to even to 8 (round(2.5) = 2).
	if ds.Len() != 2 || fmt.Sprint(s.Arrays["A"].Shape) != "[3 8 20]" || s.Arrays["B"] != nil {
		t.Errorf("single: len %d, A %v", ds.Len(), s.Arrays["A"].Shape)
	}
	o = testOptions(root)
	o.Phase = "x"
	o.Extra = map[string]string{"new_dataset_option": "3"}
	ds, err = New("template", o)
	if err != nil {
		t.Fatal(err)
	}
	s, err = ds.Get(0, rng(0))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(s.Arrays["A"].Data) != fmt.Sprint(s.Arrays["B"].Data) {
		t.Error("template: A and B differ")
	}
}

func TestColorization(t *testing.T) {
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "train", "w.png"), 16, 16, func(x, y int) color.RGBA {
		if x < 8 {
			return color.RGBA{255, 255, 255, 255}
		}
		return color.RGBA{255, 0, 0, 255}
	})
	o := testOptions(root)
	o.Preprocess, o.NoFlip = "none", true
	if _, err := New("colorization", o); err == nil {
		t.Fatal("colorization accepted input_nc 3")
	}
	m, _ := LookupMode("colorization")
	o.InputNC, o.OutputNC = m.Defaults["input_nc"].(int), m.Defaults["output_nc"].(int)
	ds, err := New("colorization", o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Get(0, rng(0))
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Arrays["A"], s.Arrays["B"]
	if fmt.Sprint(a.Shape) != "[1 16 16]" || fmt.Sprint(b.Shape) != "[2 16 16]" {
		t.Fatalf("shapes %v %v", a.Shape, b.Shape)
	}
	n := 256
	// White: L 100 → 1, ab 0. Red: L 53.24, a 80.09, b 67.20.
	if math.Abs(float64(a.Data[0])-1) > 1e-4 || math.Abs(float64(b.Data[0])) > 1e-4 || math.Abs(float64(b.Data[n])) > 1e-4 {
		t.Errorf("white → A %v, B %v %v", a.Data[0], b.Data[0], b.Data[n])
	}
	if math.Abs(float64(a.Data[15])-(53.2408/50-1)) > 1e-4 || math.Abs(float64(b.Data[15])-80.0925/110) > 1e-4 || math.Abs(float64(b.Data[n+15])-67.2032/110) > 1e-4 {
		t.Errorf("red → A %v, B %v %v", a.Data[15], b.Data[15], b.Data[n+15])
	}
	rgb, err := LabToRGB(a.Data, b.Data, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	if rgb[15] < 0.999 || rgb[n+15] > -0.999 || rgb[2*n+15] > -0.999 || rgb[0] < 0.999 {
		t.Errorf("LabToRGB red = %v %v %v", rgb[15], rgb[n+15], rgb[2*n+15])
	}
}

func TestLabRoundTrip(t *testing.T) {
	for r := 0; r < 256; r += 15 {
		for g := 0; g < 256; g += 15 {
			for b := 0; b < 256; b += 15 {
				L, A, B := RGBToLab(float64(r)/255, float64(g)/255, float64(b)/255)
				r2, g2, b2 := LabPixelToRGB(L, A, B)
				if math.Abs(r2*255-float64(r)) > 1e-3 || math.Abs(g2*255-float64(g)) > 1e-3 || math.Abs(b2*255-float64(b)) > 1e-3 {
					t.Fatalf("%d %d %d → Lab %v %v %v → %v %v %v", r, g, b, L, A, B, r2*255, g2*255, b2*255)
				}
			}
		}
	}
	// skimage.color.rgb2lab of pure red, green and blue (uint8 input).
	for _, c := range []struct{ r, g, b, L, A, B float64 }{
		{1, 0, 0, 53.24058794, 80.09230823, 67.20275104},
		{0, 1, 0, 87.73509949, -86.18302974, 83.17970318},
		{0, 0, 1, 32.29567257, 79.18559091, -107.85730021},
	} {
		L, A, B := RGBToLab(c.r, c.g, c.b)
		if math.Abs(L-c.L) > 1e-7 || math.Abs(A-c.A) > 1e-7 || math.Abs(B-c.B) > 1e-7 {
			t.Errorf("rgb2lab(%v %v %v) = %v %v %v, want %v %v %v", c.r, c.g, c.b, L, A, B, c.L, c.A, c.B)
		}
	}

}
