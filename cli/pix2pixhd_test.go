package cli_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
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
	"cyclepix/train"
)

// hdLabelNC is the class count of the tiny pix2pixHD datasets.
const hdLabelNC = 4

func init() {
	datasetWriters["pix2pixhd"] = writeHDDataset
	conformanceFlags["pix2pixhd"] = []string{"--netG", "global", "--ngf", "4", "--ndf", "4", "--n_downsample_global", "2",
		"--n_blocks_global", "1", "--n_layers_D", "2", "--label_nc", fmt.Sprint(hdLabelNC), "--loadSize", "32", "--fineSize", "32",
		"--resize_or_crop", "none", "--no_vgg_loss"}
}

// writeHDDataset writes pix2pixHD's layout: 8-bit label maps of
// hdLabelNC classes, 16-bit instance maps (two touching things of class
// 3, ids 3000 and 3001) and RGB images, train and test.
func writeHDDataset(t *testing.T, root string) {
	for _, phase := range []string{"train", "test"} {
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("%d.png", i)
			writeLabelMap(t, filepath.Join(root, phase+"_label", name), 32, 32, i)
			writeInstanceMap(t, filepath.Join(root, phase+"_inst", name), 32, 32, i)
			writeImage(t, filepath.Join(root, phase+"_img", name), 32, 32, false)
		}
	}
}

// hdClass is the tiny scenes' layout: sky (0) above, ground (1) below,
// a band of grass (2) and a block of class 3 split into two instances.
func hdClass(x, y, w, h, shift int) (class, inst int) {
	switch {
	case y < h/3:
		return 0, 0
	case x >= w/4+shift && x < 3*w/4+shift && y < 2*h/3:
		if x < w/2+shift {
			return 3, 3000
		}
		return 3, 3001
	case y >= 5*h/6:
		return 2, 2
	}
	return 1, 1
}

func writeLabelMap(t *testing.T, path string, w, h, shift int) {
	t.Helper()
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c, _ := hdClass(x, y, w, h, shift)
			m.Pix[y*w+x] = uint8(c)
		}
	}
	writePNG(t, path, m)
}

func writeInstanceMap(t *testing.T, path string, w, h, shift int) {
	t.Helper()
	m := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			_, id := hdClass(x, y, w, h, shift)
			m.SetGray16(x, y, color.Gray16{Y: uint16(id)})
		}
	}
	writePNG(t, path, m)
}

