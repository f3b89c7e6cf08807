package gan

import (
	"context"
	"cyclepix/viz"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"cyclepix/data/progress"
	"cyclepix/gan/mnist"
	"cyclepix/nn"
	"cyclepix/torch"
)

// Config are the options of Train.
type Config struct {
	Model     string  // gan, cgan or dcgan
	LatentDim int     // size of the noise vector z
	Epochs    int     // train until this many epochs are done (counting resumed ones)
	BatchSize int     // images per step
	LR        float64 // Adam learning rate of G and D
	Beta1     float64 // Adam β1 (β2 is 0.999)
	Seed      uint64  // seeds initialisation, noise and the data order
	// RealLabel is D's target for real images (0 means 1; 0.9 gives
	// one-sided label smoothing); G's target stays 1.
	RealLabel float64
	Dir       string // checkpoints, sample grids and logs go here
	Continue  bool   // resume from Dir/latest.pth

	// Classifier scores the samples at the end of each epoch; nil skips
	// the metrics.
	Classifier *LeNet
	// EvalSamples is how many samples are scored per epoch (a multiple of
	// 10 for cgan, so every digit is asked for equally often).
	EvalSamples int
	// SaveFreq also writes the latest checkpoint every this many steps
	// (0: only at the end of each epoch and when stopped).
	SaveFreq int
	// PrintFreq is how often, in steps, losses go to the loss log (and to
	// StepLog).
	PrintFreq int

	Train, Test *mnist.Set // Test is the real data of the Fréchet distance

	Log      io.Writer // epoch summaries and notices; nil for none
	StepLog  io.Writer // a line every PrintFreq steps (when no bar is shown); nil for none
	Progress io.Writer // a progress bar per epoch; nil for none

	// OnStep, if set, is called after every step (tests use it to watch
	// losses and to interrupt a run).
	OnStep func(StepInfo)
}

// StepInfo describes one finished training step.
type StepInfo struct {
	Epoch, Iter  int // 1-based epoch; batches done within it
	Step         int // batches done since the start of training
	LossD, LossG float64
}

// EpochStats are the numbers reported at the end of an epoch.
type EpochStats struct {
	Epoch        int
	LossD, LossG float64 // means over the epoch's steps
	// Accuracy is the share of cgan samples that the classifier labels as
	// the digit they were conditioned on; NaN for gan and dcgan or without
	// a classifier.
	Accuracy float64
	// Frechet is the Fréchet distance between the classifier features of
	// EvalSamples generated digits and of the real test digits; NaN
	// without a classifier.
	Frechet float64
	// Seconds is the wall time of training so far, earlier sessions of a
	// resumed run included.
	Seconds float64
	Grid    string // path of the epoch's 10×10 sample grid
}

// Defaults of the flags, shared with the command line.
const (
	DefaultLatentDim   = 100
	DefaultEpochs      = 10
	DefaultBatchSize   = 64
	DefaultBeta1       = 0.5
	DefaultEvalSamples = 2000
	DefaultPrintFreq   = 100
	DefaultRealLabel   = 1.0
)

// DefaultLR returns the Adam learning rate used when --lr is not given:
// the seed material's 0.0002, except for cgan. At 0.0002 the conditional
// GAN ignored its label for epochs (17 % label accuracy after 5 epochs);
// at 0.001 it follows the label after 2 (64 %, 76 % after 3), which is
// what makes the ≥ 90 % within 10 epochs goal reachable.
func DefaultLR(model string) float64 {
	if model == "cgan" {
		return 0.001
	}
	return 0.0002
}

// adamBeta2 is the seed material's b2.
const adamBeta2 = 0.999

// Names of the files Train writes in Config.Dir.
const (
	CheckpointFile = "latest.pth"       // everything needed to resume
	GeneratorFile  = "latest_net_G.pth" // G's state dict alone, loadable in PyTorch
	DiscrimFile    = "latest_net_D.pth"
	LossLogFile    = "loss_log.txt"
	MetricsFile    = "metrics.tsv"
	ImagesDir      = "images"
)

