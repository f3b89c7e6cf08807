package models

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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
