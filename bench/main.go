// Command bench times one training step (forward, L1 loss, backward, Adam)
// of the reference ResNet-9 generator (ngf 64, instance norm, batch 1) in
// cyclepix and in PyTorch (bench/gstep.py run with Debian's python3-torch at
// the same thread count), and prints medians, the ratio and peak RSS.
//
// Each configuration runs in its own process so that peak RSS is its own.
//
// -device cuda (or cuda:N) runs both sides on a GPU (cuDNN autotuning on,
// synchronized before each clock reading); -precision bf16 or fp16 runs
// each step under autocast on both sides.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cyclepix/data"
	"cyclepix/data/builtin"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
	"cyclepix/train"
)

type result struct {
	Times     []float64 `json:"times"`
	PeakRSSKB int64     `json:"peak_rss_kb"`
	// FLOPs of one step's convolutions, forward and backward (nn.CountFLOPs);
	// cyclepix's side only, the PyTorch side does the same work.
	FLOPs int64 `json:"flops,omitempty"`
	// The part of the PyTorch side's FLOPs that is work its reference
	// does by design and cyclepix leaves out (pix2pixHD's G pass fills
	// D's weight gradients, which its D step zeroes; cyclepix's skips
	// them): flopsNotes compares cyclepix's count with FLOPs less this, and
	// names it.
	ExtraFLOPs int64 `json:"flops_extra,omitempty"`
	// The loader suite's: RSS before the first file, a checksum of the
	// first image's array (sum, sum of squares) and, from the Python side,
	// the versions of what it ran.
	BaseRSSKB int64     `json:"base_rss_kb,omitempty"`
	Check     []float64 `json:"check,omitempty"`
	Engine    string    `json:"engine,omitempty"`
}

// gflops is the achieved rate of r's median step.
func gflops(r *result) float64 { return float64(r.FLOPs) / median(r.Times) / 1e9 }

// Where and in what precision both sides run (-device, -precision).
var (
	benchDev  = torch.CPU
	benchPrec = "fp32"
)

// sideArgs are the -device/-precision flags for a cyclepix child process;
// pyArgs the same for bench/gstep.py and bench/iter.py.
func sideArgs() []string { return []string{"-device", benchDev.String(), "-precision", benchPrec} }
func pyArgs() []string   { return []string{"--device", benchDev.String(), "--precision", benchPrec} }

// autocast runs fn under -precision's autocast (directly for fp32).
func autocast(fn func()) {
	switch benchPrec {
	case "bf16":
		torch.Autocast(torch.BFloat16, fn)
	case "fp16":
		torch.Autocast(torch.Float16, fn)
	default:
		fn()
	}
}

