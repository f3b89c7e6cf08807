package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"cyclepix/data/builtin"
	"cyclepix/data/download"
	"cyclepix/data/pair"
	"cyclepix/networks"
)

func init() {
	register("data", "dataset tools: combine, align, download, builtin", runData)
}

// dataTools are the data subcommands; each parses its own flags.
var dataTools = []struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{
	{"combine", "pair same-named images of A/<split> and B/<split> into A|B images (combine_A_and_B.py)", runCombine},
	{"align", "pair trainA/trainB and testA/testB in sorted order into train/, test/ A|B images (make_dataset_aligned.py)", runAlign},
	{"download", "download a dataset or (--model) a pretrained generator of the reference, or vgg19 (pix2pixHD's VGG loss)", runDownload},
	{"builtin", "write a small procedurally generated dataset (" + strings.Join(builtin.Names(), ", ") + ")", runBuiltin},
}

func runData(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "Usage: cyclepix data <tool> [flags]\n\nTools:")
		for _, t := range dataTools {
			fmt.Fprintf(stdout, "  %-9s %s\n", t.name, t.summary)
		}
		fmt.Fprintln(stdout, "\nRun 'cyclepix data <tool> --help' for a tool's flags.")
		return errHelp
	}
	// Ctrl-C stops a tool cleanly: downloads keep their .part file to
	// resume, image writers finish the file they are on.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, t := range dataTools {
		if t.name == args[0] {
			return t.run(ctx, args[1:], stdout, stderr)
		}
	}
	names := make([]string, len(dataTools))
	for i, t := range dataTools {
		names[i] = t.name
	}
	return fmt.Errorf("unknown data tool %q (choose from %s)", args[0], strings.Join(names, ", "))
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("download horse2zebra --to d" as well as
// "download --to d horse2zebra"), which the flag package alone does not
// allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runCombine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data combine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o pair.CombineOptions
	fs.StringVar(&o.FoldA, "fold_A", "", "input folder for A images, with one subfolder per split (train, val, test, …)")
	fs.StringVar(&o.FoldB, "fold_B", "", "input folder for B images, same splits and file names as --fold_A")
	fs.StringVar(&o.FoldAB, "fold_AB", "", "output folder for the A|B images")
	fs.IntVar(&o.NumImgs, "num_imgs", 1000000, "at most this many images per split")
	fs.BoolVar(&o.UseAB, "use_AB", false, "pair <n>_A.<ext> with <n>_B.<ext> into <n>.<ext>")
	fs.BoolVar(&o.NoMultiprocessing, "no_multiprocessing", false, "use one goroutine instead of one per CPU")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (combine takes only flags)", pos[0])
	}
	o.Progress, o.Log = stderr, stdout
	rep, err := pair.Combine(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d A|B images to %s (splits: %s)\n", rep.Written, o.FoldAB, strings.Join(rep.Splits, ", "))
	return nil
}

func runAlign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data align", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dataset-path", "", "folder with trainA, trainB, testA, testB (equal counts per phase); train/ and test/ are written there")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *dir == "" || len(pos) > 0 {
		return errors.New("usage: cyclepix data align --dataset-path DIR")
	}
	rep, err := pair.Align(ctx, *dir, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d A|B images to %s (phases: %s)\n", rep.Written, *dir, strings.Join(rep.Phases, ", "))
	return nil
}

