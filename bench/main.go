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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

type result struct {
	Times     []float64 `json:"times"`
	PeakRSSKB int64     `json:"peak_rss_kb"`
}

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
	sizes := flag.String("sizes", "128,256", "comma-separated image sizes")
	steps := flag.Int("steps", 5, "timed steps per size (after 2 warm-up steps)")
	threads := flag.Int("threads", runtime.NumCPU(), "intra-op threads for both sides")
	python := flag.String("python", "/usr/bin/python3", "Python with torch for the reference side ('' to skip)")
	one := flag.Int("one", 0, "internal: run cyclepix at this size and print JSON")
	suite := flag.String("suite", "step", "step: one ResNet-9 generator training step; iter: full cycle_gan and pix2pix iterations")
	iter := flag.String("iter", "", "internal: run one cycle_gan/pix2pix configuration MODEL:SIZE and print JSON")
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
	if *iter != "" {
		torch.SetNumThreads(*threads)
		r, err := iterCyclepix(*iter, *steps)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	if *suite == "iter" {
		if err := iterSuite(*sizes, *steps, *threads, *python); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *one > 0 {
		torch.SetNumThreads(*threads)
		r, err := stepCyclepix(int64(*one), *steps)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("ResNet-9 generator training step (ngf 64, instance norm, batch 1, %d threads, %s, %s), median of %d\n", *threads, benchDev, benchPrec, *steps)
	fmt.Printf("%-6s %12s %12s %8s %14s %14s\n", "size", "cyclepix s", "pytorch s", "ratio", "cyclepix RSS", "pytorch RSS")
	for _, s := range splitInts(*sizes) {
		ours, err := runSelf(s, *steps, *threads)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		line := fmt.Sprintf("%-6d %12.3f", s, median(ours.Times))
		if *python != "" {
			ref, err := runPython(*python, s, *steps, *threads)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: pytorch side:", err)
				os.Exit(1)
			}
			line += fmt.Sprintf(" %12.3f %8.2f %11d MB %11d MB", median(ref.Times), median(ours.Times)/median(ref.Times),
				ours.PeakRSSKB/1024, ref.PeakRSSKB/1024)
		} else {
			line += fmt.Sprintf(" %12s %8s %11d MB", "-", "-", ours.PeakRSSKB/1024)
		}
		fmt.Println(line)
	}
	fmt.Println("ratio = cyclepix time / PyTorch time (below 1 is faster)")
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
	for i := 0; i < steps+2; i++ {
		start := time.Now()
		func() {
			defer torch.NewScope().Close()
			autocast(func() {
				opt.ZeroGrad()
				torch.L1Loss(g.Forward(x), y, torch.ReduceMean).Backward()
				opt.Step()
			})
			torch.Synchronize(benchDev)
		}()
		if i >= 2 {
			times = append(times, time.Since(start).Seconds())
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return &result{Times: times, PeakRSSKB: ru.Maxrss}, nil
}

func runSelf(size, steps, threads int) (*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-one", strconv.Itoa(size), "-steps", strconv.Itoa(steps), "-threads", strconv.Itoa(threads)}, sideArgs()...)
	return runJSON(exec.Command(exe, args...))
}

// onDevice moves a persistent copy of t to -device.
func onDevice(t *torch.Tensor) *torch.Tensor {
	if benchDev != torch.CPU {
		t = t.ToDevice(benchDev, torch.Float32)
	}
	return t.Persist()
}

// iterSuite times full optimize_parameters() iterations of cycle_gan and
// pix2pix (default networks, batch 1, in-memory data) against
// bench/iter.py, each configuration in its own processes.
func iterSuite(sizes string, steps, threads int, python string) error {
	fmt.Printf("Full training iterations (default networks, batch 1, in-memory data, %d threads, %s, %s), median of %d\n", threads, benchDev, benchPrec, steps)
	fmt.Printf("%-10s %-6s %12s %12s %8s %14s %14s\n", "model", "size", "cyclepix s", "pytorch s", "ratio", "cyclepix RSS", "pytorch RSS")
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	for _, model := range []string{"pix2pix", "cycle_gan"} {
		for _, size := range splitInts(sizes) {
			args := append([]string{"-iter", fmt.Sprintf("%s:%d", model, size), "-steps", strconv.Itoa(steps), "-threads", strconv.Itoa(threads)}, sideArgs()...)
			ours, err := runJSON(exec.Command(exe, args...))
			if err != nil {
				return err
			}
			line := fmt.Sprintf("%-10s %-6d %12.3f", model, size, median(ours.Times))
			if python != "" {
				cmd := exec.Command(python, append([]string{filepath.Join(sourceDir(), "iter.py"), model, strconv.Itoa(size), strconv.Itoa(steps), strconv.Itoa(threads)}, pyArgs()...)...)
				cmd.Env = os.Environ()
				ref, err := runJSON(cmd)
				if err != nil {
					return fmt.Errorf("pytorch side: %w", err)
				}
				line += fmt.Sprintf(" %12.3f %8.2f %11d MB %11d MB", median(ref.Times), median(ours.Times)/median(ref.Times), ours.PeakRSSKB/1024, ref.PeakRSSKB/1024)
			}
			fmt.Println(line)
		}
	}
	return nil
}

// iterCyclepix runs one MODEL:SIZE configuration with the reference's
// default options (pool_size 0 on both sides: the pool's bookkeeping is
// not what is timed).
func iterCyclepix(spec string, steps int) (*result, error) {
	model, sz, _ := strings.Cut(spec, ":")
	size, err := strconv.Atoi(sz)
	if err != nil {
		return nil, fmt.Errorf("-iter %q: want MODEL:SIZE", spec)
	}
	args := []string{"--model", model, "--pool_size", "0", "--crop_size", sz}
	if model == "pix2pix" {
		args = append(args, "--netG", fmt.Sprintf("unet_%d", size))
	}
	o, err := models.BuildOptions(true, args, io.Discard)
	if err != nil {
		return nil, err
	}
	def, err := models.Lookup(model)
	if err != nil {
		return nil, err
	}
	m, err := def.New(o, models.Env{Device: benchDev, Rng: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		return nil, err
	}
	a := onDevice(torch.Rand(1, 3, int64(size), int64(size)).MulScalar(2).SubScalar(1))
	b := onDevice(torch.Rand(1, 3, int64(size), int64(size)).MulScalar(2).SubScalar(1))
	var times []float64
	for i := 0; i < steps+1; i++ {
		start := time.Now()
		err := torch.TryErr(func() error {
			defer torch.NewScope().Close()
			if err := m.SetInput(models.Input{Tensors: map[string]*torch.Tensor{"A": a, "B": b}}); err != nil {
				return err
			}
			autocast(m.OptimizeParameters)
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
	return &result{Times: times, PeakRSSKB: ru.Maxrss}, nil
}

func runPython(python string, size, steps, threads int) (*result, error) {
	script := filepath.Join(sourceDir(), "gstep.py")
	cmd := exec.Command(python, append([]string{script, strconv.Itoa(size), strconv.Itoa(steps), strconv.Itoa(threads)}, pyArgs()...)...)
	// Same library settings on both sides: this process was started with
	// the environment cyclepix sets (torch/init.go), which PyTorch inherits.
	cmd.Env = os.Environ()
	return runJSON(cmd)
}

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
