package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"time"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

func init() {
	register("version", "print versions, threads and hardware support", runVersion)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	forward := fs.Int("forward", 0, "also time a forward pass of a resnet_9blocks generator on an N×N random image (0: skip)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cyclepix %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "libtorch %s\n", torch.Version())
	fmt.Fprintf(stdout, "threads %d\n", torch.NumThreads())
	fmt.Fprintf(stdout, "cuda devices %d\n", torch.CUDADeviceCount())
	fmt.Fprintf(stdout, "onednn %v\n", torch.HasMKLDNN())
	fmt.Fprintf(stdout, "cpu %s\n", torch.CPUSummary())
	feats := torch.CPUFeatures()
	names := make([]string, 0, len(feats))
	for n := range feats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(stdout, "cpu %s %v\n", n, feats[n])
	}
	if *forward > 0 {
		return timeForward(stdout, int64(*forward))
	}
	return nil
}

// timeForward builds the default CycleGAN generator and runs it once on
// random input: a quick check that the engine works end to end.
func timeForward(w io.Writer, size int64) error {
	defer torch.NewScope().Close()
	g, err := networks.NewGenerator(networks.GOptions{InputNC: 3, OutputNC: 3, NGF: 64, NetG: "resnet_9blocks",
		Norm: networks.NormInstance, InitType: "normal", InitGain: 0.02})
	if err != nil {
		return err
	}
	nn.SetTraining(g, false)
	x := torch.Rand(1, 3, size, size).MulScalar(2).SubScalar(1)
	var y *torch.Tensor
	start := time.Now()
	torch.NoGrad(func() { y = g.Forward(x) })
	fmt.Fprintf(w, "forward resnet_9blocks (%.3f M params) %dx%d -> %v in %.3f s, output range [%.3f, %.3f]\n",
		float64(nn.NumParams(g))/1e6, size, size, y.Shape(), time.Since(start).Seconds(), y.Min().Item(), y.Max().Item())
	return nil
}
