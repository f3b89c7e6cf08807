package train

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"cyclepix/data/builtin"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

var (
	dsOnce sync.Once
	dsDirs map[string]string
)

// datasets makes tiny built-in datasets once per test binary.
func datasets(t *testing.T) map[string]string {
	dsOnce.Do(func() {
		root, err := os.MkdirTemp("", "cyclepix-train-test")
		if err != nil {
			t.Fatal(err)
		}
		dsDirs = map[string]string{}
		for _, n := range []string{"blobs2zebras", "shapes2photos"} {
			d := filepath.Join(root, n)
			if _, err := builtin.Generate(context.Background(), n, d, builtin.Options{Size: 32, NumTrain: 6, NumTest: 3, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			dsDirs[n] = d
		}
	})
	return dsDirs
}

func tinyArgs(t *testing.T, model, ckpt string, extra ...string) []string {
	ds := datasets(t)
	args := []string{"--checkpoints_dir", ckpt, "--name", "run", "--seed", "7", "--num_threads", "2",
		"--ngf", "4", "--ndf", "4", "--load_size", "36", "--crop_size", "32", "--print_freq", "2", "--display_freq", "4"}
	switch model {
	case "cycle_gan":
		args = append(args, "--dataroot", ds["blobs2zebras"], "--netG", "resnet_1blocks", "--pool_size", "3")
	case "pix2pix":
		args = append(args, "--model", "pix2pix", "--dataroot", ds["shapes2photos"], "--netG", "unet_32")
	}
	return append(args, extra...)
}

// stopAfter closes stop at the n-th loss report or at the end of epoch
// `epoch`, to simulate Ctrl-C.
type stopAfter struct {
	losses, epoch int
	seen          int
	stop          chan struct{}
	once          sync.Once
}

func (s *stopAfter) Losses(LossEvent) {
	s.seen++
	if s.losses > 0 && s.seen == s.losses {
		s.once.Do(func() { close(s.stop) })
	}
}
func (s *stopAfter) Visuals(int, int, []NamedFile) {}
func (s *stopAfter) EpochEnd(epoch int, _ float64, _ float64) {
	if s.epoch > 0 && epoch == s.epoch {
		s.once.Do(func() { close(s.stop) })
	}
}

func trainRun(t *testing.T, args []string, stop *stopAfter) error {
	t.Helper()
	o, err := ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Out: io.Discard}
	if stop != nil {
		stop.stop = make(chan struct{})
		cfg.Stop = stop.stop
		cfg.Observers = []Observer{stop}
	}
	return Train(o, cfg)
}

func weights(t *testing.T, dir string, nets ...string) map[string][]float32 {
	t.Helper()
	return labelWeights(t, dir, "latest", nets...)
}

// labelWeights reads <label>_net_<net>.pth of run "run" under dir.
func labelWeights(t *testing.T, dir, label string, nets ...string) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, n := range nets {
		sd, keys, err := nn.ReadStateDict(filepath.Join(dir, "run", label+"_net_"+n+".pth"))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			out[n+"."+k] = sd[k].To(torch.Float32).Float32s()
		}
		nn.FreeAll(sd)
	}
	return out
}

func sameWeights(t *testing.T, a, b map[string][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d tensors", len(a), len(b))
	}
	for k, x := range a {
		y := b[k]
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("%s[%d]: %v straight vs %v resumed", k, i, x[i], y[i])
			}
		}
	}
}

// Training 2 epochs straight and stopping + resuming (at an epoch boundary
// and mid-epoch, shuffled data, image pool in use) give bit-identical
// weights.
func TestResumeIsExact(t *testing.T) {
	cases := []struct {
		name  string
		model string
		nets  []string
		// stop after this many loss reports, or at the end of this epoch
		losses, epoch int
	}{
		{"cycle_gan epoch boundary", "cycle_gan", []string{"G_A", "G_B", "D_A", "D_B"}, 0, 1},
		{"cycle_gan mid-epoch", "cycle_gan", []string{"G_A", "G_B", "D_A", "D_B"}, 2, 0},
		{"pix2pix mid-epoch", "pix2pix", []string{"G", "D"}, 4, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// As cyclepix's main goroutine is, so that libtorch's
			// per-thread state stays the same (see torch/init.go).
			runtime.LockOSThread()
			epochs := []string{"--n_epochs", "1", "--n_epochs_decay", "1"}
			straight := t.TempDir()
			if err := trainRun(t, tinyArgs(t, c.model, straight, epochs...), nil); err != nil {
				t.Fatal(err)
			}
			resumed := t.TempDir()
			stop := &stopAfter{losses: c.losses, epoch: c.epoch}
			if err := trainRun(t, tinyArgs(t, c.model, resumed, epochs...), stop); !errors.Is(err, ErrStopped) {
				t.Fatalf("first part: %v, want ErrStopped", err)
			}
			if err := trainRun(t, tinyArgs(t, c.model, resumed, append(epochs, "--continue_train")...), nil); err != nil {
				t.Fatal(err)
			}
			sameWeights(t, weights(t, straight, c.nets...), weights(t, resumed, c.nets...))
			log, _ := os.ReadFile(filepath.Join(resumed, "run", "loss_log.txt"))
			if strings.Count(string(log), "Training Loss") != 2 {
				t.Errorf("loss log should have two run headers:\n%s", log)
			}
		})
	}
}

