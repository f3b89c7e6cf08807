package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// inferSuite times one generator translating single images (no autograd,
// eval mode: what `cyclepix translate` and `test --eval` run) against
// bench/infer.py, and prints images per second.
func inferSuite(sizes string, steps, threads int, python string) error {
	fmt.Printf("Inference, one generator (ngf 64, batch 1, eval, no autograd, %d threads, %s, %s), median of %d\n", threads, benchDev, benchPrec, steps)
	fmt.Printf("%-15s %-6s %12s %12s %8s %14s %14s %9s\n", "netG", "size", "cyclepix im/s", "pytorch im/s", "speedup", "cyclepix RSS", "pytorch RSS", "GFLOP/s")
	for _, netG := range []string{"resnet_9blocks", "unet_256"} {
		for _, size := range splitInts(sizes) {
			ours, err := runChild("-infer", fmt.Sprintf("%s:%d", netG, size), steps, threads)
			if err != nil {
				return err
			}
			ref, err := runScript(python, "infer.py", fmt.Sprintf("%s %d", netG, size), steps, threads)
			if err != nil {
				return err
			}
			fmt.Printf("%-15s %-6d %12.2f%s\n", netG, size, 1/median(ours.Times), rateCols(ours, ref))
		}
	}
	fmt.Println("speedup = cyclepix images/s / PyTorch images/s (above 1 is faster)")
	return nil
}

// inferCyclepix runs one NETG:SIZE configuration in this process.
func inferCyclepix(spec string, steps int) (*result, error) {
	netG, sz, _ := strings.Cut(spec, ":")
	size, err := strconv.Atoi(sz)
	if err != nil {
		return nil, fmt.Errorf("-infer %q: want NETG:SIZE", spec)
	}
	norm := networks.NormInstance
	if strings.HasPrefix(netG, "unet") {
		norm = networks.NormBatch
	}
	g, err := networks.NewGenerator(networks.GOptions{InputNC: 3, OutputNC: 3, NGF: 64, NetG: netG, Norm: norm, InitType: "normal", InitGain: 0.02})
	if err != nil {
		return nil, err
	}
	if err := nn.ToDevice(g, benchDev); err != nil {
		return nil, err
	}
	nn.SetTraining(g, false)
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
