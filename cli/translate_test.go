package cli_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/export"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// tinyArch describes the generators the tests save: small enough that a
// translation takes milliseconds.
var tinyArch = []string{"--netG", "resnet_1blocks", "--ngf", "4"}

// saveTiny writes a random-weight generator of spec to path: a checkpoint,
// or a bundle when path ends in export.BundleExt. It runs on the test
// goroutine while no command is running, so it is the only libtorch user.
func saveTiny(t *testing.T, spec networks.GenSpec, path string, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		g, err := spec.Build()
		if err != nil {
			return err
		}
		torch.ManualSeed(seed)
		for _, p := range nn.Parameters(g) {
			p.Detach().Normal_(0, 0.3)
		}
		if strings.HasSuffix(path, export.BundleExt) {
			return export.SaveBundle(path, g, models.Generator{Net: "G", Spec: spec}, map[string]any{"name": "bundled"})
		}
		return nn.SaveFile(g, path)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var tinySpec = networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 3}

// writeImage writes a w×h gradient as PNG or JPEG (by extension), grey
// when gray is set.
func writeImage(t *testing.T, path string, w, h int, gray bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 7)
		}
		img = g
	} else {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				m.Set(x, y, color.RGBA{uint8(x * 9), uint8(y * 5), uint8(x * y), 255})
			}
		}
		img = m
	}
	var b bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(&b, img, nil)
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageSize decodes path and returns its size and colour model.
func imageSize(t *testing.T, path string) (w, h int, model color.Model) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Width, cfg.Height, cfg.ColorModel
}

func TestTranslateSingleAndFolder(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	saveTiny(t, tinySpec, filepath.Join(ck, "tiny", "latest_net_G.pth"), 1)
	in := filepath.Join(dir, "in")
	writeImage(t, filepath.Join(in, "odd.png"), 13, 9, false)
	writeImage(t, filepath.Join(in, "sub", "photo.jpg"), 40, 24, false)
	writeImage(t, filepath.Join(in, "sub", "deeper", "grey.png"), 17, 31, true)
	writeImage(t, filepath.Join(in, "same1.png"), 16, 16, false)
	writeImage(t, filepath.Join(in, "same2.png"), 16, 16, false)
	model := append([]string{"--checkpoints_dir", ck, "--name", "tiny"}, tinyArch...)

	cases := []struct {
		name  string
		args  []string
		want  map[string][2]int // output file → width, height
		extra []string
	}{
		{"single file", []string{"--input", filepath.Join(in, "odd.png"), "--output", filepath.Join(dir, "o1")},
			map[string][2]int{"o1/odd.png": {13, 9}}, nil},
		{"folder, same names", []string{"--input", in, "--output", filepath.Join(dir, "o2"), "--batch_size", "2"},
			map[string][2]int{"o2/odd.png": {13, 9}, "o2/sub/photo.jpg": {40, 24}, "o2/sub/deeper/grey.png": {17, 31},
				"o2/same1.png": {16, 16}, "o2/same2.png": {16, 16}}, nil},
		{"format png, positional inputs", []string{filepath.Join(in, "sub"), filepath.Join(in, "odd.png"), "--out", filepath.Join(dir, "o3"), "--format", "png", "--tile", "16"},
			map[string][2]int{"o3/sub/photo.png": {40, 24}, "o3/sub/deeper/grey.png": {17, 31}, "o3/odd.png": {13, 9}},
			[]string{"o3/sub/photo.jpg"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := clitest.Run(append(append([]string{"translate"}, model...), c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "loaded G of tiny (resnet_1blocks, ngf 4, norm instance, RGB→RGB channels, eval mode)") {
				t.Errorf("stdout: %s", stdout)
			}
			for f, size := range c.want {
				w, h, cm := imageSize(t, filepath.Join(dir, f))
				if w != size[0] || h != size[1] {
					t.Errorf("%s is %dx%d, want %dx%d", f, w, h, size[0], size[1])
				}
				if cm == color.GrayModel {
					t.Errorf("%s is grey; the generator makes RGB", f)
				}
			}
			for _, f := range c.extra {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s written despite --format", f)
				}
			}
		})
	}
	// Same images, same result whatever the batching.
	a, _ := os.ReadFile(filepath.Join(dir, "o1/odd.png"))
	b, _ := os.ReadFile(filepath.Join(dir, "o2/odd.png"))
	if !bytes.Equal(a, b) {
		t.Error("odd.png differs between a single and a folder run")
	}
	s1, _ := os.ReadFile(filepath.Join(dir, "o2/same1.png"))
	r1 := filepath.Join(dir, "o4")
	if _, stderr, code := clitest.Run(append(append([]string{"translate"}, model...), "--input", filepath.Join(in, "same1.png"), "--output", r1)...); code != 0 {
		t.Fatal(stderr)
	}
	s2, _ := os.ReadFile(filepath.Join(r1, "same1.png"))
	if !bytes.Equal(s1, s2) {
		t.Error("same1.png differs between a batched and a single run")
	}
}