func (c *Config) validate() error {
	if !slices.Contains(Models, c.Model) {
		return fmt.Errorf("--model %q: want gan, cgan or dcgan", c.Model)
	}
	switch {
	case c.LatentDim < 1:
		return fmt.Errorf("--latent_dim %d: want at least 1", c.LatentDim)
	case c.Epochs < 1:
		return fmt.Errorf("--epochs %d: want at least 1", c.Epochs)
	case c.BatchSize < 2:
		return fmt.Errorf("--batch_size %d: want at least 2 (batch norm needs two samples)", c.BatchSize)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("--lr %g: want a positive learning rate", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("--beta1 %g: want 0 ≤ β1 < 1", c.Beta1)
	case !(c.RealLabel > 0.5 && c.RealLabel <= 1):
		return fmt.Errorf("--real_label %g: want a target in (0.5, 1]", c.RealLabel)
	case c.Dir == "":
		return errors.New("no output folder (--out)")
	case c.EvalSamples < 0 || (c.Classifier != nil && c.EvalSamples < 2):
		return fmt.Errorf("--eval_samples %d: want at least 2 (the covariance needs them)", c.EvalSamples)
	case c.Model == "cgan" && c.EvalSamples%numClasses != 0:
		return fmt.Errorf("--eval_samples %d: want a multiple of 10 for cgan", c.EvalSamples)
	case c.SaveFreq < 0:
		return fmt.Errorf("--save_freq %d: want 0 (epoch ends only) or more", c.SaveFreq)
	case c.Train == nil || c.Train.Len() < 2:
		return errors.New("need at least 2 training images")
	case c.Train.Rows != 28 || c.Train.Cols != 28:
		return fmt.Errorf("the networks need 28x28 images, not %dx%d", c.Train.Rows, c.Train.Cols)
	case c.Classifier != nil && (c.Test == nil || c.Test.Len() < 2):
		return errors.New("scoring needs at least 2 real test images")
	}
	return nil
}

// runState is where training stands; it is saved in every checkpoint.
type runState struct {
	Epoch      int     // the epoch under way, 1-based
	Iter       int     // batches done within Epoch
	Step       int     // batches done in all
	SumD, SumG float64 // loss sums of Epoch's steps so far
	Elapsed    float64 // seconds of training in earlier sessions
}

type trainer struct {
	cfg        Config
	p          *pair
	optG, optD *torch.Adam
	st         runState
	started    time.Time // start of this session
	sc         *scorer
	lossLog    *os.File
	stats      []EpochStats
}

// Train trains cfg.Model on cfg.Train. At the end of each epoch it writes
// a 10×10 sample grid, scores samples with cfg.Classifier, appends to the
// loss log and metrics file, and saves a checkpoint; it returns the stats
// of the epochs this call trained. When ctx is cancelled it saves a
// checkpoint at the current step, from which Continue resumes exactly
// (same losses as an uninterrupted run), and returns ctx's error.
func Train(ctx context.Context, cfg Config) ([]EpochStats, error) {
	if cfg.PrintFreq <= 0 {
		cfg.PrintFreq = DefaultPrintFreq
	}
	if cfg.RealLabel == 0 {
		cfg.RealLabel = DefaultRealLabel
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &trainer{cfg: cfg, started: time.Now(), st: runState{Epoch: 1}}
	err := torch.TryErr(func() error {
		torch.ManualSeed(cfg.Seed)
		p, err := newPair(cfg.Model, int64(cfg.LatentDim), int64(cfg.Train.Rows))
		if err != nil {
			return err
		}
		t.p = p
		t.optG = torch.NewAdam(nn.Parameters(p.G), cfg.LR, cfg.Beta1, adamBeta2)
		t.optD = torch.NewAdam(nn.Parameters(p.D), cfg.LR, cfg.Beta1, adamBeta2)
		if cfg.Continue {
			if err := t.load(filepath.Join(cfg.Dir, CheckpointFile)); err != nil {
				return err
			}
		}
		if cfg.Classifier != nil {
			if t.sc, err = newScorer(cfg.Classifier, cfg.Test); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, ImagesDir), 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	if t.st.Epoch > cfg.Epochs {
		t.logf("%s has already trained %d epochs; raise --epochs to train more\n", cfg.Dir, t.st.Epoch-1)
		return nil, nil
	}
	if err := t.openLogs(); err != nil {
		return nil, err
	}
	defer t.lossLog.Close()
	err = torch.TryErr(func() error { return t.run(ctx) })
	return t.stats, err
}

func (t *trainer) logf(format string, a ...any) {
	if t.cfg.Log != nil {
		fmt.Fprintf(t.cfg.Log, format, a...)
	}
}

// elapsed is the training wall time so far, earlier sessions included.
func (t *trainer) elapsed() float64 { return t.st.Elapsed + time.Since(t.started).Seconds() }

// batches returns the batch count of an epoch: a last batch of one image
// is dropped, as batch norm cannot normalise a single sample.
func (t *trainer) batches() int {
	n, b := t.cfg.Train.Len(), t.cfg.BatchSize
	nb := (n + b - 1) / b
	if n%b == 1 {
		nb--
	}
	return nb
}

func (t *trainer) run(ctx context.Context) error {
	cfg := t.cfg
	n, nb := cfg.Train.Len(), t.batches()
	var xs []float32
	var ys []int64
	for t.st.Epoch <= cfg.Epochs {
		perm := permutation(cfg.Seed, t.st.Epoch, n)
		bar := progress.Count(cfg.Progress, nb, fmt.Sprintf("%s epoch %d/%d", cfg.Model, t.st.Epoch, cfg.Epochs), "step")
		bar.Set(t.st.Iter)
		lastPrint := time.Now()
		for t.st.Iter < nb {
			if err := ctx.Err(); err != nil {
				bar.Exit()
				if serr := t.save(); serr != nil {
					return serr
				}
				return fmt.Errorf("stopped in epoch %d at step %d/%d; %s saved, resume with --continue: %w",
					t.st.Epoch, t.st.Iter, nb, filepath.Join(cfg.Dir, CheckpointFile), err)
			}
			idx := perm[t.st.Iter*cfg.BatchSize : min((t.st.Iter+1)*cfg.BatchSize, n)]
			xs, ys = cfg.Train.Batch(idx, xs, ys)
			d, g := t.step(xs, ys, len(idx))
			t.st.Iter++
			t.st.Step++
			t.st.SumD += d
			t.st.SumG += g
			if !finite(d) || !finite(g) {
				return fmt.Errorf("epoch %d step %d: losses D %g G %g are not finite; lower --lr", t.st.Epoch, t.st.Iter, d, g)
			}
			bar.Describe(fmt.Sprintf("%s epoch %d/%d D %.3f G %.3f", cfg.Model, t.st.Epoch, cfg.Epochs, d, g))
			bar.Add(1)
			if t.st.Step%cfg.PrintFreq == 0 {
				per := time.Since(lastPrint).Seconds() / float64(cfg.PrintFreq)
				lastPrint = time.Now()
				// The main training loop's line format, so that the loss
				// log reads like the reference's and the dashboard follows it.
				line := viz.FormatLosses(t.st.Epoch, t.st.Iter*cfg.BatchSize, per, 0,
					[]viz.Loss{{Name: "D", Value: d}, {Name: "G", Value: g}}) + "\n"
				fmt.Fprint(t.lossLog, line)
				if cfg.StepLog != nil {
					fmt.Fprint(cfg.StepLog, line)
				}
			}
			if cfg.OnStep != nil {
				cfg.OnStep(StepInfo{Epoch: t.st.Epoch, Iter: t.st.Iter, Step: t.st.Step, LossD: d, LossG: g})
			}
			if cfg.SaveFreq > 0 && t.st.Step%cfg.SaveFreq == 0 && t.st.Iter < nb {
				if err := t.save(); err != nil {
					return err
				}
			}
		}
		bar.Finish()
		if err := t.endEpoch(nb); err != nil {
			return err
		}
	}
	return nil
}

// step is one iteration of the seed material's loop: G learns to make D
// call its samples real, then D learns to tell real from generated (the
// mean of the two BCE terms). It returns D's and G's losses.
func (t *trainer) step(xs []float32, ys []int64, b int) (lossD, lossG float64) {
	defer torch.NewScope().Close()
	p := t.p
	bs := int64(b)
	real := torch.FromFloat32(xs, bs, 1, p.rows, p.rows)
	valid, fake := torch.Ones(bs, 1), torch.Zeros(bs, 1)
	z := torch.Randn(bs, p.latent)
	var realOH, genOH *torch.Tensor
	if p.conditional() {
		realOH = oneHot(torch.FromInt64(ys, bs))
		genOH = oneHot(randomDigits(bs))
	}

	// D's parameters need no gradients in G's step; that skips their
	// weight gradients (a third of D's backward pass).
	nn.SetRequiresGrad(p.D, false)
	gen := p.generate(z, genOH)
	gLoss := torch.BCE(p.discriminate(gen, genOH), valid, torch.ReduceMean)
	t.optG.ZeroGrad()
	gLoss.Backward()
	t.optG.Step()
	nn.SetRequiresGrad(p.D, true)

	realLoss := torch.BCE(p.discriminate(real, realOH), torch.Full(t.cfg.RealLabel, bs, 1), torch.ReduceMean)
	fakeLoss := torch.BCE(p.discriminate(gen.Detach(), genOH), fake, torch.ReduceMean)
	dLoss := realLoss.Add(fakeLoss).DivScalar(2)
	t.optD.ZeroGrad()
	dLoss.Backward()
	t.optD.Step()
	return dLoss.Item(), gLoss.Item()
}

// randomDigits draws n labels uniformly from 0–9 with libtorch's generator
// (so the checkpointed RNG state covers them).
func randomDigits(n int64) *torch.Tensor {
	return torch.Rand(n).MulScalar(numClasses).Floor().Clamp(0, numClasses-1).To(torch.Int64)
}

// oneHot turns int64 digits [B] into float32 one-hot rows [B, 10].
func oneHot(labels *torch.Tensor) *torch.Tensor { return labels.OneHot(numClasses).To(torch.Float32) }

// endEpoch writes the grid, scores, logs and saves the checkpoint that
// starts the next epoch.
func (t *trainer) endEpoch(nb int) error {
	cfg := t.cfg
	es := EpochStats{Epoch: t.st.Epoch, LossD: t.st.SumD / float64(nb), LossG: t.st.SumG / float64(nb),
		Accuracy: math.NaN(), Frechet: math.NaN()}
	es.Grid = filepath.Join(cfg.Dir, ImagesDir, fmt.Sprintf("epoch_%03d.png", t.st.Epoch))
	if err := t.evaluate(&es); err != nil {
		return err
	}
	es.Seconds = t.elapsed()
	t.stats = append(t.stats, es)

	msg := fmt.Sprintf("epoch %d/%d: D %.4f G %.4f", es.Epoch, cfg.Epochs, es.LossD, es.LossG)
	if !math.IsNaN(es.Accuracy) {
		msg += fmt.Sprintf(", label accuracy %.1f%%", 100*es.Accuracy)
	}
	if !math.IsNaN(es.Frechet) {
		msg += fmt.Sprintf(", Fréchet distance %.3f", es.Frechet)
	}
	msg += fmt.Sprintf(", %s total, grid %s\n", time.Duration(es.Seconds*float64(time.Second)).Round(time.Second), es.Grid)
	t.logf("%s", msg)
	fmt.Fprint(t.lossLog, msg)
	if err := t.appendMetrics(es); err != nil {
		return err
	}
	// The checkpoint describes the start of the next epoch.
	t.st.Epoch, t.st.Iter, t.st.SumD, t.st.SumG = t.st.Epoch+1, 0, 0, 0
	return t.save()
}

func (t *trainer) openLogs() error {
	f, err := os.OpenFile(filepath.Join(t.cfg.Dir, LossLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("loss log: %w", err)
	}
	fmt.Fprintf(f, "================ Training Loss (%s) ================\n", time.Now().Format(time.ANSIC))
	t.lossLog = f
	mp := filepath.Join(t.cfg.Dir, MetricsFile)
	if _, err := os.Stat(mp); err != nil || !t.cfg.Continue {
		header := "epoch\tseconds\tloss_D\tloss_G\tlabel_accuracy\tfrechet\n"
		if err := os.WriteFile(mp, []byte(header), 0o644); err != nil {
			f.Close()
			return fmt.Errorf("metrics file: %w", err)
		}
	}
	return nil
}

func (t *trainer) appendMetrics(es EpochStats) error {
	f, err := os.OpenFile(filepath.Join(t.cfg.Dir, MetricsFile), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d\t%.1f\t%.4f\t%.4f\t%.4f\t%.4f\n", es.Epoch, es.Seconds, es.LossD, es.LossG, es.Accuracy, es.Frechet)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}
