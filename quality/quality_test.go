package quality

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/data/builtin"
	"cyclepix/torch"
)

func draw(t *testing.T, name, folder string, size, i int) *data.Image {
	t.Helper()
	m, err := builtin.Draw(name, folder, size, 77, i)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// greyBackground repaints m's background pixels (by BackgroundMask
// before erosion: those near the border colour) mid-grey.
func greyBackground(m *data.Image) *data.Image {
	out := &data.Image{W: m.W, H: m.H, C: 3, Pix: append([]uint8(nil), m.Pix...)}
	bg := BorderColour(m)
	for i := 0; i < m.W*m.H; i++ {
		near := true
		for c := 0; c < 3; c++ {
			near = near && math.Abs(float64(m.Pix[3*i+c])-bg[c]) <= bgTolerance
		}
		if near {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = 128, 128, 128
		}
	}
	return out
}

// addNoise adds ±amp levels in a checkerboard, the artefact of a
// transposed convolution.
func addNoise(m *data.Image, amp int) *data.Image {
	out := &data.Image{W: m.W, H: m.H, C: 3, Pix: append([]uint8(nil), m.Pix...)}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			d := amp
			if (x+y)%2 == 1 {
				d = -amp
			}
			for c := 0; c < 3; c++ {
				out.Pix[(y*m.W+x)*3+c] = uint8(min(max(int(m.Pix[(y*m.W+x)*3+c])+d, 0), 255))
			}
		}
	}
	return out
}

func TestBackground(t *testing.T) {
	a := draw(t, "blobs2zebras", "testA", 64, 0)
	b := draw(t, "blobs2zebras", "testB", 64, 0)
	cases := []struct {
		name             string
		out              *data.Image
		maxMAE, maxShift float64 // the score must be at most these
		minMAE, minShift float64 // and at least these
	}{
		{"itself", a, 0, 0, 0, 0},
		{"grey background", greyBackground(a), math.Inf(1), math.Inf(1), 15, 15},
		{"checkerboard ±20", addNoise(a, 20), 20.01, 1, 19, 0},
		{"another image", b, math.Inf(1), math.Inf(1), 5, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Background(a, c.out)
			if err != nil {
				t.Fatal(err)
			}
			if s.MAE > c.maxMAE || s.MAE < c.minMAE || s.Shift > c.maxShift || s.Shift < c.minShift {
				t.Errorf("MAE %.2f (want %g..%g), shift %.2f (want %g..%g)", s.MAE, c.minMAE, c.maxMAE, s.Shift, c.minShift, c.maxShift)
			}
			if s.Share < 0.3 || s.Share > 1 {
				t.Errorf("background share %.2f of a blobs image", s.Share)
			}
		})
	}
	// The border colour is the drawn background, whatever blobs touch it.
	for i := 0; i < 8; i++ {
		m := draw(t, "blobs2zebras", "trainA", 64, i)
		bg := BorderColour(m)
		// The centre of the image is either background or blob; count the
		// border pixels equal to bg: they must be most of the ring.
		same, ring := 0, 0
		for y := 0; y < 64; y++ {
			for x := 0; x < 64; x++ {
				if x > 1 && y > 1 && x < 62 && y < 62 {
					continue
				}
				ring++
				p := m.Pix[(y*64+x)*3:]
				if math.Abs(float64(p[0])-bg[0]) < 1 && math.Abs(float64(p[1])-bg[1]) < 1 && math.Abs(float64(p[2])-bg[2]) < 1 {
					same++
				}
			}
		}
		if same*2 < ring {
			t.Errorf("image %d: only %d of %d border pixels have the border colour %v", i, same, ring, bg)
		}
	}
	if _, err := Background(a, draw(t, "blobs2zebras", "testA", 32, 0)); err == nil || !strings.Contains(err.Error(), "sizes differ") {
		t.Errorf("different sizes: %v", err)
	}
	full := &data.Image{W: 32, H: 32, C: 3, Pix: make([]uint8, 32*32*3)}
	for i := range full.Pix {
		full.Pix[i] = uint8(i * 7)
	}
	if _, err := Background(full, full); err == nil || !strings.Contains(err.Error(), "no background") {
		t.Errorf("an image without background: %v", err)
	}
}

