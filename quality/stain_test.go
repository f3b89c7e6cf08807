package quality

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/data/builtin"
	"cyclepix/data/raster"
)

// fluoPreview is the 8-bit preview `cyclepix test` writes next to a
// fluorescence TIFF (channels 0, 1, 2 through --range_A 0:4095).
func fluoPreview(t *testing.T, r *raster.Raster) *data.Image {
	t.Helper()
	chw := make([]float32, len(r.Data))
	for i, v := range r.Data {
		chw[i] = v/4095*2 - 1
	}
	m, err := data.Preview(chw, r.C, r.H, r.W, []int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeStainResults lays out a fluo2he result folder as `cyclepix test`
// writes it: <i>_real_A.tif with its preview <i>_real_A.png (realA nil:
// none; tiff false: the preview alone), <i>_fake_B.png, <i>_real_B.png.
func writeStainResults(t *testing.T, realA []*raster.Raster, tiff bool, fakeB, realB []*data.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "test_latest", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range fakeB {
		stem := filepath.Join(dir, fmt.Sprintf("%04d", i))
		if realA != nil {
			if tiff {
				if err := raster.WriteTIFF(stem+"_real_A.tif", realA[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := data.SaveImage(stem+"_real_A.png", fluoPreview(t, realA[i])); err != nil {
				t.Fatal(err)
			}
		}
		if err := data.SaveImage(stem+"_fake_B.png", fakeB[i]); err != nil {
			t.Fatal(err)
		}
		if err := data.SaveImage(stem+"_real_B.png", realB[i]); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Dir(dir)
}

// paintNuclei returns he with the pixels that a's nuclear channel marks
// painted in one colour: a virtual stain that got everything but the
// nuclei right.
func paintNuclei(a *raster.Raster, he *data.Image, col [3]uint8) *data.Image {
	out := &data.Image{W: he.W, H: he.H, C: 3, Pix: append([]uint8(nil), he.Pix...)}
	for j, in := range NuclearMask(a) {
		if in {
			copy(out.Pix[3*j:3*j+3], col[:])
		}
	}
	return out
}

// boxBlur is a 3×3 mean: a right but soft output, as a small generator
// gives.
func boxBlur(m *data.Image) *data.Image {
	out := &data.Image{W: m.W, H: m.H, C: 3, Pix: make([]uint8, len(m.Pix))}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < 3; c++ {
				s, n := 0, 0
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						if xx, yy := x+dx, y+dy; xx >= 0 && yy >= 0 && xx < m.W && yy < m.H {
							s += int(m.Pix[(yy*m.W+xx)*3+c])
							n++
						}
					}
				}
				out.Pix[(y*m.W+x)*3+c] = uint8((s + n/2) / n)
			}
		}
	}
	return out
}

// TestEvaluateStain: fluo2he's figures pass the right stain (exact, or
// soft) and fail the baselines the thresholds were calibrated against:
// a constant output, the input's preview, and a stain without nuclei,
// which L1 alone would pass.
func TestEvaluateStain(t *testing.T) {
	const n, size = 8, 64
	var realA []*raster.Raster
	var realB, blurred, previews, constant, noNuclei []*data.Image
	// The constant: the mean colour of training H&E images.
	var mean [3]float64
	for i := 0; i < 16; i++ {
		m, err := builtin.Draw("fluo2he", "trainB", size, 77, i)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range m.Pix {
			mean[j%3] += float64(v) / float64(16*size*size)
		}
	}
	flat := &data.Image{W: size, H: size, C: 3, Pix: make([]uint8, size*size*3)}
	for j := range flat.Pix {
		flat.Pix[j] = uint8(mean[j%3] + 0.5)
	}
	for i := 0; i < n; i++ {
		a, err := builtin.DrawRaster("fluo2he", "testA", size, 77, i)
		if err != nil {
			t.Fatal(err)
		}
		b := draw(t, "fluo2he", "testB", size, i)
		realA, realB = append(realA, a), append(realB, b)
		blurred, previews, constant = append(blurred, boxBlur(b)), append(previews, fluoPreview(t, a)), append(constant, flat)
		// Nuclei painted over in the mean pink of the training images.
		noNuclei = append(noNuclei, paintNuclei(a, b, [3]uint8{uint8(mean[0]), uint8(mean[1]), uint8(mean[2])}))
	}
	cases := []struct {
		name    string
		realA   []*raster.Raster
		tiff    bool
		fakeB   []*data.Image
		fail    []string // the figures that must fail; the others must pass
		skipped []string
	}{
		{"right", realA, true, realB, nil, nil},
		{"right but soft", realA, true, blurred, nil, nil},
		// Without the TIFF the nuclei are found in the preview's first
		// channel, which is the same nuclear channel.
		{"right, previews only", realA, false, realB, nil, nil},
		{"no real_A", nil, false, realB, nil, []string{"nuclei_error"}},
		{"constant", realA, true, constant, []string{"l1", "psnr", "ssim", "nuclei_error"}, nil},
		{"input preview as output", realA, true, previews, []string{"l1", "psnr", "ssim", "nuclei_error"}, nil},
		{"nuclei painted over", realA, true, noNuclei, []string{"psnr", "ssim", "nuclei_error"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := LoadResults(writeStainResults(t, tc.realA, tc.tiff, tc.fakeB, realB))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Evaluate(context.Background(), res, Options{Dataset: "fluo2he"})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			rep.Write(&b)
			out := b.String()
			t.Log("\n" + out)
			var failed []string
			for _, f := range rep.Failures() {
				failed = append(failed, f.Key)
			}
			if strings.Join(failed, ",") != strings.Join(tc.fail, ",") {
				t.Errorf("failed %v, want %v\n%s", failed, tc.fail, out)
			}
			if want := 4 - len(tc.skipped); len(rep.Figures) != want {
				t.Errorf("%d figures, want %d:\n%s", len(rep.Figures), want, out)
			}
			for _, k := range tc.skipped {
				if _, ok := rep.Figure(k); ok || !strings.Contains(out, "skipped: "+k) {
					t.Errorf("%s is not reported as skipped:\n%s", k, out)
				}
			}
			if f, ok := rep.Figure("nuclei_error"); ok && f.N != n {
				t.Errorf("nuclei_error over %d images, want %d", f.N, n)
			}
		})
	}
}

func TestNuclearMask(t *testing.T) {
	a, err := builtin.DrawRaster("fluo2he", "testA", 64, 77, 1)
	if err != nil {
		t.Fatal(err)
	}
	scaled := raster.New(a.W, a.H, a.C, raster.Float32)
	for i, v := range a.Data {
		scaled.Data[i] = v * 0.37
	}
	steps := raster.New(8, 8, 1, raster.Uint16)
	for i := range steps.Data {
		steps.Data[i] = 100
		if i >= 40 {
			steps.Data[i] = 3000
		}
	}
	cases := []struct {
		name     string
		r        *raster.Raster
		min, max float64 // the share of pixels marked
	}{
		{"fluorescence", a, 0.05, 0.5},
		{"one value", raster.New(8, 8, 4, raster.Uint16), 0, 0},
		{"two levels", steps, 24.0 / 64, 24.0 / 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mask := NuclearMask(c.r)
			in, sumIn, sumOut := 0, 0.0, 0.0
			for j, m := range mask {
				if m {
					in++
					sumIn += float64(c.r.Plane(0)[j])
				} else {
					sumOut += float64(c.r.Plane(0)[j])
				}
			}
			share := float64(in) / float64(len(mask))
			if share < c.min || share > c.max {
				t.Errorf("%.3f of the pixels marked, want %.3f..%.3f", share, c.min, c.max)
			}
			if in > 0 && in < len(mask) && sumIn/float64(in) < 4*sumOut/float64(len(mask)-in) {
				t.Errorf("marked pixels' mean %.0f, the others' %.0f: not the bright ones", sumIn/float64(in), sumOut/float64(len(mask)-in))
			}
		})
	}
	// Otsu's threshold follows the exposure: a dimmer image, the same
	// nuclei.
	m1, m2 := NuclearMask(a), NuclearMask(scaled)
	diff := 0
	for j := range m1 {
		if m1[j] != m2[j] {
			diff++
		}
	}
	if diff > len(m1)/200 {
		t.Errorf("%d of %d pixels change with the exposure", diff, len(m1))
	}
}

// TestLoadResultsDataFiles: a visual on the data's scale has a data file
// and a preview; Load and the side-by-side pictures read the preview,
// LoadData the data.
func TestLoadResultsDataFiles(t *testing.T) {
	dir := t.TempDir()
	four := raster.New(16, 16, 4, raster.Uint16)
	for i := range four.Data {
		four.Data[i] = float32(i % 4000)
	}
	rgb := &data.Image{W: 16, H: 16, C: 3, Pix: make([]uint8, 16*16*3)}
	write := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	// a: a TIFF and its preview; b: a 16-bit PNG on the data's scale and
	// its preview; both: an 8-bit fake_B.
	write("a_real_A.tif", raster.WriteTIFF(p("a_real_A.tif"), four))
	write("a_real_A.png", data.SaveImage(p("a_real_A.png"), rgb))
	write("b_real_A.png", raster.WritePNG(p("b_real_A.png"), four))
	write("b_real_A_preview.png", data.SaveImage(p("b_real_A_preview.png"), rgb))
	for _, s := range []string{"a", "b"} {
		write(s+"_fake_B.png", data.SaveImage(p(s+"_fake_B.png"), rgb))
	}
	res, err := LoadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Samples, " ") + " | " + strings.Join(res.Visuals, " "); got != "a b | real_A fake_B" {
		t.Errorf("samples | visuals: %s", got)
	}
	for _, c := range []struct{ sample, visual, picture, data string }{
		{"a", "real_A", "a_real_A.png", "a_real_A.tif"},
		{"b", "real_A", "b_real_A_preview.png", "b_real_A.png"},
		{"a", "fake_B", "a_fake_B.png", "a_fake_B.png"},
	} {
		if got := res.Path(c.sample, c.visual); got != p(c.picture) {
			t.Errorf("Path(%s, %s) = %s, want %s", c.sample, c.visual, got, c.picture)
		}
		if got := res.DataPath(c.sample, c.visual); got != p(c.data) {
			t.Errorf("DataPath(%s, %s) = %s, want %s", c.sample, c.visual, got, c.data)
		}
	}
	pics, err := res.Load("real_A")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := res.LoadData("real_A")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if pics[i].C != 3 || rs[i].C != 4 || rs[i].DType != raster.Uint16 || rs[i].Data[5] != 5 {
			t.Errorf("sample %d: picture of %d channels, data %s", i, pics[i].C, rs[i].Shape())
		}
	}
}