func writePNG(t *testing.T, path string, m image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRandomVGG19 writes a VGG19 state dict with random weights in
// torchvision's layout (features.N.*), for the VGG loss.
func writeRandomVGG19(t *testing.T, path string) {
	t.Helper()
	torch.ManualSeed(11)
	if err := networks.WriteRandomVGG19(path); err != nil {
		t.Fatal(err)
	}
}

// TestPix2PixHDEndToEnd trains pix2pixhd variants the conformance test's
// global generator with instance maps leaves out, each straight and
// stopped after its first epoch and resumed (bit-identical), then tests,
// translates and exports them: a local enhancer with --niter_fix_global
// (its global part must stay at its initial weights through the first
// epoch and train after), the feature encoder with the VGG loss (then
// encode_features, and translate from the checkpoint and from a bundle
// alike), image inputs in the aligned layout, and --load_pretrain from a
// global run into a local one.
func TestPix2PixHDEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	torch.LockThread()
	dir := t.TempDir()
	hdData := filepath.Join(dir, "hd")
	writeHDDataset(t, hdData)
	aligned := filepath.Join(dir, "aligned")
	datasetWriters["aligned"](t, aligned)
	vgg := filepath.Join(dir, "vgg19.pth")
	writeRandomVGG19(t, vgg)
	ck := filepath.Join(dir, "ck")
	tiny := []string{"--model", "pix2pixhd", "--checkpoints_dir", ck, "--seed", "5", "--ndf", "4", "--n_layers_D", "2",
		"--niter", "1", "--niter_decay", "1", "--num_threads", "1", "--print_freq", "2", "--display_freq", "2",
		"--save_epoch_freq", "1", "--loadSize", "32", "--fineSize", "32", "--resize_or_crop", "none"}
	labels := []string{"--dataroot", hdData, "--label_nc", fmt.Sprint(hdLabelNC)}

	cases := []struct {
		name  string
		flags []string
		input string // what translate reads: "labels" or "image"
	}{
		{"local_fix_global", append([]string{"--netG", "local", "--ngf", "4", "--n_downsample_global", "1", "--n_blocks_global", "1",
			"--n_local_enhancers", "1", "--n_blocks_local", "1", "--niter_fix_global", "1", "--no_instance", "--no_vgg_loss"}, labels...), "labels"},
		{"encoder_vgg", append([]string{"--netG", "global", "--ngf", "4", "--n_downsample_global", "2", "--n_blocks_global", "1",
			"--instance_feat", "--nef", "4", "--n_downsample_E", "2", "--feat_num", "2", "--n_clusters", "2", "--vgg19", vgg}, labels...), "labels"},
		{"images_aligned", []string{"--dataroot", aligned, "--dataset_mode", "aligned", "--label_nc", "0", "--no_instance", "--no_vgg_loss",
			"--netG", "global", "--ngf", "4", "--n_downsample_global", "2", "--n_blocks_global", "1", "--no_lsgan"}, "image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := func(run string, extra ...string) []string {
				return append(append(append([]string{"--name", run}, tiny...), c.flags...), extra...)
			}
			trainOnce(t, args(c.name), train.Config{Out: io.Discard}, nil)
			trainOnce(t, args(c.name+"_resumed"), newEpochStop().config(), train.ErrStopped)
			trainOnce(t, args(c.name+"_resumed", "--continue_train"), train.Config{Out: io.Discard}, nil)
			sameCheckpoints(t, filepath.Join(ck, c.name), filepath.Join(ck, c.name+"_resumed"))
			run := []string{"--checkpoints_dir", ck, "--name", c.name}

			if c.name == "local_fix_global" {
				checkGlobalFixed(t, args(c.name), filepath.Join(ck, c.name))
			}
			if c.name == "encoder_vgg" {
				if _, stderr, code := clitest.Run(append([]string{"encode_features", "--dataroot", hdData, "--resize_or_crop", "none"}, run...)...); code != 0 {
					t.Fatalf("encode_features: %s", stderr)
				}
				cl, err := models.ReadClusters(filepath.Join(ck, c.name, "features_clustered_002.json"))
				if err != nil || len(cl) == 0 {
					t.Fatalf("clusters: %v %v", cl, err)
				}
				for l, centres := range cl {
					if len(centres) == 0 || len(centres) > 2 || len(centres[0]) != 2 {
						t.Errorf("label %d: %d centres of %d values, want 1-2 of 2", l, len(centres), len(centres[0]))
					}
				}
			}

			dataset := []string{"--dataroot", hdData}
			if c.input == "image" {
				dataset = []string{"--dataroot", aligned, "--dataset_mode", "aligned"}
			}
			res := filepath.Join(dir, "res_"+c.name)
			if _, stderr, code := clitest.Run(append(append([]string{"test", "--results_dir", res, "--num_test", "all",
				"--resize_or_crop", "none"}, dataset...), run...)...); code != 0 {
				t.Fatalf("test: %s", stderr)
			}
			if pngs, _ := filepath.Glob(filepath.Join(res, c.name, "test_latest", "images", "*_fake_B.png")); len(pngs) != 3 {
				t.Errorf("test wrote %d fake_B images, want 3", len(pngs))
			}

			in := filepath.Join(dir, c.name+"_in.png")
			trArgs := []string{in}
			if c.input == "labels" {
				writeLabelMap(t, in, 36, 28, 1)
				inst := filepath.Join(dir, c.name+"_inst.png")
				writeInstanceMap(t, inst, 36, 28, 1)
				trArgs = append(trArgs, "--inst", inst)
			} else {
				writeImage(t, in, 36, 28, false)
			}
			out := filepath.Join(dir, "tr_"+c.name)
			if _, stderr, code := clitest.Run(append(append([]string{"translate", "--output", out}, trArgs...), run...)...); code != 0 {
				t.Fatalf("translate: %s", stderr)
			}
			if w, h, _ := imageSize(t, filepath.Join(out, filepath.Base(in))); w != 36 || h != 28 {
				t.Errorf("translated image is %dx%d, want 36x28", w, h)
			}
			bundle := filepath.Join(dir, c.name+export.BundleExt)
			for _, f := range []struct{ format, path string }{{"onnx", filepath.Join(dir, c.name+".onnx")}, {"bundle", bundle}} {
				if _, stderr, code := clitest.Run(append([]string{"export", "--format", f.format, "--out", f.path}, run...)...); code != 0 {
					t.Fatalf("export %s: %s", f.format, stderr)
				}
			}
			fromBundle := filepath.Join(dir, "trb_"+c.name)
			if _, stderr, code := clitest.Run(append([]string{"translate", "--bundle", bundle, "--output", fromBundle}, trArgs...)...); code != 0 {
				t.Fatalf("translate --bundle: %s", stderr)
			}
			a, _ := os.ReadFile(filepath.Join(out, filepath.Base(in)))
			b, _ := os.ReadFile(filepath.Join(fromBundle, filepath.Base(in)))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Error("the bundle translates differently from the checkpoint")
			}
		})
	}

	// --load_pretrain: a local run (ngf 4: its global part has ngf 8)
	// starts from a global run of ngf 8 (matched by name and shape) and,
	// with the global part fixed through its only epoch, keeps it.
	t.Run("load_pretrain", func(t *testing.T) {
		global := append(append([]string{"--name", "pre_global"}, tiny...), append([]string{"--netG", "global", "--ngf", "8",
			"--n_downsample_global", "1", "--n_blocks_global", "1", "--no_instance", "--no_vgg_loss"}, labels...)...)
		trainOnce(t, global, train.Config{Out: io.Discard}, nil)
		local := append(append([]string{"--name", "pre_local"}, tiny...), append([]string{"--netG", "local", "--ngf", "4",
			"--n_downsample_global", "1", "--n_blocks_global", "1", "--n_local_enhancers", "1", "--n_blocks_local", "1",
			"--niter_fix_global", "1", "--no_instance", "--no_vgg_loss", "--load_pretrain", filepath.Join(ck, "pre_global"),
			"--niter", "1", "--niter_decay", "0"}, labels...)...)
		trainOnce(t, local, train.Config{Out: io.Discard}, nil)
		pre, _, err := nn.ReadStateDict(filepath.Join(ck, "pre_global", "latest_net_G.pth"))
		if err != nil {
			t.Fatal(err)
		}
		defer nn.FreeAll(pre)
		got, keys, err := nn.ReadStateDict(filepath.Join(ck, "pre_local", "latest_net_G.pth"))
		if err != nil {
			t.Fatal(err)
		}
		defer nn.FreeAll(got)
		shared := 0
		for _, k := range keys {
			if p := pre[k]; p != nil && fmt.Sprint(p.Shape()) == fmt.Sprint(got[k].Shape()) {
				shared++
				if fmt.Sprint(p.Float32s()) != fmt.Sprint(got[k].Float32s()) {
					t.Errorf("%s: the pretrained weights did not carry over (or the fixed global part trained)", k)
				}
			}
		}
		if shared < 10 {
			t.Errorf("only %d tensors shared by name and shape between the global and the local run", shared)
		}
	})
}

