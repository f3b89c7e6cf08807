package builtin

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// TestFluo2HEContent: A holds 4-channel 12-bit TIFFs, B 8-bit RGB PNGs of
// the same names, and they show one tissue: where A's channels say
// nuclei, cytoplasm or glass, B is purple, pink or white.
func TestFluo2HEContent(t *testing.T) {
	dir := t.TempDir()
	const size, n = 64, 4
	if _, err := Generate(context.Background(), "fluo2he", dir, Options{Size: size, NumTrain: n, NumTest: 1, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"train", "test", "val"} {
		a, b := names(t, filepath.Join(dir, phase+"A"), ".tif"), names(t, filepath.Join(dir, phase+"B"), ".png")
		if strings.Join(a, " ") != strings.Join(b, " ") {
			t.Errorf("%sA has %v, %sB %v", phase, a, phase, b)
		}
	}

	type class struct {
		name string
		is   func(ch [4]float32) bool
		// want checks the mean H&E colour there.
		want func(c [3]float64) bool
		sum  [3]float64
		n    int
	}
	classes := []*class{
		{name: "nuclei (bright DAPI): dark purple", is: func(ch [4]float32) bool { return ch[0] > 1500 },
			want: func(c [3]float64) bool { return c[2] > c[0] && c[0] > c[1] && c[0] < 170 }},
		{name: "cytoplasm (bright protein stain, no DNA): pink", is: func(ch [4]float32) bool { return ch[2] > 900 && ch[0] < 400 },
			want: func(c [3]float64) bool { return c[0] > c[2] && c[2] > c[1] && c[0] > 200 && c[1] < 190 }},
		{name: "glass (dark in every channel): near white", is: func(ch [4]float32) bool { return ch[0] < 160 && ch[2] < 160 && ch[3] < 160 },
			want: func(c [3]float64) bool { return min(c[0], c[1], c[2]) > 230 }},
		{name: "red blood cells (bright autofluorescence only): red", is: func(ch [4]float32) bool { return ch[3] > 2000 && ch[0] < 400 },
			want: func(c [3]float64) bool { return c[0] > 200 && c[1] < 120 && c[0]-c[2] > 40 }},
	}
	for i := 0; i < n; i++ {
		stem := filepath.Join(dir, "train")
		buf, err := os.ReadFile(filepath.Join(stem+"A", name(i)+".tif"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := raster.Decode(buf, "A")
		if err != nil {
			t.Fatal(err)
		}
		if a.C != 4 || a.W != size || a.H != size || a.DType != raster.Uint16 {
			t.Fatalf("A is %s, want 4×%d×%d uint16", a.Shape(), size, size)
		}
		for _, v := range a.Data {
			if v < 0 || v > fluoFull {
				t.Fatalf("A holds %g: a 12-bit camera gives 0..4095", v)
			}
		}
		b, err := data.LoadImage(filepath.Join(stem+"B", name(i)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if b.C != 3 || b.HighDepth() || b.W != size || b.H != size {
			t.Fatalf("B is %dx%d, %d channels, 16-bit %v: want 8-bit RGB %dx%d", b.W, b.H, b.C, b.HighDepth(), size, size)
		}
		for j := 0; j < size*size; j++ {
			var ch [4]float32
			for k := range ch {
				ch[k] = a.Plane(k)[j]
			}
			for _, c := range classes {
				if c.is(ch) {
					for k := 0; k < 3; k++ {
						c.sum[k] += float64(b.Pix[3*j+k])
					}
					c.n++
				}
			}
		}
	}
	for _, c := range classes {
		if c.n < 20 {
			t.Errorf("%s: only %d pixels in %d images", c.name, c.n, n)
			continue
		}
		mean := [3]float64{c.sum[0] / float64(c.n), c.sum[1] / float64(c.n), c.sum[2] / float64(c.n)}
		if !c.want(mean) {
			t.Errorf("%s: mean colour (%.0f, %.0f, %.0f) over %d pixels", c.name, mean[0], mean[1], mean[2], c.n)
		}
	}

	// --dataset_mode paired with the dataset's flags reads a pair of 4 and
	// 3 channels, mapped to [-1, 1] by --range_A 0:4095 exactly.
	o := data.DefaultOptions()
	o.Dataroot, o.Phase, o.Preprocess, o.NoFlip = dir, "val", "none", true
	o.InputNC, o.OutputNC, o.RangeA = 4, 3, "0:4095"
	ds, err := data.New("paired", o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Get(0, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if pa, pb := s.Paths["A_paths"], s.Paths["B_paths"]; !strings.HasSuffix(pa, filepath.Join("valA", "0000.tif")) || !strings.HasSuffix(pb, filepath.Join("valB", "0000.png")) {
		t.Errorf("pair %s ↔ %s", pa, pb)
	}
	wantA, err := DrawRaster("fluo2he", "valA", size, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantB, err := Draw("fluo2he", "valB", size, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	A, B := s.Arrays["A"], s.Arrays["B"]
	if len(A.Shape) != 3 || A.Shape[0] != 4 || A.Shape[1] != size || A.Shape[2] != size {
		t.Fatalf("A is %v, want [4 %d %d]", A.Shape, size, size)
	}
	if len(B.Shape) != 3 || B.Shape[0] != 3 || B.Shape[1] != size || B.Shape[2] != size {
		t.Fatalf("B is %v, want [3 %d %d]", B.Shape, size, size)
	}
	for j, v := range A.Data {
		if want := 2*float64(wantA.Data[j])/4095 - 1; math.Abs(float64(v)-want) > 1e-6 {
			t.Fatalf("A value %d is %g, want %g (file value %g)", j, v, want, wantA.Data[j])
		}
	}
	for c := 0; c < 3; c++ {
		for j := 0; j < size*size; j++ {
			want := 2*float64(wantB.Pix[3*j+c])/255 - 1
			if v := B.Data[c*size*size+j]; math.Abs(float64(v)-want) > 1e-6 {
				t.Fatalf("B channel %d value %d is %g, want %g", c, j, v, want)
			}
		}
	}
}

func name(i int) string { return fmt.Sprintf("%04d", i) }

// names lists a folder's file names without their extension, which must
// be ext.
func names(t *testing.T, dir, ext string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if filepath.Ext(e.Name()) != ext {
			t.Errorf("%s in %s: want %s files", e.Name(), dir, ext)
		}
		out = append(out, strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())))
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Errorf("%s is empty", dir)
	}
	return out
}
