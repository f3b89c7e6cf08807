package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cyclepix/export"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// inferSuite times one generator translating single images (no autograd,
// eval mode: what `cyclepix translate` and `test --eval` run) against
// bench/infer.py and, on the CPU, ONNX Runtime running cyclepix's own ONNX
// export of the same network (bench/infer.js through onnxruntime-node),
// and prints images per second.
func inferSuite(nets, sizes string, steps, threads int, python string) error {
	fmt.Printf("Inference, one generator (ngf 64, batch 1, eval, no autograd, %d threads, %s, %s), median of %d\n", threads, benchDev, benchPrec, steps)
	ortPath, ortWhy := ortNodePath()
	if ortWhy != "" {
		fmt.Printf("ONNX Runtime column: %s\n", ortWhy)
	}
	fmt.Printf("%-18s %-6s %12s %12s %8s %12s %8s %14s %14s %14s %9s\n", "netG", "size", "cyclepix im/s", "pytorch im/s", "speedup",
		"ort im/s", "vs ort", "cyclepix RSS", "pytorch RSS", "ort RSS", "GFLOP/s")
	for _, netG := range strings.Split(nets, ",") {
		if !slices.Contains(inferNets, netG) {
			return fmt.Errorf("-nets: unknown generator %q (want some of %s)", netG, strings.Join(inferNets, ", "))
		}
		for _, size := range splitInts(sizes) {
			if gs := benchSpec(netG); size < gs.MinSize() || size%gs.SizeMultiple() != 0 {
				fmt.Printf("%-18s %-6d skipped: takes sides of %d or more, multiples of %d\n", netG, size, gs.MinSize(), gs.SizeMultiple())
				continue
			}
			spec := fmt.Sprintf("%s:%d", netG, size)
			ours, err := runChild("-infer", spec, steps, threads)
			if err != nil {
				return err
			}
			ref, err := runScript(python, "infer.py", fmt.Sprintf("%s %d", netG, size), steps, threads)
			if err != nil {
				return err
			}
			var ort *result
			if ortPath != "" {
				if ort, err = runORT(ortPath, netG, size, steps, threads); err != nil {
					return err
				}
			}
			fmt.Printf("%-18s %-6d %12.2f%s\n", netG, size, 1/median(ours.Times), inferCols(ours, ref, ort))
		}
	}
	fmt.Println("speedup, vs ort = cyclepix images/s / PyTorch's, / ONNX Runtime's (above 1 is faster)")
	return nil
}

// inferCols formats the PyTorch and ONNX Runtime columns of a row, dashes
// for a side not run.
func inferCols(ours, ref, ort *result) string {
	rate := func(r *result) (string, string, string) {
		if r == nil {
			return "-", "-", "-"
		}
		return fmt.Sprintf("%.2f", 1/median(r.Times)), fmt.Sprintf("%.2f", median(r.Times)/median(ours.Times)), fmt.Sprintf("%d MB", r.PeakRSSKB/1024)
	}
	pr, ps, pm := rate(ref)
	ortRate, ortSpeed, ortRSS := rate(ort)
	return fmt.Sprintf(" %12s %8s %12s %8s %11d MB %14s %14s %9s", pr, ps, ortRate, ortSpeed, ours.PeakRSSKB/1024, pm, ortRSS, rates(ours, ref))
}

// ortNodePath finds onnxruntime-node as the ONNX export test installs it
// ($CYCLEPIX_ORT_NODE_DIR, else the user cache's cyclepix/onnxruntime-node)
// and returns its node_modules, or why the column stays empty.
func ortNodePath() (string, string) {
	if benchDev != torch.CPU {
		return "", "not run (CPU only here)"
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", "not run (node not found)"
	}
	dir := os.Getenv("CYCLEPIX_ORT_NODE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", "not run (" + err.Error() + ")"
		}
		dir = filepath.Join(cache, "cyclepix", "onnxruntime-node")
	}
	mods := filepath.Join(dir, "node_modules")
	cmd := exec.Command("node", "-e", `require("onnxruntime-node")`)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	if cmd.Run() != nil {
		return "", "not run (no onnxruntime-node in " + dir + "; `go test ./export -run ONNX` installs it)"
	}
	return mods, ""
}