func TestObjectChroma(t *testing.T) {
	a := draw(t, "blobs2zebras", "testA", 64, 1)
	b := draw(t, "blobs2zebras", "testB", 64, 1)
	cases := []struct {
		name     string
		in, out  *data.Image
		min, max float64
	}{
		{"blobs keep their colour", a, a, 60, 255},
		{"blobs in greyscale", a, a.Gray().RGB(), 0, 1},
		// Zebras' own stripes are black and white (a faint warm tint).
		{"zebras", b, b, 0, 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := ObjectChroma(c.in, c.out)
			if err != nil {
				t.Fatal(err)
			}
			if v < c.min || v > c.max {
				t.Errorf("chroma %.2f, want %g..%g", v, c.min, c.max)
			}
		})
	}
	plain := &data.Image{W: 32, H: 32, C: 3, Pix: make([]uint8, 32*32*3)}
	if _, err := ObjectChroma(plain, plain); err == nil || !strings.Contains(err.Error(), "no object") {
		t.Errorf("an image without objects: %v", err)
	}
}

// trained is one classifier shared by the tests (training it takes
// seconds).
var trained *Classifier

func classifier(t *testing.T) *Classifier {
	t.Helper()
	if trained == nil {
		torch.LockThread()
		c, err := TrainClassifier(context.Background(), ClassifierOptions{Dataset: "blobs2zebras", Size: 64, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		trained = c
	}
	return trained
}

func TestClassifierSeparatesDomains(t *testing.T) {
	c := classifier(t)
	t.Logf("held-out accuracy %.3f", c.Accuracy)
	if c.Accuracy < 0.95 {
		t.Fatalf("held-out accuracy %.3f, want ≥ 0.95", c.Accuracy)
	}
	cases := []struct {
		name  string
		imgs  func(i int) *data.Image
		wantB bool
	}{
		{"real A", func(i int) *data.Image { return draw(t, "blobs2zebras", "testA", 64, i) }, false},
		{"real B", func(i int) *data.Image { return draw(t, "blobs2zebras", "testB", 64, i) }, true},
		// Colour alone must not make a B: greyed blobs are still plain.
		{"greyscale A", func(i int) *data.Image { return draw(t, "blobs2zebras", "testA", 64, i).Gray().RGB() }, false},
		// Another size is resized to the classifier's.
		{"real B at 96", func(i int) *data.Image { return draw(t, "blobs2zebras", "testB", 96, i) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var imgs []*data.Image
			for i := 0; i < 40; i++ {
				imgs = append(imgs, tc.imgs(i))
			}
			isB, err := c.IsB(imgs)
			if err != nil {
				t.Fatal(err)
			}
			right := 0
			for _, b := range isB {
				if b == tc.wantB {
					right++
				}
			}
			if right < 36 {
				t.Errorf("%d of 40 classified right, want ≥ 36", right)
			}
		})
	}
}

func TestClassifierDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a second classifier")
	}
	a := classifier(t)
	b, err := TrainClassifier(context.Background(), ClassifierOptions{Dataset: "blobs2zebras", Size: 64, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if a.Accuracy != b.Accuracy {
		t.Errorf("one seed, accuracies %.4f and %.4f", a.Accuracy, b.Accuracy)
	}
}

// writeResults lays images out as `cyclepix test` does.
func writeResults(t *testing.T, visuals map[string][]*data.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "test_latest")
	for v, imgs := range visuals {
		for i, m := range imgs {
			p := filepath.Join(dir, "images", strings.Repeat("0", 3)+string(rune('0'+i))+"_"+v+".png")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := data.SaveImage(p, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestEvaluate(t *testing.T) {
	clf := classifier(t)
	const n = 8
	var realA, realB, greyB, noisyA []*data.Image
	for i := 0; i < n; i++ {
		a, b := draw(t, "blobs2zebras", "testA", 64, i), draw(t, "blobs2zebras", "testB", 64, i)
		realA, realB = append(realA, a), append(realB, b)
		greyB, noisyA = append(greyB, greyBackground(b)), append(noisyA, addNoise(a, 3))
	}
	var labels, photos []*data.Image
	for i := 0; i < n; i++ {
		p := draw(t, "shapes2photos", "val", 64, i)
		labels, photos = append(labels, p.Crop(0, 0, 64, 64)), append(photos, p.Crop(64, 0, 64, 64))
	}
	cases := []struct {
		name    string
		dataset string
		visuals map[string][]*data.Image
		th      map[string]float64
		fail    []string // the figures that must fail; the others must pass
		skipped []string
	}{
		// A "translation" that changes nothing keeps the background and
		// reconstructs perfectly, but is not striped.
		{"identity", "blobs2zebras", map[string][]*data.Image{"real_A": realA, "fake_B": realA, "rec_A": noisyA, "real_B": realB},
			nil, []string{"fake_B_as_B", "fake_B_blob_chroma"}, nil},
		// Real zebras as fake_B: striped, but the background is another
		// image's; cut-like visuals, so no cycle figure.
		{"other image, no cycle", "blobs2zebras", map[string][]*data.Image{"real_A": realA, "fake_B": realB, "real_B": realB},
			map[string]float64{"fake_B_blob_chroma": 255}, []string{"fake_B_background_error", "fake_B_background_shift"}, []string{"rec_A_psnr", "fake_A_as_A", "rec_B_psnr"}},
		// A threshold given for an unchecked figure checks it.
		{"B→A checked", "blobs2zebras", map[string][]*data.Image{"real_A": realA, "fake_B": realA, "rec_A": realA, "real_B": realB, "fake_A": greyB, "rec_B": realB},
			map[string]float64{"fake_B_as_B": 0, "fake_B_blob_chroma": 255, "fake_A_background_error": 5}, []string{"fake_A_background_error"}, nil},
		{"paired, right", "shapes2photos", map[string][]*data.Image{"real_A": labels, "fake_B": photos, "real_B": photos}, nil, nil, nil},
		{"paired, label map as output", "shapes2photos", map[string][]*data.Image{"real_A": labels, "fake_B": labels, "real_B": photos}, nil, []string{"l1", "psnr", "ssim"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := LoadResults(writeResults(t, tc.visuals))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Evaluate(context.Background(), res, Options{Dataset: tc.dataset, Thresholds: tc.th, Classifier: clf})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range rep.Failures() {
				failed = append(failed, f.Key)
			}
			if strings.Join(failed, ",") != strings.Join(tc.fail, ",") {
				var b strings.Builder
				rep.Write(&b)
				t.Errorf("failed %v, want %v\n%s", failed, tc.fail, b.String())
			}
			var b strings.Builder
			rep.Write(&b)
			out := b.String()
			if len(tc.fail) == 0 && !strings.Contains(out, "PASS: all") {
				t.Errorf("no PASS line:\n%s", out)
			}
			for _, k := range tc.fail {
				if !strings.Contains(rep.Summary(), "FAIL: ") || !strings.Contains(rep.Summary(), k) {
					t.Errorf("summary %q does not name %s", rep.Summary(), k)
				}
			}
			for _, k := range tc.skipped {
				if _, ok := rep.Figure(k); ok || !strings.Contains(out, "skipped: "+k) {
					t.Errorf("%s is not reported as skipped:\n%s", k, out)
				}
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	a := []*data.Image{draw(t, "blobs2zebras", "testA", 32, 0)}
	res, err := LoadResults(writeResults(t, map[string][]*data.Image{"real_A": a, "real_B": a}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Dataset: "horse2zebra"}, `no quality checks for dataset "horse2zebra"`},
		{Options{Dataset: "blobs2zebras", Thresholds: map[string]float64{"fid": 1}}, `unknown figure "fid" for blobs2zebras`},
		{Options{Dataset: "blobs2zebras"}, "not every sample has a *_fake_B image"},
	} {
		if _, err := Evaluate(context.Background(), res, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if _, err := LoadResults(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no <stem>_<visual>.png images") {
		t.Errorf("empty folder: %v", err)
	}
}
