package models

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"cyclepix/options"
	"cyclepix/torch"
)

// Device resolves --device, or --gpu_ids when --device is not given (the
// reference's older option: "-1" is the CPU, "N" or "N,M,…" the CUDA
// device N, one device per process). --precision fp16 needs a CUDA
// device. On a CUDA device cuDNN's autotuner is turned on
// (torch.backends.cudnn.benchmark) unless CYCLEPIX_CUDNN_BENCHMARK=0.
func Device(o *options.Set) (torch.Device, error) {
	spec, flag := o.String("device"), "--device"
	if ids := strings.TrimSpace(o.String("gpu_ids")); ids != "" && !o.Given("device") {
		first, _, _ := strings.Cut(ids, ",")
		n, err := strconv.Atoi(strings.TrimSpace(first))
		switch {
		case err != nil || n < -1:
			return torch.CPU, fmt.Errorf("--gpu_ids %q: want -1 (CPU) or device ids such as 0 or 0,1", ids)
		case n == -1:
			spec = "cpu"
		default:
			spec = fmt.Sprintf("cuda:%d", n)
		}
		flag = "--gpu_ids"
	}
	dev, err := torch.ResolveDevice(spec)
	if err != nil {
		return torch.CPU, fmt.Errorf("%s %s: %w", flag, spec, err)
	}
	if p, _ := Precision(o); p == torch.Float16 && dev == torch.CPU {
		return dev, fmt.Errorf("--precision fp16 needs a CUDA device (on the CPU use bf16)")
	}
	if dev != torch.CPU {
		torch.SetCuDNNBenchmark(os.Getenv("CYCLEPIX_CUDNN_BENCHMARK") != "0")
	}
	return dev, nil
}

// Precision returns the autocast dtype --precision asks for: Float32 for
// fp32 (no autocast), BFloat16 or Float16.
func Precision(o *options.Set) (torch.DType, error) {
	switch p := o.String("precision"); p {
	case "fp32":
		return torch.Float32, nil
	case "bf16":
		return torch.BFloat16, nil
	case "fp16":
		return torch.Float16, nil
	default:
		return torch.Float32, fmt.Errorf("--precision %q: want fp32, bf16 or fp16", p)
	}
}

// PrecisionAdvice says, for --precision bf16 on the CPU, when this CPU will
// train slower in bf16 than in fp32, with the reason, or "" when bf16 is
// expected to pay (or not asked for). Without BF16 instructions (AVX512-BF16
// or AMX) oneDNN emulates bf16; with AVX512-BF16 alone its convolutions
// may still lose to fp32 (oneDNN 2.6 on an Intel Xeon with AVX512-BF16
// but no AMX: 7.4 ms against 5.6 ms for a 256-channel 32×32 layer), so it
// times one layer both ways, which takes a few tens of milliseconds.
func PrecisionAdvice(dev torch.Device, dt torch.DType) string {
	if dt != torch.BFloat16 || dev != torch.CPU {
		return ""
	}
	f := torch.CPUFeatures()
	if !f["avx512_bf16"] && !f["amx_bf16"] {
		return fmt.Sprintf("--precision bf16: this CPU (%s) has no BF16 instructions, so bf16 is emulated and several times slower than fp32; use --precision fp32", torch.CPUSummary())
	}
	f32, b16, err := timeConvs()
	if err != nil || b16 < 0.9*f32 {
		return ""
	}
	return fmt.Sprintf("--precision bf16: a bf16 convolution takes %.1f ms on this CPU against %.1f ms in fp32 (%s), so bf16 training will not be faster here; --precision fp32 is", b16*1e3, f32*1e3, torch.CPUSummary())
}

// timeConvs returns the best of a few runs of one 128-channel 3×3
// convolution at 32×32 in fp32 and in bf16, in seconds.
func timeConvs() (f32, b16 float64, err error) {
	err = torch.Try(func() {
		defer torch.NewScope().Close()
		x := torch.Randn(1, 128, 32, 32)
		w := torch.Randn(128, 128, 3, 3)
		best := func(x, w *torch.Tensor) float64 {
			b := math.Inf(1)
			for i := 0; i < 4; i++ {
				start := time.Now()
				torch.Conv2d(x, w, nil, 1, 1, 1, 1).Free()
				if i > 0 { // the first run creates oneDNN's primitive
					b = math.Min(b, time.Since(start).Seconds())
				}
			}
			return b
		}
		f32 = best(x, w)
		b16 = best(x.ToDevice(torch.CPU, torch.BFloat16), w.ToDevice(torch.CPU, torch.BFloat16))
	})
	return f32, b16, err
}