func TestTranslateRunOptionsAndBundle(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	// A CycleGAN run as training leaves it: train_opt.txt records the
	// architecture, so translate needs only --name and --direction.
	o, err := models.BuildOptions(true, append([]string{"--model", "cycle_gan", "--name", "cg", "--input_nc", "1", "--checkpoints_dir", ck}, tinyArch...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Save(filepath.Join(ck, "cg"), "train"); err != nil {
		t.Fatal(err)
	}
	gA, gB := tinySpec, tinySpec
	gA.InputNC, gB.OutputNC = 1, 1
	saveTiny(t, gA, filepath.Join(ck, "cg", "latest_net_G_A.pth"), 2)
	saveTiny(t, gB, filepath.Join(ck, "cg", "latest_net_G_B.pth"), 3)
	img := filepath.Join(dir, "x.png")
	writeImage(t, img, 21, 11, false)

	stdout, stderr, code := clitest.Run("translate", "--checkpoints_dir", ck, "--name", "cg", "--direction", "BtoA", "--input", img, "--output", filepath.Join(dir, "ba"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "loaded G_B of cg (resnet_1blocks, ngf 4, norm instance, RGB→grey channels") {
		t.Errorf("stdout: %s", stdout)
	}
	if w, h, cm := imageSize(t, filepath.Join(dir, "ba", "x.png")); w != 21 || h != 11 || cm != color.GrayModel {
		t.Errorf("BtoA output %dx%d %v, want 21x11 grey", w, h, cm)
	}
	// AtoB converts the RGB input to the grey G_A takes.
	if _, stderr, code := clitest.Run("translate", "--checkpoints_dir", ck, "--name", "cg", img, "--output", filepath.Join(dir, "ab")); code != 0 {
		t.Fatalf("AtoB exit %d: %s", code, stderr)
	}

	// A bundle gives the same pixels as its checkpoint.
	bundle := filepath.Join(dir, "g"+export.BundleExt)
	saveTiny(t, tinySpec, bundle, 4)
	saveTiny(t, tinySpec, filepath.Join(ck, "plain", "latest_net_G.pth"), 4)
	if _, stderr, code := clitest.Run("translate", "--bundle", bundle, img, "--output", filepath.Join(dir, "fromBundle")); code != 0 {
		t.Fatalf("bundle exit %d: %s", code, stderr)
	}
	if _, stderr, code := clitest.Run(append([]string{"translate", "--checkpoints_dir", ck, "--name", "plain", img, "--output", filepath.Join(dir, "fromCkpt")}, tinyArch...)...); code != 0 {
		t.Fatalf("checkpoint exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "fromBundle", "x.png"))
	b, _ := os.ReadFile(filepath.Join(dir, "fromCkpt", "x.png"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("bundle and checkpoint outputs differ")
	}
}

func TestTranslateErrors(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	saveTiny(t, tinySpec, filepath.Join(ck, "tiny", "latest_net_G.pth"), 1)
	good := filepath.Join(dir, "in", "good.png")
	writeImage(t, good, 12, 12, false)
	bad := filepath.Join(dir, "in", "broken.png")
	if err := os.WriteFile(bad, []byte("this is not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "in", "trunc.png")
	full, _ := os.ReadFile(good)
	if err := os.WriteFile(trunc, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	model := append([]string{"--checkpoints_dir", ck, "--name", "tiny"}, tinyArch...)
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing input", append([]string{"--input", filepath.Join(dir, "nope.png"), "--output", out}, model...), []string{"input", "nope.png", "does not exist"}},
		{"no input", append([]string{"--output", out}, model...), []string{"no input"}},
		{"no output", append([]string{good}, model...), []string{"--output DIR is required"}},
		{"unreadable image", append([]string{bad, "--output", out}, model...), []string{"decode image", "broken.png", "not a PNG, JPEG"}},
		{"truncated image", append([]string{trunc, "--output", out}, model...), []string{"decode image", "trunc.png"}},
		{"folder with bad files", append([]string{filepath.Join(dir, "in"), "--output", out}, model...), []string{"2 of 3 images failed", "broken.png"}},
		{"architecture mismatch", []string{"--checkpoints_dir", ck, "--name", "tiny", "--netG", "resnet_1blocks", "--ngf", "8", good, "--output", out},
			[]string{`tensor "model.1.weight" has shape [4 3 7 7] in the checkpoint but [8 3 7 7]`}},
		{"missing checkpoint", []string{"--checkpoints_dir", ck, "--name", "other", good, "--output", out}, []string{"no checkpoint", "latest_net_G.pth", "does not exist"}},
		{"bad format", append([]string{good, "--output", out, "--format", "gif"}, model...), []string{`--format "gif"`}},
		{"overwrite input", append([]string{good, "--output", filepath.Join(dir, "in")}, model...), []string{"would overwrite"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := clitest.Run(append([]string{"translate"}, c.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
			}
			last := strings.TrimSpace(stderr)
			if i := strings.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			if !strings.HasPrefix(last, "cyclepix translate: ") {
				t.Errorf("last stderr line %q is not the one-line error", last)
			}
			for _, w := range c.want {
				if !strings.Contains(last, w) {
					t.Errorf("error %q lacks %q", last, w)
				}
			}
		})
	}
	// The folder run still translated the good image.
	if w, h, _ := imageSize(t, filepath.Join(out, "good.png")); w != 12 || h != 12 {
		t.Errorf("good.png %dx%d", w, h)
	}
	stdout, _, code := clitest.Run("translate", "--help")
	if code != 0 || !strings.Contains(stdout, "--tile") || !strings.Contains(stdout, "--input") || !strings.Contains(stdout, "--model_suffix") {
		t.Errorf("help (exit %d) lacks translate's options:\n%s", code, stdout)
	}
}

// TestServeCommand runs `cyclepix serve` on a CycleGAN run, translates one
// image in each direction over HTTP, and stops it with SIGINT as a user
// would: the command must shut down gracefully and exit 0.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	o, err := models.BuildOptions(true, append([]string{"--model", "cycle_gan", "--name", "cg", "--output_nc", "1", "--checkpoints_dir", ck}, tinyArch...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Save(filepath.Join(ck, "cg"), "train"); err != nil {
		t.Fatal(err)
	}
	gA, gB := tinySpec, tinySpec
	gA.OutputNC, gB.InputNC = 1, 1
	saveTiny(t, gA, filepath.Join(ck, "cg", "latest_net_G_A.pth"), 5)
	saveTiny(t, gB, filepath.Join(ck, "cg", "latest_net_G_B.pth"), 6)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--checkpoints_dir", ck, "--name", "cg,nope"}, "no checkpoint"},
		{[]string{"--bundle", filepath.Join(dir, "missing.bundle.pth")}, "--bundle:"},
		{[]string{"--checkpoints_dir", ck, "--name", "cg", "--addr", "127.0.0.1:99999"}, "--addr"},
		{[]string{"--checkpoints_dir", ck, "--name", "cg", "--queue", "0"}, "must be positive"},
	} {
		if _, stderr, code := clitest.Run(append([]string{"serve"}, c.args...)...); code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 1 and %q", c.args, code, stderr, c.want)
		}
	}

	url, stop := startServe(t, "--checkpoints_dir", ck, "--name", "cg", "--queue", "4")
	var png bytes.Buffer
	path := filepath.Join(dir, "x.png")
	writeImage(t, path, 30, 22, false)
	b, _ := os.ReadFile(path)
	png.Write(b)
	for _, c := range []struct {
		dir  string
		grey bool
	}{{"AtoB", true}, {"BtoA", false}} {
		resp, err := http.Post(url+"/v1/translate?direction="+c.dir, "image/png", bytes.NewReader(png.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", c.dir, resp.StatusCode, err)
		}
		if img.Bounds().Dx() != 30 || img.Bounds().Dy() != 22 || (img.ColorModel() == color.GrayModel) != c.grey {
			t.Errorf("%s: %v %v", c.dir, img.Bounds(), img.ColorModel())
		}
	}
	stdout, stderr := stop()
	if !strings.Contains(stderr, "shutting down") || !strings.Contains(stdout, "loaded cg BtoA: G_B of cg") {
		t.Errorf("stdout %s\nstderr %s", stdout, stderr)
	}
}

// TestTranslateMatchesTest checks translate against `cyclepix test` (the
// reference's test.py path): on sizes that need no padding, with
// --preprocess none and --eval, both must write the same bytes.
func TestTranslateMatchesTest(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	saveTiny(t, tinySpec, filepath.Join(ck, "run", "latest_net_G.pth"), 8)
	in := filepath.Join(dir, "in")
	writeImage(t, filepath.Join(in, "a.png"), 24, 16, false)
	writeImage(t, filepath.Join(in, "b.png"), 32, 32, false)
	model := append([]string{"--checkpoints_dir", ck, "--name", "run", "--no_dropout"}, tinyArch...)
	if _, stderr, code := clitest.Run(append([]string{"test", "--dataroot", in, "--preprocess", "none", "--eval", "--results_dir", filepath.Join(dir, "res"), "--num_test", "all"}, model...)...); code != 0 {
		t.Fatalf("test: %s", stderr)
	}
	if _, stderr, code := clitest.Run(append([]string{"translate", in, "--output", filepath.Join(dir, "tr")}, model...)...); code != 0 {
		t.Fatalf("translate: %s", stderr)
	}
	for _, n := range []string{"a", "b"} {
		want, err := os.ReadFile(filepath.Join(dir, "res", "run", "test_latest", "images", n+"_fake.png"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "tr", n+".png"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: translate's output differs from test's (%v)", n, err)
		}
	}
}
