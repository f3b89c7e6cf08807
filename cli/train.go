package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
	if n := o.Int("nproc"); dist == nil && n > 1 {
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

func runTest(args []string, stdout, stderr io.Writer) error {
	o, err := train.ParseOptions(false, args, stdout)
	if err != nil {
		return err
	}
	return train.Test(o, stdout)
}