// checkGlobalFixed: with --niter_fix_global 1 the global part (model.*)
// after epoch 1 is still the initial one, and epoch 2 trains it.
func checkGlobalFixed(t *testing.T, args []string, runDir string) {
	t.Helper()
	o, err := train.ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	initial := map[string][]float32{}
	err = torch.TryErr(func() error {
		defer torch.NewScope().Close()
		// Train seeds libtorch's generator with --seed before building the
		// model: the same weights.
		torch.ManualSeed(uint64(o.Int("seed")))
		def, _ := models.Lookup("pix2pixhd")
		m, err := def.New(o, models.Env{Device: torch.CPU, Rng: rand.New(rand.NewPCG(1, 2))})
		if err != nil {
			return err
		}
		for _, e := range nn.StateDict(m.Base().Nets["G"]) {
			initial[e.Name] = e.Tensor.Float32s()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func(label string) map[string][]float32 {
		sd, keys, err := nn.ReadStateDict(filepath.Join(runDir, label+"_net_G.pth"))
		if err != nil {
			t.Fatal(err)
		}
		defer nn.FreeAll(sd)
		out := map[string][]float32{}
		for _, k := range keys {
			out[k] = sd[k].Float32s()
		}
		return out
	}
	e1, e2 := read("1"), read("2")
	global, enhancer := 0, 0
	for k, v := range initial {
		if !strings.HasSuffix(k, "weight") {
			// Biases before an instance norm have no gradient.
			continue
		}
		same1 := fmt.Sprint(v) == fmt.Sprint(e1[k])
		same2 := fmt.Sprint(v) == fmt.Sprint(e2[k])
		switch {
		case len(k) > 6 && k[:6] == "model.":
			global++
			if !same1 {
				t.Errorf("%s changed in epoch 1, while the global generator is fixed", k)
			}
			if same2 {
				t.Errorf("%s did not train in epoch 2 (pix2pixHD's own train.py never fine-tunes it; cyclepix does)", k)
			}
		default:
			enhancer++
			if same1 {
				t.Errorf("%s did not train in epoch 1", k)
			}
		}
	}
	if global == 0 || enhancer == 0 {
		t.Fatalf("%d global and %d enhancer tensors", global, enhancer)
	}
}
