package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"cyclepix/models"
	"cyclepix/train"
)

func init() {
	register("train", "train a model (the reference's train.py, same flags)", runTrain)
	register("test", "run a trained model over a dataset and write an HTML page (test.py)", runTest)
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	o, err := train.ParseOptions(true, args, stdout)
	if err != nil {
		return err
	}
	dist, err := train.DistFromEnv()
	if err != nil {
		return err
	}
	// The dataset is checked before a rank starts or a network is built.
	// The warnings are rank 0's to give: a launcher stays quiet, as its
	// rank 0 repeats them.
	launching := dist == nil && o.Int("nproc") > 1
	log := consoleLogger(stderr)
	if launching || (dist != nil && dist.Rank > 0) {
		log = slog.New(slog.DiscardHandler)
	}
	if err := train.Preflight(o, log); err != nil {
		return err
	}
	if n := o.Int("nproc"); launching {
		return launch(n, args, stdout, stderr)
	} else if dist != nil && n > 1 && n != dist.WorldSize {
		return fmt.Errorf("%w: --nproc %d, WORLD_SIZE=%d", errNprocWorld, n, dist.WorldSize)
	}
	quiet := dist != nil && dist.Rank > 0 // rank 0 speaks for the run
	stop := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			if !quiet {
				fmt.Fprintln(stderr, "\nstopping: finishing this iteration and saving a checkpoint (Ctrl-C again to abort without saving)")
			}
			close(stop)
			if _, ok := <-sig; ok {
				os.Exit(130)
			}
		}
	}()
	cfg := train.Config{Out: stdout, Stop: stop, ResumeHint: resumeHint(args, o.Bool("continue_train")), Dist: dist}
	if !quiet {
		closeDashboard, err := attachDashboard(o, &cfg, stderr)
		if err != nil {
			return err
		}
		defer closeDashboard()
	}
	err = train.Train(o, cfg)
	if errors.Is(err, train.ErrStopped) {
		return nil
	}
	return err
}

// consoleLogger logs warnings and errors to stderr, one line each,
// without the timestamp that a person at a terminal does not need.
func consoleLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
}

func runTest(args []string, stdout, stderr io.Writer) error {
	o, err := train.ParseOptions(false, args, stdout)
	if err != nil {
		return err
	}
	if err := train.Preflight(o, consoleLogger(stderr)); err != nil {
		return err
	}
	return train.Test(o, stdout)
}

func init() {
	register("encode_features", "cluster a pix2pixhd run's instance features (--instance_feat/--label_feat) for test, translate and serve (pix2pixHD's encode_features.py)", runEncodeFeatures)
}

// runEncodeFeatures takes a run's options as test does, on the training
// split by default.
func runEncodeFeatures(args []string, stdout, stderr io.Writer) error {
	b, err := models.Build(models.Command{Name: "encode_features", Dataset: true, FromRun: true,
		Defaults: map[string]any{"phase": "train"}}, args, stdout)
	if err != nil {
		return err
	}
	_, err = train.EncodeFeatures(b.Set, stdout)
	return err
}
