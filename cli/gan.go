package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"cyclepix/dashboard"
	"cyclepix/gan"
	"cyclepix/gan/mnist"
)

func init() {
	register("gan", "the classic MNIST GANs (gan, cgan, dcgan) and their scoring classifier", runGAN)
}

func runGAN(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "classifier" {
		return runGANClassifier(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("gan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c gan.Config
	fs.StringVar(&c.Model, "model", "gan", "gan (MLP), cgan (conditioned on the digit) or dcgan (convolutional)")
	fs.IntVar(&c.LatentDim, "latent_dim", gan.DefaultLatentDim, "size of the noise vector z")
	fs.IntVar(&c.Epochs, "epochs", gan.DefaultEpochs, "train until this many epochs are done (with --continue, counting the earlier ones)")
	fs.IntVar(&c.BatchSize, "batch_size", gan.DefaultBatchSize, "images per step")
	fs.Float64Var(&c.LR, "lr", 0, "Adam learning rate (default 0.001 for cgan, 0.0002 for gan and dcgan)")
	fs.Float64Var(&c.Beta1, "beta1", gan.DefaultBeta1, "Adam β1 (β2 is 0.999)")
	fs.Float64Var(&c.RealLabel, "real_label", gan.DefaultRealLabel, "D's target for real images (below 1: one-sided label smoothing)")
	seed := fs.Uint64("seed", 0, "seed of initialisation, noise and data order")
	fs.StringVar(&c.Dir, "out", "", "folder for checkpoints, sample grids and logs (default checkpoints/mnist_<model>)")
	fs.BoolVar(&c.Continue, "continue", false, "resume from <out>/latest.pth (same --model, --latent_dim, --batch_size, --seed, --subset)")
	classifier := fs.String("classifier", gan.DefaultClassifierPath, "LeNet weights from 'cyclepix gan classifier' that score the samples (\"\": no scores)")
	fs.IntVar(&c.EvalSamples, "eval_samples", gan.DefaultEvalSamples, "samples scored at the end of each epoch")
	fs.IntVar(&c.SaveFreq, "save_freq", 0, "also save the checkpoint every this many steps (0: at epoch ends only)")
	fs.IntVar(&c.PrintFreq, "print_freq", gan.DefaultPrintFreq, "log the losses every this many steps")
	subset := fs.Int("subset", 0, "train on the first N training images only (0: all 60000)")
	mnistDir := fs.String("mnist_dir", "", "read the four idx .gz files from this folder instead of the embedded MNIST (Fashion-MNIST works too)")
	displayPort := fs.Int("display_port", 0, "serve a live dashboard of the losses on 127.0.0.1:PORT (0: off)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only, or 'cyclepix gan classifier')", fs.Arg(0))
	}
	c.Seed = *seed
	lrSet := false
	fs.Visit(func(f *flag.Flag) { lrSet = lrSet || f.Name == "lr" })
	if !lrSet {
		c.LR = gan.DefaultLR(c.Model)
	}
	if c.Dir == "" {
		c.Dir = filepath.Join("checkpoints", "mnist_"+c.Model)
	}
	if *subset < 0 {
		return fmt.Errorf("--subset %d: want 0 (all) or more", *subset)
	}
	train, test, err := ganLoadMNIST(*mnistDir)
	if err != nil {
		return err
	}
	c.Train, c.Test = train.Subset(*subset), test
	if *classifier != "" {
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "classifier" })
		net, err := gan.LoadClassifier(*classifier)
		switch {
		case errors.Is(err, gan.ErrNoClassifier) && !explicit:
			fmt.Fprintf(stderr, "note: %v; training without scores\n", err)
		case err != nil:
			return err
		default:
			c.Classifier = net
		}
	}
	c.Log = stdout
	if ganIsTerminal(stderr) {
		c.Progress = stderr
	} else {
		c.StepLog = stdout
	}
	if *displayPort != 0 {
		closeDashboard, err := followDashboard(c.Dir, *displayPort, stderr)
		if err != nil {
			return err
		}
		defer closeDashboard()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = gan.Train(ctx, c)
	return err
}

// followDashboard serves the dashboard of a run folder that another loop
// writes (here the GAN's loss_log.txt), following its files.
func followDashboard(dir string, port int, stderr io.Writer) (func(), error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("--display_port %d: not a port number", port)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s, err := dashboard.New(dashboard.Config{Dir: dir, Name: filepath.Base(dir), Files: true, Logger: warnLogger(stderr)})
	if err != nil {
		return nil, err
	}
	url, err := s.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("--display_port %d: %w (choose another port, or 0 for no dashboard)", port, err)
	}
	fmt.Fprintf(stderr, "dashboard: %s\n", url)
	return shutdownFunc(s), nil
}

func runGANClassifier(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gan classifier", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c gan.ClassifierConfig
	fs.IntVar(&c.Epochs, "epochs", 2, "passes over the training set")
	fs.IntVar(&c.BatchSize, "batch_size", 64, "images per step")
	fs.Float64Var(&c.LR, "lr", 0.001, "Adam learning rate")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of initialisation and data order")
	fs.StringVar(&c.Out, "out", gan.DefaultClassifierPath, "where to save the weights (a PyTorch state dict)")
	subset := fs.Int("subset", 0, "train on the first N training images only (0: all 60000)")
	mnistDir := fs.String("mnist_dir", "", "read the four idx .gz files from this folder instead of the embedded MNIST")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (classifier takes only flags)", fs.Arg(0))
	}
	if *subset < 0 {
		return fmt.Errorf("--subset %d: want 0 (all) or more", *subset)
	}
	if c.Out == "" {
		return errors.New("--out: give a file for the weights")
	}
	train, test, err := ganLoadMNIST(*mnistDir)
	if err != nil {
		return err
	}
	c.Train, c.Test = train.Subset(*subset), test
	c.Log = stdout
	if ganIsTerminal(stderr) {
		c.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, acc, err := gan.TrainClassifier(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved %s (test accuracy %.2f%%)\n", c.Out, 100*acc)
	return nil
}

func ganLoadMNIST(dir string) (train, test *mnist.Set, err error) {
	if dir == "" {
		return mnist.Load()
	}
	return mnist.LoadDir(dir)
}

// ganIsTerminal reports whether w is a character device, where a redrawn
// progress bar reads well; elsewhere (a file, a pipe, CI) plain lines do.
func ganIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
