package gan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cyclepix/gan/mnist"
	"cyclepix/internal/testsupport/torchtest"
	"cyclepix/nn"
	"cyclepix/torch"
	"cyclepix/viz"
)

var (
	dataOnce          sync.Once
	trainAll, testAll *mnist.Set
	dataErr           error

	lenetOnce sync.Once
	lenet     *LeNet
	lenetAcc  float64
	lenetErr  error
)

func sets(t *testing.T) (train, test *mnist.Set) {
	t.Helper()
	dataOnce.Do(func() { trainAll, testAll, dataErr = mnist.Load() })
	if dataErr != nil {
		t.Fatal(dataErr)
	}
	return trainAll, testAll
}

// classifier trains a LeNet once for the tests on a subset (a couple of
// seconds): good enough to check that scoring works, not for real scores.
func classifier(t *testing.T) *LeNet {
	t.Helper()
	train, test := sets(t)
	lenetOnce.Do(func() {
		lenet, lenetAcc, lenetErr = TrainClassifier(context.Background(), ClassifierConfig{
			Epochs: 2, BatchSize: 32, LR: 1e-3, Seed: 1, Train: train.Subset(4000), Test: test.Subset(1000)})
	})
	if lenetErr != nil {
		t.Fatal(lenetErr)
	}
	return lenet
}