func TestTrainWritesOutputs(t *testing.T) {
	dir := t.TempDir()
	if err := trainRun(t, tinyArgs(t, "cycle_gan", dir, "--n_epochs", "1", "--n_epochs_decay", "0", "--save_epoch_freq", "1"), nil); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	for _, f := range []string{"train_opt.txt", "loss_log.txt", "latest_net_G_A.pth", "1_net_D_B.pth", "latest_state.pth",
		"web/index.html", "web/images/epoch001_fake_B.png", "web/images/epoch001_idt_A.png"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	opt, _ := os.ReadFile(filepath.Join(run, "train_opt.txt"))
	if !strings.Contains(string(opt), "lambda_identity: 0.5") || !strings.Contains(string(opt), "[default: 64]") {
		t.Errorf("train_opt.txt lacks model options or defaults:\n%s", opt)
	}
	log, _ := os.ReadFile(filepath.Join(run, "loss_log.txt"))
	if !bytes.Contains(log, []byte("(epoch: 1, iters: 2, time: ")) || !bytes.Contains(log, []byte(", D_A: ")) {
		t.Errorf("loss log format:\n%s", log)
	}
	page, _ := os.ReadFile(filepath.Join(run, "web", "index.html"))
	if !bytes.Contains(page, []byte("epoch [1]")) || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("index.html lacks the epoch row or the loss plot")
	}

	// test.py on the result: one page, images per visual.
	o, err := ParseOptions(false, []string{"--dataroot", datasets(t)["blobs2zebras"], "--checkpoints_dir", dir, "--name", "run",
		"--results_dir", filepath.Join(dir, "results"), "--ngf", "4", "--netG", "resnet_1blocks", "--model", "cycle_gan",
		"--dataset_mode", "unaligned", "--num_test", "all", "--batch_size", "2", "--crop_size", "32"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := Test(o, io.Discard); err != nil {
		t.Fatal(err)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "results", "run", "test_latest", "images", "*_fake_B.png"))
	if len(imgs) != 3 {
		t.Errorf("%d fake_B results, want 3 (all test images)", len(imgs))
	}
}

func TestTrainErrors(t *testing.T) {
	ds := datasets(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no dataroot", []string{"--name", "x"}, "--dataroot is required"},
		{"missing folder", []string{"--dataroot", "/nonexistent/ds"}, "/nonexistent/ds"},
		{"continue without checkpoint", []string{"--dataroot", ds["blobs2zebras"], "--continue_train"}, "--continue_train: no checkpoint"},
		{"crop larger than load", []string{"--dataroot", ds["blobs2zebras"], "--load_size", "30", "--crop_size", "32"}, "--crop_size 32 is larger than --load_size 30"},
		{"bad netG", []string{"--dataroot", ds["blobs2zebras"], "--netG", "unet_100"}, "--netG"},
		{"bad model", []string{"--dataroot", ds["blobs2zebras"], "--model", "stylegan"}, "--model \"stylegan\""},
		{"crop size unfit for the U-Net", []string{"--dataroot", ds["blobs2zebras"], "--netG", "unet_256", "--load_size", "36", "--crop_size", "32"}, "--crop_size 32 does not fit --netG unet_256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--checkpoints_dir", t.TempDir(), "--n_epochs", "1", "--n_epochs_decay", "0"}, c.args...)
			o, err := ParseOptions(true, args, io.Discard)
			if err == nil {
				err = Train(o, Config{Out: io.Discard})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, c.want)
			}
		})
	}
}

