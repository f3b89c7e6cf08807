package cli_test

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// TestTestMatchesReferenceOnJPEG runs `cyclepix test` on JPEG photographs
// (scikit-image's samples in several JPEG variants, a greyscale and a CMYK
// one among them) and, on the same files and checkpoint, the reference's
// test path in PyTorch: Pillow decoding, BICUBIC resize, a generator of
// the reference's architecture, tensor2im. The output images must agree
// within one level: the decoders are the same library with the same
// settings, so only float rounding differs.
func TestTestMatchesReferenceOnJPEG(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch", "PIL", "skimage")
	dir := t.TempDir()
	in, ref := filepath.Join(dir, "photos"), filepath.Join(dir, "ref")
	script := "testdata/reference_test_jpeg.py"
	testsupport.RunPythonFile(t, script, "photos", in)
	weights := filepath.Join(dir, "ck", "run", "latest_net_G.pth")
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		torch.ManualSeed(5)
		g, err := networks.NewGenerator(networks.GOptions{InputNC: 3, OutputNC: 3, NGF: 8, NetG: "resnet_6blocks",
			Norm: networks.NormInstance, InitType: "normal", InitGain: 0.02})
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(weights), 0o755); err != nil {
			return err
		}
		return nn.SaveFile(g, weights)
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := `{"net": "resnet_6blocks", "in": 3, "out": 3, "nf": 8, "norm": "instance", "dropout": false}`
	testsupport.RunPythonFile(t, script, "run", spec, weights, "96", in, ref)
	res := filepath.Join(dir, "res")
	if _, stderr, code := clitest.Run("test", "--dataroot", in, "--model", "test", "--name", "run", "--checkpoints_dir", filepath.Join(dir, "ck"),
		"--netG", "resnet_6blocks", "--ngf", "8", "--no_dropout", "--load_size", "96", "--crop_size", "96",
		"--results_dir", res, "--num_test", "all"); code != 0 {
		t.Fatalf("cyclepix test: %s", stderr)
	}
	names, _ := filepath.Glob(filepath.Join(ref, "*_fake.png"))
	if len(names) != 6 {
		t.Fatalf("%d reference outputs, want 6", len(names))
	}
	for _, want := range names {
		got := filepath.Join(res, "run", "test_latest", "images", filepath.Base(want))
		maxd, mean := pngDiff(t, got, want)
		t.Logf("%s: max %d, mean %.4f levels", filepath.Base(want), maxd, mean)
		if maxd > 1 {
			t.Errorf("%s: cyclepix test differs from the reference by up to %d levels (mean %.4f)", strings.TrimSuffix(filepath.Base(want), "_fake.png"), maxd, mean)
		}
	}
}

// pngDiff returns the largest and the mean absolute difference of two
// 8-bit RGB PNGs of one size.
func pngDiff(t *testing.T, a, b string) (int, float64) {
	t.Helper()
	read := func(p string) image.Image {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := png.Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return m
	}
	ma, mb := read(a), read(b)
	if ma.Bounds() != mb.Bounds() {
		t.Fatalf("%s is %v, %s is %v", a, ma.Bounds(), b, mb.Bounds())
	}
	maxd, sum, n := 0, 0, 0
	r := ma.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca, cb := ma.At(x, y), mb.At(x, y)
			ra, ga, ba, _ := ca.RGBA()
			rb, gb, bb, _ := cb.RGBA()
			for _, d := range []int{int(ra>>8) - int(rb>>8), int(ga>>8) - int(gb>>8), int(ba>>8) - int(bb>>8)} {
				d = max(d, -d)
				maxd = max(maxd, d)
				sum += d
				n++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return maxd, float64(sum) / float64(n)
}