func TestClassifier(t *testing.T) {
	net := classifier(t)
	if lenetAcc < 0.9 {
		t.Fatalf("LeNet trained on 4000 digits classifies %.1f%% of 1000 test digits right, want ≥ 90%%", 100*lenetAcc)
	}
	// Saved weights load back into an equal classifier (and name the way
	// to make them when missing).
	path := filepath.Join(t.TempDir(), "lenet.pth")
	if err := nn.SaveFile(net, path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadClassifier(path)
	if err != nil {
		t.Fatal(err)
	}
	_, test := sets(t)
	if a, b := Accuracy(net, test.Subset(500)), Accuracy(back, test.Subset(500)); a != b {
		t.Fatalf("accuracy %g before saving, %g after loading", a, b)
	}
	_, err = LoadClassifier(filepath.Join(t.TempDir(), "none.pth"))
	if !errors.Is(err, ErrNoClassifier) || !strings.Contains(err.Error(), "cyclepix gan classifier") {
		t.Fatalf("missing weights: error %v", err)
	}
}

func TestArchitectures(t *testing.T) {
	defer torch.NewScope().Close()
	for _, c := range []struct {
		model   string
		gParams int64
		keys    []string // some state-dict keys PyTorch would use
	}{
		// Linear 100·128+128, 128·256+256, BN 2·256, 256·512+512, BN 2·512,
		// 512·1024+1024, BN 2·1024, 1024·784+784.
		{"gan", 1510032, []string{"model.0.weight", "model.3.running_var", "model.11.bias"}},
		// Linear 110·128+128, 128·256+256, BN 2·256, 256·512+512, BN 2·512,
		// 512·784+784.
		{"cgan", 582544, []string{"model.0.weight", "model.3.weight", "model.8.bias"}},
		{"dcgan", 0, []string{"l1.0.weight", "conv_blocks.0.running_mean", "conv_blocks.8.weight"}},
	} {
		t.Run(c.model, func(t *testing.T) {
			p, err := newPair(c.model, 100, 28)
			if err != nil {
				t.Fatal(err)
			}
			if c.gParams > 0 && nn.NumParams(p.G) != c.gParams {
				t.Errorf("G has %d parameters, want %d", nn.NumParams(p.G), c.gParams)
			}
			have := map[string]bool{}
			for _, e := range nn.StateDict(p.G) {
				have[e.Name] = true
			}
			for _, k := range c.keys {
				if !have[k] {
					t.Errorf("G has no state-dict key %q", k)
				}
			}
			nn.SetTraining(p.G, false)
			nn.SetTraining(p.D, false)
			torch.NoGrad(func() {
				img := p.sample([]int64{0, 1, 2})
				if s := img.Shape(); len(s) != 4 || s[0] != 3 || s[1] != 1 || s[2] != 28 || s[3] != 28 {
					t.Fatalf("G makes %v, want [3 1 28 28]", s)
				}
				var oh *torch.Tensor
				if p.conditional() {
					oh = oneHot(torch.FromInt64([]int64{0, 1, 2}, 3))
				}
				d := p.discriminate(img, oh)
				if s := d.Shape(); len(s) != 2 || s[0] != 3 || s[1] != 1 {
					t.Fatalf("D gives %v, want [3 1]", s)
				}
				if lo, hi := d.Min().Item(), d.Max().Item(); lo <= 0 || hi >= 1 {
					t.Fatalf("D's outputs span [%g, %g], want probabilities", lo, hi)
				}
			})
		})
	}
	if _, err := newPair("wgan", 100, 28); err == nil {
		t.Fatal("unknown model: no error")
	}
}

func baseConfig(t *testing.T, model string, subset int) Config {
	train, test := sets(t)
	return Config{Model: model, LatentDim: 32, Epochs: 1, BatchSize: 32, LR: 2e-4, Beta1: 0.5, Seed: 7,
		Dir: t.TempDir(), EvalSamples: 200, PrintFreq: 50, Train: train.Subset(subset), Test: test.Subset(500)}
}

// TestModelsLearn trains each model for a few hundred steps on a subset:
// the losses must move away from their starting values, the samples must
// differ from one another, and the epoch outputs must be written.
func TestModelsLearn(t *testing.T) {
	for _, c := range []struct {
		model  string
		steps  int
		batch  int
		lr     float64
		subset int
	}{
		{"gan", 200, 32, 2e-4, 1600},
		{"cgan", 200, 32, 1e-3, 1600},
		{"dcgan", 120, 16, 1e-3, 960}, // slower per image: fewer, smaller steps
	} {
		t.Run(c.model, func(t *testing.T) {
			cfg := baseConfig(t, c.model, c.subset)
			cfg.LR = c.lr
			cfg.BatchSize = c.batch
			cfg.Epochs = c.steps / (c.subset / cfg.BatchSize)
			cfg.Classifier = classifier(t)
			var d, g []float64
			cfg.OnStep = func(s StepInfo) { d, g = append(d, s.LossD), append(g, s.LossG) }
			stats, err := Train(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(d) != c.steps || len(stats) != cfg.Epochs {
				t.Fatalf("%d steps and %d epochs, want %d and %d", len(d), len(stats), c.steps, cfg.Epochs)
			}
			// At the start D cannot tell real from fake: both losses are
			// near ln 2. Training must take them away from there. The two
			// movements are added: in so short a run either can be small
			// (DCGAN's were 0.033 and 0.041 in one run, 0.039 and 0.060 in
			// another whose only change was float rounding), while a model
			// that does not learn (lr 1e-12) moved 0.002 in all.
			first, last := mean(d[:10]), mean(d[len(d)-20:])
			lastG := mean(g[len(g)-20:])
			t.Logf("D %.3f → %.3f, G %.3f → %.3f", first, last, mean(g[:10]), lastG)
			if math.Abs(last-first)+math.Abs(lastG-mean(g[:10])) < 0.06 {
				t.Errorf("losses barely moved: D %.3f → %.3f, G %.3f → %.3f", first, last, mean(g[:10]), lastG)
			}
			end := stats[len(stats)-1]
			if math.IsNaN(end.Frechet) || end.Frechet <= 0 {
				t.Errorf("Fréchet distance %g", end.Frechet)
			}
			if c.model == "cgan" && (math.IsNaN(end.Accuracy) || end.Accuracy < 0 || end.Accuracy > 1) {
				t.Errorf("label accuracy %g", end.Accuracy)
			}
			if c.model != "cgan" && !math.IsNaN(end.Accuracy) {
				t.Errorf("label accuracy %g for an unconditional model", end.Accuracy)
			}
			checkSamples(t, cfg)
			for _, f := range []string{CheckpointFile, GeneratorFile, DiscrimFile, LossLogFile, MetricsFile, end.Grid} {
				if !filepath.IsAbs(f) {
					f = filepath.Join(cfg.Dir, f)
				}
				if st, err := os.Stat(f); err != nil || st.Size() == 0 {
					t.Errorf("%s not written (%v)", f, err)
				}
			}
			// The loss log is in the main loop's format, which the
			// dashboard (cyclepix gan --display_port) follows.
			if pts, err := viz.ReadLossLog(filepath.Join(cfg.Dir, LossLogFile)); err != nil || len(pts) == 0 ||
				len(pts[0].Losses) != 2 || pts[0].Losses[0].Name != "D" || pts[0].Losses[1].Name != "G" {
				t.Errorf("loss log does not parse as the reference's format: %v %+v", err, pts)
			}
			if m, _ := os.ReadFile(filepath.Join(cfg.Dir, MetricsFile)); bytes.Count(m, []byte("\n")) != cfg.Epochs+1 {
				t.Errorf("metrics file has %d lines for %d epochs:\n%s", bytes.Count(m, []byte("\n")), cfg.Epochs, m)
			}
		})
	}
}

// checkSamples loads the saved generator and checks that its samples are
// not constant: they differ from one another and within each image.
func checkSamples(t *testing.T, cfg Config) {
	t.Helper()
	defer torch.NewScope().Close()
	p, err := newPair(cfg.Model, int64(cfg.LatentDim), 28)
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.LoadFile(p.G, filepath.Join(cfg.Dir, GeneratorFile)); err != nil {
		t.Fatal(err)
	}
	nn.SetTraining(p.G, false)
	torch.NoGrad(func() {
		x := p.sample([]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}).Reshape(16, -1)
		across := x.Var(false, false, 0).Mean().Item() // per-pixel variance over samples
		within := x.Var(false, false, 1).Mean().Item() // per-sample variance over pixels
		t.Logf("sample variance across samples %.4f, within samples %.4f", across, within)
		if across < 1e-3 || within < 1e-2 {
			t.Errorf("samples are (nearly) constant: variance across %.2g, within %.2g", across, within)
		}
	})
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestResumeExact interrupts a run mid-epoch and resumes it: the losses of
// every step, the final weights and the final metrics must equal those of
// an uninterrupted run with the same seed.
func TestResumeExact(t *testing.T) {
	for _, c := range []struct {
		model  string
		stopAt int // step after which the run is interrupted
		save   int // --save_freq
	}{
		{"cgan", 13, 0}, // mid-epoch 2, checkpoint written on interruption
		{"gan", 10, 0},  // right at an epoch's end
		{"dcgan", 7, 5}, // mid-epoch 1, with periodic checkpoints too
	} {
		t.Run(c.model, func(t *testing.T) {
			whole := baseConfig(t, c.model, 160)
			whole.BatchSize = 16 // 10 steps per epoch
			whole.EvalSamples = 100
			whole.Epochs = 2
			whole.SaveFreq = c.save
			whole.Classifier = classifier(t)
			var want []float64
			whole.OnStep = func(s StepInfo) { want = append(want, s.LossD, s.LossG) }
			wantStats, err := Train(context.Background(), whole)
			if err != nil {
				t.Fatal(err)
			}

			split := whole
			split.Dir = t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			var got []float64
			split.OnStep = func(s StepInfo) {
				got = append(got, s.LossD, s.LossG)
				if s.Step == c.stopAt {
					cancel()
				}
			}
			if _, err := Train(ctx, split); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "--continue") {
				t.Fatalf("interrupted run: error %v", err)
			}
			split.Continue = true
			gotStats, err := Train(context.Background(), split)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d losses after resuming, %d uninterrupted", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("step %d: loss %v after resuming, %v uninterrupted", i/2+1, got[i], want[i])
				}
			}
			a, b := wantStats[len(wantStats)-1], gotStats[len(gotStats)-1]
			if a.Epoch != b.Epoch || a.LossD != b.LossD || a.LossG != b.LossG || !sameFloat(a.Frechet, b.Frechet) || !sameFloat(a.Accuracy, b.Accuracy) {
				t.Fatalf("last epoch %+v after resuming, %+v uninterrupted", b, a)
			}
			for _, f := range []string{GeneratorFile, DiscrimFile} {
				wa, _ := os.ReadFile(filepath.Join(whole.Dir, f))
				wb, _ := os.ReadFile(filepath.Join(split.Dir, f))
				if len(wa) == 0 || !bytes.Equal(wa, wb) {
					t.Fatalf("%s differs after resuming", f)
				}
			}
			// Training further than --epochs asks for nothing more.
			if stats, err := Train(context.Background(), split); err != nil || len(stats) != 0 {
				t.Fatalf("finished run resumed again: %d epochs, error %v", len(stats), err)
			}
		})
	}
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestResumeRefusals(t *testing.T) {
	cfg := baseConfig(t, "gan", 96)
	cfg.Continue = true
	if _, err := Train(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "nothing to resume") {
		t.Fatalf("no checkpoint: error %v", err)
	}
	cfg.Continue = false
	if _, err := Train(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"model", func(c *Config) { c.Model = "cgan" }, "holds a gan model"},
		{"latent", func(c *Config) { c.LatentDim = 8 }, "--latent_dim 32"},
		{"batch", func(c *Config) { c.BatchSize = 16 }, "--batch_size 32"},
		{"seed", func(c *Config) { c.Seed = 8 }, "--seed 7"},
		{"subset", func(c *Config) { c.Train = c.Train.Subset(64) }, "training set size 96"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := cfg
			bad.Continue = true
			bad.Epochs = 2
			c.edit(&bad)
			if _, err := Train(context.Background(), bad); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, CheckpointFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Continue = true
	if _, err := Train(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), CheckpointFile) {
		t.Fatalf("corrupt checkpoint: error %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Model = "wgan" }, "--model"},
		{func(c *Config) { c.LatentDim = 0 }, "--latent_dim"},
		{func(c *Config) { c.Epochs = 0 }, "--epochs"},
		{func(c *Config) { c.BatchSize = 1 }, "--batch_size"},
		{func(c *Config) { c.LR = -1 }, "--lr"},
		{func(c *Config) { c.LR = math.NaN() }, "--lr"},
		{func(c *Config) { c.Beta1 = 1 }, "--beta1"},
		{func(c *Config) { c.RealLabel = 0.3 }, "--real_label"},
		{func(c *Config) { c.Model = "cgan"; c.EvalSamples = 15 }, "--eval_samples"},
		{func(c *Config) { c.SaveFreq = -1 }, "--save_freq"},
		{func(c *Config) { c.Train = c.Train.Subset(1) }, "training images"},
	} {
		cfg := baseConfig(t, "gan", 64)
		c.edit(&cfg)
		if _, err := Train(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one mentioning %q", err, c.want)
		}
	}
}

// TestMain runs libtorch on one thread: these networks are too small to
// gain from a second one, and on a busy two-core machine OpenMP's
// spin-waiting threads made the suite several times slower. Init comes
// first, or its thread count would replace this one.
func TestMain(m *testing.M) {
	if err := torch.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "torch.Init:", err)
		os.Exit(2)
	}
	torch.SetNumThreads(1)
	torchtest.Main(m)
}