func main() {
	// First, before any tensor: it may re-execute the process. -threads
	// then overrides Init's thread count in the child processes.
	if err := torch.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	sizes := flag.String("sizes", "128,256", "comma-separated image sizes")
	steps := flag.Int("steps", 5, "timed steps per size (after 2 warm-up steps)")
	threads := flag.Int("threads", runtime.NumCPU(), "intra-op threads for both sides")
	python := flag.String("python", "/usr/bin/python3", "Python with torch for the reference side ('' to skip)")
	one := flag.Int("one", 0, "internal: run cyclepix at this size and print JSON")
	suite := flag.String("suite", "step", "step: one ResNet-9 generator training step; iter: full training iterations (-models); infer: images/s of one generator; serve: latency of cyclepix serve for one image at a time (-serve_size, -requests, -serve_bins); loader: images/s of 16-bit TIFF files decoded and scaled (-tiffs, -images; -sizes default 1024, -threads 1)")
	iter := flag.String("iter", "", "internal: run one iteration configuration MODEL:SIZE[:loader] (MODEL one of -models'; pix2pixhd:WIDTHxHEIGHT) and print JSON")
	iterModels := flag.String("models", strings.Join(iterModelNames, ","), "iter suite: comma-separated models, rows in this order ("+strings.Join(iterModelNames, ", ")+")")
	hdSizes := flag.String("hd_sizes", "512x256,1024x512", "iter suite: comma-separated WIDTHxHEIGHT sizes of the pix2pixhd rows (the other models' are -sizes)")
	var hd hdOptions
	flag.IntVar(&hd.Width, "hd_width", 0, "internal (smoke tests): ngf and ndf of pix2pixhd's networks on both sides (0: pix2pixHD's 64)")
	flag.StringVar(&hd.VGG19, "hd_vgg19", "", "internal: the random VGG19 weights file of an -iter pix2pixhd child (default: it writes its own)")
	inferNetsFlag := flag.String("nets", strings.Join(inferNets, ","), "infer suite: comma-separated generators, rows in this order ("+strings.Join(inferNets, ", ")+")")
	infer := flag.String("infer", "", "internal: run one inference configuration NETG:SIZE and print JSON")
	onnxOut := flag.String("onnx", "", "internal: export the NETG generator of -infer's configuration to this ONNX file")
	loader := flag.Bool("loader", true, "iter suite: also time each iteration fed by the data loader from image files")
	loaderDir := flag.String("tiffdir", "", "internal: time cyclepix's side of the loader suite on this folder's TIFF files and print JSON")
	tiffs := flag.String("tiffs", "raw,zlib", "loader suite: comma-separated stored variants, rows in this order ("+strings.Join(loaderKinds, ", ")+")")
	images := flag.Int("images", 16, "loader suite: files per variant (each timed pass reads them all)")
	serveBins := flag.String("serve_bins", "", "serve suite: LABEL=PATH,... cyclepix binaries to compare, a row each (default: build this tree's)")
	serveSize := flag.Int("serve_size", 512, "serve suite: side of the square PNG each request sends")
	requests := flag.Int("requests", 40, "serve suite: timed requests per row (after 3 warm-ups)")
	device := flag.String("device", "cpu", "where both sides run: cpu, cuda or cuda:N")
	flag.StringVar(&benchPrec, "precision", "fp32", "fp32, or autocast to bf16 or fp16 (fp16: CUDA only) on both sides")
	flag.Parse()
	dev, err := torch.ParseDevice(*device)
	if err == nil && dev != torch.CPU && int(dev) >= torch.CUDADeviceCount() {
		err = fmt.Errorf("-device %s: this libtorch sees %d CUDA devices", *device, torch.CUDADeviceCount())
	}
	if err == nil && benchPrec != "fp32" && benchPrec != "bf16" && benchPrec != "fp16" {
		err = fmt.Errorf("-precision %q: want fp32, bf16 or fp16", benchPrec)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	benchDev = dev
	if dev != torch.CPU {
		torch.SetCuDNNBenchmark(true)
	}
	// A child process runs one configuration on cyclepix's side and prints
	// its result as JSON.
	child := func(run func() (*result, error)) {
		torch.SetNumThreads(*threads)
		r, err := run()
		exitOn(err)
		json.NewEncoder(os.Stdout).Encode(r)
	}
	switch {
	case *onnxOut != "":
		exitOn(exportBenchONNX(*infer, *onnxOut))
	case *iter != "":
		child(func() (*result, error) { return iterCyclepix(*iter, *steps, hd) })
	case *loaderDir != "":
		child(func() (*result, error) { return loaderCyclepix(*loaderDir, *steps, *threads) })
	case *infer != "":
		child(func() (*result, error) { return inferCyclepix(*infer, *steps) })
	case *one > 0:
		child(func() (*result, error) { return stepCyclepix(int64(*one), *steps) })
	default:
		// Timings from different machines cannot be compared: every
		// table says where it was measured.
		fmt.Printf("CPU: %s\n", torch.CPUSummary())
		switch *suite {
		case "serve":
			nets := *inferNetsFlag
			if !setFlags()["nets"] {
				nets = "resnet_9blocks,unet_256"
			}
			exitOn(serveSuite(nets, *serveBins, *serveSize, *requests, *threads))
		case "infer":
			exitOn(inferSuite(*inferNetsFlag, *sizes, *steps, *threads, *python))
		case "loader":
			// Decoding a file is single-threaded on both sides: unless
			// asked otherwise, 1 thread each, at the 1024 pixels.
			set := setFlags()
			n, sz := *threads, *sizes
			if !set["threads"] {
				n = 1
			}
			if !set["sizes"] {
				sz = "1024"
			}
			exitOn(loaderSuite(sz, *images, *steps, n, *python, *tiffs))
		case "iter":
			exitOn(iterSuite(*iterModels, *sizes, *hdSizes, *steps, *threads, *python, *loader, hd))
		default:
			exitOn(stepSuite(*sizes, *steps, *threads, *python))
		}
	}
}

// setFlags names the flags the command line set, for suites whose defaults
// differ from the flags' own.
func setFlags() map[string]bool {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// stepSuite times one ResNet-9 generator training step against
// bench/gstep.py.
func stepSuite(sizes string, steps, threads int, python string) error {
	fmt.Printf("ResNet-9 generator training step (ngf 64, instance norm, batch 1, %d threads, %s, %s), median of %d\n", threads, benchDev, benchPrec, steps)
	fmt.Printf("%-6s %12s %12s %8s %14s %14s %9s\n", "size", "cyclepix s", "pytorch s", "ratio", "cyclepix RSS", "pytorch RSS", "GFLOP/s")
	for _, s := range splitInts(sizes) {
		ours, err := runChild("-one", strconv.Itoa(s), steps, threads)
		if err != nil {
			return err
		}
		ref, err := runScript(python, "gstep.py", strconv.Itoa(s), steps, threads)
		if err != nil {
			return err
		}
		fmt.Printf("%-6d %12.3f%s\n", s, median(ours.Times), timeCols(ours, ref))
	}
	fmt.Println("ratio = cyclepix time / PyTorch time (below 1 is faster)")
	return nil
}

func stepCyclepix(size int64, steps int) (*result, error) {
	g, err := networks.NewGenerator(networks.GOptions{InputNC: 3, OutputNC: 3, NGF: 64, NetG: "resnet_9blocks",
		Norm: networks.NormInstance, InitType: "normal", InitGain: 0.02})
	if err != nil {
		return nil, err
	}
	if err := nn.ToDevice(g, benchDev); err != nil {
		return nil, err
	}
	opt := torch.NewAdam(nn.Parameters(g), 2e-4, 0.5, 0.999)
	x := onDevice(torch.Rand(1, 3, size, size).MulScalar(2).SubScalar(1))
	y := onDevice(torch.Rand(1, 3, size, size).MulScalar(2).SubScalar(1))
	var times []float64
	var flops int64
	for i := 0; i < steps+2; i++ {
		start := time.Now()
		func() {
			defer torch.NewScope().Close()
			step := func() {
				opt.ZeroGrad()
				torch.L1Loss(g.Forward(x), y, torch.ReduceMean).Backward()
				opt.Step()
			}
			if i == 0 {
				flops = nn.CountFLOPs(func() { autocast(step) })
			} else {
				autocast(step)
			}
			torch.Synchronize(benchDev)
		}()
		if i >= 2 {
			times = append(times, time.Since(start).Seconds())
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return &result{Times: times, PeakRSSKB: ru.Maxrss, FLOPs: flops}, nil
}

// runChild runs this program with -MODE SPEC (one configuration on
// cyclepix's side) and the flags in extra in its own process.
func runChild(mode, spec string, steps, threads int, extra ...string) (*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{mode, spec, "-steps", strconv.Itoa(steps), "-threads", strconv.Itoa(threads)}, sideArgs()...)
	args = append(args, extra...)
	return runJSON(exec.Command(exe, args...))
}

// runScript runs the PyTorch side, bench/SCRIPT ARGS... STEPS THREADS
// (ARGS space-separated), with pyEnv's environment; no Python (”) gives
// a nil result.
func runScript(python, script, args string, steps, threads int) (*result, error) {
	if python == "" {
		return nil, nil
	}
	argv := append([]string{filepath.Join(sourceDir(), script)}, strings.Fields(args)...)
	argv = append(append(argv, strconv.Itoa(steps), strconv.Itoa(threads)), pyArgs()...)
	cmd := exec.Command(python, argv...)
	cmd.Env = pyEnv()
	r, err := runJSON(cmd)
	if err != nil {
		return nil, fmt.Errorf("pytorch side: %w", err)
	}
	return r, nil
}

// timeCols and rateCols format a row's PyTorch columns: its median time
// (or images/s), the ratio (or speed-up), both peak RSS and both GFLOP/s;
// dashes where PyTorch was not run.
func timeCols(ours, ref *result) string {
	if ref == nil {
		return noRefCols(ours)
	}
	return refCols(fmt.Sprintf("%12.3f", median(ref.Times)), median(ours.Times)/median(ref.Times), ours, ref)
}

func rateCols(ours, ref *result) string {
	if ref == nil {
		return noRefCols(ours)
	}
	return refCols(fmt.Sprintf("%12.2f", 1/median(ref.Times)), median(ref.Times)/median(ours.Times), ours, ref)
}

func refCols(value string, ratio float64, ours, ref *result) string {
	return fmt.Sprintf(" %s %8.2f %11d MB %11d MB %9s", value, ratio, ours.PeakRSSKB/1024, ref.PeakRSSKB/1024, rates(ours, ref))
}

func noRefCols(ours *result) string {
	return fmt.Sprintf(" %12s %8s %11d MB %14s %9s", "-", "-", ours.PeakRSSKB/1024, "-", rates(ours, nil))
}

// onDevice moves a persistent copy of t to -device.
func onDevice(t *torch.Tensor) *torch.Tensor {
	if benchDev != torch.CPU {
		t = t.ToDevice(benchDev, torch.Float32)
	}
	return t.Persist()
}

// iterModelNames are the models of the iter suite: cut is CUT's default
// CUT mode, fastcut the same model with --CUT_mode FastCUT; pix2pixhd is
// pix2pixHD's default training (global G, two-scale D with feature
// matching, VGG loss) on RGB images (--label_nc 0 --no_instance), at
// -hd_sizes.
var iterModelNames = []string{"pix2pix", "cycle_gan", "cut", "fastcut", "pix2pixhd"}

// hdOptions are the internal settings of the pix2pixhd rows: Width
// narrows both sides' networks (ngf = ndf = Width; 0 keeps 64) for smoke
// tests; VGG19 is the random VGG19 weights file the cyclepix child loads.
type hdOptions struct {
	Width int
	VGG19 string
}

// args are the flags that pass o on to a child process.
func (o hdOptions) args() []string {
	var a []string
	if o.Width > 0 {
		a = append(a, "-hd_width", strconv.Itoa(o.Width))
	}
	if o.VGG19 != "" {
		a = append(a, "-hd_vgg19", o.VGG19)
	}
	return a
}

// hdSizeMultiple is what the sides of pix2pixhd's images must be
// multiples of: pix2pixHD's global generator downsamples
// n_downsample_global (4) times.
const hdSizeMultiple = 16

// errSuffix is ": err", or nothing for a nil err.
func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// parseWH reads WIDTHxHEIGHT (or N for N×N).
func parseWH(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		hs = ws
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("size %q: want WIDTHxHEIGHT", s)
	}
	if w%hdSizeMultiple != 0 || h%hdSizeMultiple != 0 {
		return 0, 0, fmt.Errorf("size %q: pix2pixHD's global generator wants sides that are multiples of %d", s, hdSizeMultiple)
	}
	return w, h, nil
}

// iterSizes are the sizes of model's rows as the -iter spec and iter.py
// write them: -sizes' N, or -hd_sizes' WxH for pix2pixhd.
func iterSizes(model, sizes, hdSizes string) ([]string, error) {
	var out []string
	if model != "pix2pixhd" {
		for _, n := range splitInts(sizes) {
			out = append(out, strconv.Itoa(n))
		}
		return out, nil
	}
	for _, f := range strings.Split(hdSizes, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		w, h, err := parseWH(f)
		if err != nil {
			return nil, fmt.Errorf("-hd_sizes: %w", err)
		}
		out = append(out, fmt.Sprintf("%dx%d", w, h))
	}
	return out, nil
}

// writeRandomVGG19 writes a VGG19 state dict with random weights (InitHD's)
// to dir: the VGG loss's cost does not depend on its weights, and
// torchvision's file need not be there. The parent writes it once, so
// that the children's peak RSS does not count the writing.
func writeRandomVGG19(dir string) (string, error) {
	path := filepath.Join(dir, "vgg19-random.pth")
	return path, networks.WriteRandomVGG19(path)
}

// iterSuite times full optimize_parameters() iterations of the models
// (default networks, batch 1, in-memory data) against bench/iter.py, each
// configuration in its own processes.
func iterSuite(modelList, sizes, hdSizes string, steps, threads int, python string, loader bool, hd hdOptions) error {
	models, err := pickList("-models", modelList, iterModelNames)
	if err != nil {
		return err
	}
	if len(models) == 0 {
		return fmt.Errorf("-models %q: no model", modelList)
	}
	rows := map[string][]string{}
	for _, model := range models {
		if rows[model], err = iterSizes(model, sizes, hdSizes); err != nil {
			return err
		}
	}
	if slices.Contains(models, "pix2pixhd") && hd.VGG19 == "" {
		dir, err := os.MkdirTemp("", "cyclepix-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if hd.VGG19, err = writeRandomVGG19(dir); err != nil {
			return err
		}
	}
	fmt.Printf("Full training iterations (default networks, batch 1, %d threads, %s, %s), median of %d\n", threads, benchDev, benchPrec, steps)
	if hd.Width > 0 && slices.Contains(models, "pix2pixhd") {
		fmt.Printf("pix2pixhd narrowed for a smoke test: ngf = ndf = %d (-hd_width)\n", hd.Width)
	}
	fmt.Printf("%-10s %-9s %-7s %12s %12s %8s %14s %14s %9s\n", "model", "size", "data", "cyclepix s", "pytorch s", "ratio", "cyclepix RSS", "pytorch RSS", "GFLOP/s")
	var notes []string
	for _, model := range models {
		var extra, pyExtra []string
		if model == "pix2pixhd" {
			extra = hd.args()
			if hd.Width > 0 {
				pyExtra = []string{"--width", strconv.Itoa(hd.Width)}
			}
		}
		for _, size := range rows[model] {
			spec := model + ":" + size
			ours, err := runChild("-iter", spec, steps, threads, extra...)
			if err != nil {
				return err
			}
			ref, err := runScript(python, "iter.py", strings.Join(append([]string{model, size}, pyExtra...), " "), steps, threads)
			if err != nil {
				return err
			}
			fmt.Printf("%-10s %-9s %-7s %12.3f%s\n", model, size, "memory", median(ours.Times), timeCols(ours, ref))
			notes = append(notes, flopsNotes(spec, ours, ref)...)
			if !loader || model == "pix2pixhd" {
				continue
			}
			// The same iteration fed by the data loader from image files
			// (the reference's default preprocessing, --num_threads 4): the
			// time should equal the in-memory one when loading overlaps.
			withLoader, err := runChild("-iter", spec+":loader", steps, threads)
			if err != nil {
				return err
			}
			fmt.Printf("%-10s %-9s %-7s %12.3f%s\n", model, size, "loader", median(withLoader.Times), timeCols(withLoader, ref))
		}
		if loader && model == "pix2pixhd" && len(rows[model]) > 0 {
			// pix2pixHD's data are W×H images (or label maps); the
			// built-in datasets the loader rows generate are square.
			notes = append(notes, "note: pix2pixhd has no loader rows (in-memory data only)")
		}
	}
	for _, n := range notes {
		fmt.Println(n)
	}
	return nil
}

// flopsNotes compares the convolution FLOPs both sides counted in their
// first iteration (PyTorch's with bench/side.py's FLOPCounter, the rule of
// nn.CountFLOPs): the GFLOP/s after the slash assume PyTorch does
// cyclepix's work, so a difference over 1 % says so. Work the PyTorch
// side does beyond cyclepix's by design (result.ExtraFLOPs) is left out
// of the comparison and named in a note of its own. Random choices (the
// flip) do not change the count.
func flopsNotes(spec string, ours, ref *result) []string {
	if ref == nil || ref.FLOPs == 0 || ours.FLOPs == 0 {
		return nil
	}
	var notes []string
	same := ref.FLOPs - ref.ExtraFLOPs
	d := float64(ours.FLOPs)/float64(same) - 1
	if d < -0.01 || d > 0.01 {
		notes = append(notes, fmt.Sprintf("note: %s: cyclepix counted %.1f GFLOP per iteration, PyTorch %.1f (%+.1f%%): the sides do not do the same work", spec, float64(ours.FLOPs)/1e9, float64(same)/1e9, 100*d))
	}
	if ref.ExtraFLOPs > 0 {
		notes = append(notes, fmt.Sprintf("note: %s: PyTorch's time includes %.2f GFLOP per iteration (%+.1f%%) that cyclepix skips: D's weight gradients in the G pass, which pix2pixHD computes and its D step zeroes; the GFLOP/s after the slash count cyclepix's work", spec, float64(ref.ExtraFLOPs)/1e9, 100*float64(ref.ExtraFLOPs)/float64(same)))
	}
	return notes
}

// rates prints achieved GFLOP/s: cyclepix's, and PyTorch's on the same
// work after a slash.
func rates(ours, ref *result) string {
	if ours.FLOPs == 0 {
		return "-"
	}
	if ref == nil {
		return fmt.Sprintf("%.0f", gflops(ours))
	}
	return fmt.Sprintf("%.0f/%.0f", gflops(ours), float64(ours.FLOPs)/median(ref.Times)/1e9)
}

// iterCyclepix runs one MODEL:SIZE[:loader] configuration with the
// reference's default options (pool_size 0 on both sides: the pool's
// bookkeeping is not what is timed; CUT has no pool), CUT's for cut and
// fastcut (--model cut, fastcut with --CUT_mode FastCUT). With "loader"
// the batches come from image files through the data loader, generated for
// the run: SIZE-pixel built-in images (blobs2zebras, unaligned; pix2pix:
// shapes2photos, aligned), loaded at SIZE*286/256 and cropped to SIZE, as
// horse2zebra's 256-pixel images are at the default 286/256.
//
// pix2pixhd (MODEL:WxH, in memory only) is pix2pixHD's default training
// on RGB images, the simplest setting with all its networks and losses:
// --label_nc 0 --no_instance, 3 channels in and out (D sees 6), the
// global generator, two-scale D with feature matching, lsgan and the VGG
// loss with hd's random VGG19 weights (written here when hd.VGG19 is
// empty), loaded at the width (pix2pixHD's scale_width to --loadSize).
func iterCyclepix(spec string, steps int, hd hdOptions) (*result, error) {
	model, sz, _ := strings.Cut(spec, ":")
	sz, mode, withLoader := strings.Cut(sz, ":")
	var w, h int
	var err error
	if model == "pix2pixhd" {
		w, h, err = parseWH(sz)
		if err == nil && withLoader {
			err = fmt.Errorf("pix2pixhd has no loader variant")
		}
	} else {
		w, err = strconv.Atoi(sz)
		h = w
	}
	if err != nil || (withLoader && mode != "loader") {
		return nil, fmt.Errorf("-iter %q: want MODEL:SIZE or MODEL:SIZE:loader (pix2pixhd:WIDTHxHEIGHT)%s", spec, errSuffix(err))
	}
	size := w
	if !slices.Contains(iterModelNames, model) {
		return nil, fmt.Errorf("-iter %q: model %q: want one of %s", spec, model, strings.Join(iterModelNames, ", "))
	}
	name := model // the registered model
	args := []string{"--crop_size", sz}
	switch model {
	case "pix2pix":
		args = append(args, "--netG", fmt.Sprintf("unet_%d", size))
	case "fastcut":
		name, args = "cut", append(args, "--CUT_mode", "FastCUT")
	case "pix2pixhd":
		if hd.VGG19 == "" {
			dir, err := os.MkdirTemp("", "cyclepix-bench-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			if hd.VGG19, err = writeRandomVGG19(dir); err != nil {
				return nil, err
			}
		}
		args = []string{"--label_nc", "0", "--no_instance", "--input_nc", "3", "--output_nc", "3", "--vgg19", hd.VGG19,
			"--loadSize", strconv.Itoa(w), "--fineSize", strconv.Itoa(w)}
		if hd.Width > 0 {
			args = append(args, "--ngf", strconv.Itoa(hd.Width), "--ndf", strconv.Itoa(hd.Width))
		}
	}
	args = append([]string{"--model", name, "--pool_size", "0"}, args...)
	var o *options.Set
	var batches func() (models.Input, error)
	if withLoader {
		dir, err := os.MkdirTemp("", "cyclepix-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dataset := "blobs2zebras" // unaligned: cycle_gan, cut, fastcut
		if model == "pix2pix" {
			dataset = "shapes2photos"
		}
		if _, err := builtin.Generate(context.Background(), dataset, dir, builtin.Options{Size: size, NumTrain: steps + 4, NumTest: 1, Seed: 1}); err != nil {
			return nil, err
		}
		args = append(args, "--dataroot", dir, "--load_size", strconv.Itoa(size*286/256))
		if o, err = train.ParseOptions(true, args, io.Discard); err != nil {
			return nil, err
		}
		dopt, err := models.DataOptions(o)
		if err != nil {
			return nil, err
		}
		loader, err := data.Create(dopt, 1)
		if err != nil {
			return nil, err
		}
		epoch := loader.Epoch(context.Background(), 1)
		defer epoch.Close()
		batches = func() (models.Input, error) {
			b, err := epoch.Next()
			if err != nil {
				return models.Input{}, err
			}
			return train.BatchInput(b, benchDev), nil
		}
	} else if o, err = models.BuildOptions(true, args, io.Discard); err != nil {
		return nil, err
	}
	def, err := models.Lookup(name)
	if err != nil {
		return nil, err
	}
	m, err := def.New(o, models.Env{Device: benchDev, Rng: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		return nil, err
	}
	if batches == nil {
		a := onDevice(torch.Rand(1, 3, int64(h), int64(w)).MulScalar(2).SubScalar(1))
		b := onDevice(torch.Rand(1, 3, int64(h), int64(w)).MulScalar(2).SubScalar(1))
		batches = func() (models.Input, error) {
			return models.Input{Tensors: map[string]*torch.Tensor{"A": a, "B": b}}, nil
		}
	}
	var times []float64
	var flops int64
	for i := 0; i < steps+1; i++ {
		start := time.Now()
		err := torch.TryErr(func() error {
			defer torch.NewScope().Close()
			in, err := batches()
			if err != nil {
				return err
			}
			if err := m.SetInput(in); err != nil {
				return err
			}
			if i == 0 {
				flops = nn.CountFLOPs(func() { autocast(m.OptimizeParameters) })
			} else {
				autocast(m.OptimizeParameters)
			}
			torch.Synchronize(benchDev)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if i >= 1 {
			times = append(times, time.Since(start).Seconds())
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return &result{Times: times, PeakRSSKB: ru.Maxrss, FLOPs: flops}, nil
}

// pyEnv gives PyTorch the library settings cyclepix runs with, so that the
// ratios compare engines, not settings: this process was started with the
// environment cyclepix sets (torch/init.go), and the allocator settings
// cyclepix makes with mallopt (torch/malloc.go) go in as variables.
func pyEnv() []string { return append(os.Environ(), torch.MallocEnv()...) }

func runJSON(cmd *exec.Cmd) (*result, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("%s: bad output %q: %w", cmd.Path, out, err)
	}
	return &r, nil
}

// sourceDir finds bench/ whether run with `go run ./bench` from the repo
// root or from inside bench/.
func sourceDir() string {
	for _, d := range []string{"bench", "."} {
		if _, err := os.Stat(filepath.Join(d, "gstep.py")); err == nil {
			return d
		}
	}
	return "bench"
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func splitInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// pickList reads a comma-separated flag value whose items must be among
// known.
func pickList(flag, list string, known []string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%s: %q: want some of %s", flag, k, strings.Join(known, ","))
		}
		out = append(out, k)
	}
	return out, nil
}