// Every registered training model runs an epoch and its test run writes
// every visual.
func TestEveryModelTrainsAndTests(t *testing.T) {
	ds := datasets(t)
	colorRoot := t.TempDir()
	for _, phase := range []string{"train", "test"} {
		src, _ := filepath.Glob(filepath.Join(ds["blobs2zebras"], phase+"B", "*.png"))
		os.MkdirAll(filepath.Join(colorRoot, phase), 0o755)
		for _, f := range src {
			b, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(colorRoot, phase, filepath.Base(f)), b, 0o644)
		}
	}
	cases := []struct {
		model, dataroot  string
		extra, trainOnly []string
		visuals          []string
	}{
		{"cycle_gan", ds["blobs2zebras"], []string{"--netG", "resnet_1blocks"}, []string{"--gan_mode", "wgangp"}, []string{"real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"}},
		{"pix2pix", ds["shapes2photos"], []string{"--netG", "unet_32", "--netD", "pixel"}, []string{"--lr_policy", "cosine"}, []string{"real_A", "fake_B", "real_B"}},
		{"colorization", colorRoot, []string{"--netG", "unet_32", "--netD", "n_layers", "--n_layers_D", "2"}, nil, []string{"real_A", "real_B_rgb", "fake_B_rgb"}},
		{"template", ds["shapes2photos"], []string{"--netG", "unet_32"}, []string{"--lr_policy", "step"}, []string{"data_A", "data_B", "output"}},
		// pix2pixHD's multi-scale D, feature matching and VGG loss in pix2pix.
		{"pix2pix", ds["shapes2photos"], []string{"--netG", "unet_32", "--netD", "multiscale", "--n_layers_D", "2"},
			[]string{"--num_D", "3", "--lambda_feat", "10", "--lambda_vgg", "1", "--vgg19", randomVGG19(t)}, []string{"real_A", "fake_B", "real_B"}},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			dir := t.TempDir()
			common := append([]string{"--model", c.model, "--dataroot", c.dataroot, "--checkpoints_dir", dir, "--name", "m",
				"--ngf", "4", "--ndf", "4", "--crop_size", "32", "--seed", "3"}, c.extra...)
			trainArgs := append(append(append([]string{}, common...), c.trainOnly...), "--load_size", "36", "--n_epochs", "1", "--n_epochs_decay", "0", "--display_freq", "2")
			o, err := ParseOptions(true, trainArgs, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := Train(o, Config{Out: io.Discard}); err != nil {
				t.Fatal(err)
			}
			o, err = ParseOptions(false, append(common, "--results_dir", filepath.Join(dir, "res"), "--num_test", "2"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := Test(o, io.Discard); err != nil {
				t.Fatal(err)
			}
			for _, v := range c.visuals {
				m, _ := filepath.Glob(filepath.Join(dir, "res", "m", "test_latest", "images", "*_"+v+".png"))
				if len(m) != 2 {
					t.Errorf("%d %s results, want 2", len(m), v)
				}
			}
		})
	}
}

// randomVGG19 writes a VGG19 with random weights in torchvision's layout.
func randomVGG19(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vgg19.pth")
	if err := networks.WriteRandomVGG19(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// --eval_freq scores the held-out split each epoch, logs it and feeds the
// plateau policy.
func TestEvalFreq(t *testing.T) {
	dir := t.TempDir()
	args := append(tinyArgs(t, "pix2pix", dir), "--n_epochs", "2", "--n_epochs_decay", "0", "--eval_freq", "1",
		"--eval_phase", "test", "--lr_policy", "plateau")
	if err := trainRun(t, args, nil); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "run", "metrics_log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(epoch: 1) held-out", "(epoch: 2) held-out", "l1: ", "psnr: ", "ssim: "} {
		if !strings.Contains(string(log), want) {
			t.Errorf("metrics log lacks %q:\n%s", want, log)
		}
	}
	_, err = ParseOptions(true, append(tinyArgs(t, "cycle_gan", dir), "--eval_freq", "1"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ParseOptions(true, append(tinyArgs(t, "cycle_gan", t.TempDir()), "--eval_freq", "1", "--eval_phase", "test"), io.Discard)
	if err := Train(o, Config{Out: io.Discard}); err == nil || !strings.Contains(err.Error(), "--inception") {
		t.Errorf("cycle_gan --eval_freq without --inception: %v", err)
	}
}