// runORT exports the NETG generator (random weights: the time does not
// depend on them) to a temporary ONNX file and times it with infer.js.
// The export runs in a child process: on Linux a child's peak RSS starts
// from its parent's (the exec folds the vfork-shared memory's high-water
// mark into it), so a parent that had held a U-Net and its ONNX bytes
// would inflate every later row's RSS column.
func runORT(nodePath, netG string, size, steps, threads int) (*result, error) {
	dir, err := os.MkdirTemp("", "cyclepix-bench-ort-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "g.onnx")
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	exp := exec.Command(exe, "-infer", fmt.Sprintf("%s:%d", netG, size), "-onnx", model)
	exp.Stdout, exp.Stderr = os.Stderr, os.Stderr
	if err := exp.Run(); err != nil {
		return nil, fmt.Errorf("export %s to ONNX: %w", netG, err)
	}
	cmd := exec.Command("node", filepath.Join(sourceDir(), "infer.js"), model, strconv.Itoa(size), strconv.Itoa(steps), strconv.Itoa(threads))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	r, err := runJSON(cmd)
	if err != nil {
		return nil, fmt.Errorf("onnx runtime side: %w", err)
	}
	return r, nil
}

// exportBenchONNX writes the generator of an -infer NETG:SIZE
// configuration as ONNX to path (the -onnx child of runORT).
func exportBenchONNX(spec, path string) error {
	netG, _, _ := strings.Cut(spec, ":")
	g, err := benchGenerator(netG)
	if err != nil {
		return err
	}
	return export.SaveONNX(path, g, export.ONNXOptions{InputNC: 3})
}

// inferNets are the generators of the infer suite: the reference's
// ResNet-9 and U-Net-256, CUT's anti-aliased ResNet-9 (cut_resnet_9blocks)
// and pix2pixHD's default global generator (hd_global; three input
// channels, as with --label_nc 0 --no_instance).
var inferNets = []string{"resnet_9blocks", "unet_256", "cut_resnet_9blocks", "hd_global"}

// benchGenerator is the generator both columns time: each architecture
// with its own project's defaults (instance norm for the ResNets and
// pix2pixHD, batch norm for U-Net as pix2pix has it).
func benchGenerator(netG string) (nn.Module, error) { return benchSpec(netG).Build() }

// benchSpec describes the generator benchGenerator builds.
func benchSpec(netG string) networks.GenSpec {
	spec := networks.GenSpec{NetG: netG, NGF: 64, Norm: string(networks.NormInstance), InputNC: 3, OutputNC: 3}
	switch {
	case strings.HasPrefix(netG, "unet"):
		spec.Norm = string(networks.NormBatch)
	case netG == "cut_resnet_9blocks":
		spec.NetG, spec.Family = "resnet_9blocks", networks.FamilyCUT
	case netG == "hd_global":
		spec.NetG, spec.Family = "global", networks.FamilyHD
		spec.NDownsampleGlobal, spec.NBlocksGlobal, spec.NLocalEnhancers, spec.NBlocksLocal = 4, 9, 1, 3
	}
	return spec
}

// inferCyclepix runs one NETG:SIZE configuration in this process.
func inferCyclepix(spec string, steps int) (*result, error) {
	netG, sz, _ := strings.Cut(spec, ":")
	size, err := strconv.Atoi(sz)
	if err != nil {
		return nil, fmt.Errorf("-infer %q: want NETG:SIZE", spec)
	}
	g, err := benchGenerator(netG)
	if err != nil {
		return nil, err
	}
	if err := nn.ToDevice(g, benchDev); err != nil {
		return nil, err
	}
	x := onDevice(torch.Rand(1, 3, int64(size), int64(size)).MulScalar(2).SubScalar(1))
	var times []float64
	var flops int64
	err = torch.TryErr(func() error {
		torch.NoGrad(func() {
			for i := 0; i < steps+1; i++ {
				start := time.Now()
				func() {
					defer torch.NewScope().Close()
					run := func() { autocast(func() { g.Forward(x).ToDevice(benchDev, torch.Float32) }) }
					if i == 0 {
						flops = nn.CountFLOPs(run)
					} else {
						run()
					}
					torch.Synchronize(benchDev)
				}()
				if i >= 1 {
					times = append(times, time.Since(start).Seconds())
				}
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return &result{Times: times, PeakRSSKB: ru.Maxrss, FLOPs: flops}, nil
}