func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.Bool("model", false, "download a pretrained generator to <to>/<NAME>_pretrained/latest_net_G.pth instead of a dataset")
	source := fs.String("source", "", "cyclegan, pix2pix or cut, for names in both of the first two lists (facades, maps, sat2map, …)")
	to := fs.String("to", "", "destination root (default ./datasets, or ./checkpoints with --model); vgg19 goes to <to>/"+networks.VGG19File+" (default torch's hub cache, where training looks: "+networks.VGG19CachePath()+")")
	base := fs.String("base_url", "", "server to download from (default: the one the reference's or CUT's scripts or torchvision use, "+download.DefaultBaseURL+", "+download.CUTDatasetsURL+" or "+download.TorchvisionURL+")")
	// The names it knows: after --help's flags, and before the error when
	// no NAME is given. (parseFlags replaces fs.Usage, so this cannot be
	// the flag set's usage function.)
	list := func() {
		fmt.Fprintf(stderr, "Datasets: CycleGAN %s; pix2pix %s; CUT %s\nModels (--model): CycleGAN %s; pix2pix %s; CUT %s (one archive with all of them; test with --model cut)\n"+
			"Weights: vgg19 (torchvision's %s, 548 MB, for pix2pixHD's VGG loss)\n",
			strings.Join(download.CycleGANDatasets, ", "), strings.Join(download.Pix2PixDatasets, ", "), strings.Join(download.CUTDatasets, ", "),
			strings.Join(download.CycleGANModels, ", "), strings.Join(download.Pix2PixModels, ", "), strings.Join(download.CUTModels, ", "),
			networks.VGG19File)
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr)
		list()
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "Usage: cyclepix data download NAME [--model] [--source cyclegan|pix2pix|cut] [--to DIR] [--base_url URL]")
		fmt.Fprintln(stderr)
		list()
		return errors.New("give one dataset, model or weights NAME")
	}
	it, err := download.Resolve(pos[0], *model, *source)
	if err != nil {
		return err
	}
	o := download.Options{To: *to, BaseURL: *base, Progress: stderr, Log: stdout}
	if it.Weights && o.To == "" {
		// torch.hub's cache: where networks.LocateVGG19 looks first after
		// $CYCLEPIX_VGG19, and where torchvision itself keeps the file.
		o.To = filepath.Dir(networks.VGG19CachePath())
	}
	path, err := download.Fetch(ctx, it, o)
	if err != nil {
		return err
	}
	switch {
	case it.Weights:
		fmt.Fprintf(stdout, "%s weights (%s's %s): %s\n", it.Name, it.Source, it.File, path)
		if found, err := networks.LocateVGG19(""); err != nil || found != path {
			// Outside torch's cache training does not find it by itself.
			fmt.Fprintf(stdout, "train with --vgg19 %s (or set CYCLEPIX_VGG19=%s)\n", path, path)
		}
	case it.Model:
		fmt.Fprintf(stdout, "pretrained %s generator: %s\n", it.Name, path)
	default:
		fmt.Fprintf(stdout, "dataset %s: %s\n", it.Name, path)
	}
	return nil
}

func runBuiltin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data builtin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output folder (default ./datasets/NAME)")
	var o builtin.Options
	fs.IntVar(&o.Size, "size", 128, "image side in pixels (each half of an aligned pair)")
	fs.IntVar(&o.NumTrain, "num_train", 200, "images per domain in train")
	fs.IntVar(&o.NumTest, "num_test", 20, "images per domain in test (and val)")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed: the same seed writes the same bytes")
	// The datasets, each with its layout, channels and value ranges: after
	// --help's flags, and before the error when no NAME is given.
	list := func() {
		fmt.Fprintln(stderr, "Datasets:")
		for _, n := range builtin.Names() {
			s, _, _ := builtin.Describe(n)
			fmt.Fprintf(stderr, "  %-14s %s\n", n, s)
		}
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr)
		list()
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "Usage: cyclepix data builtin NAME [--out DIR] [--size N] [--num_train N] [--num_test N] [--seed N]")
		fmt.Fprintln(stderr)
		list()
		return fmt.Errorf("give one built-in dataset NAME (%s)", strings.Join(builtin.Names(), ", "))
	}
	if *out == "" {
		*out = "datasets/" + pos[0]
	}
	o.Progress = stderr
	rep, err := builtin.Generate(ctx, pos[0], *out, o)
	if err != nil {
		return err
	}
	flags := strings.Join(append([]string{"--dataroot", rep.Dir, "--dataset_mode", rep.Mode}, rep.Flags...), " ")
	fmt.Fprintf(stdout, "wrote %d images to %s; train with %s\n", rep.Images, rep.Dir, flags)
	return nil
}
