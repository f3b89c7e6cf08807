// Package train runs the reference's train.py and test.py loops on cyclepix
// models: options, data, model, checkpoints with full resumable state, loss
// log, HTML pages and progress.
package train

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/options"
	"cyclepix/torch"
)

// ParseOptions builds the full option set of a train or test command:
// base, train/test, the model's and the dataset mode's options, parsed from
// args. --help (which lists all of them) returns flag.ErrHelp after
// printing to w.
func ParseOptions(isTrain bool, args []string, w io.Writer) (*options.Set, error) {
	o, err := models.BuildOptions(isTrain, args, w, datasetHook)
	if err != nil {
		return nil, err
	}
	if !isTrain {
		// test.py: load_size defaults to crop_size; one image at a time
		// in file order, no flips (we keep --batch_size and
		// --num_threads, which the reference forces to 1 and 0).
		if !o.Given("load_size") {
			o.Set("load_size", o.Int("crop_size"))
		}
		o.Set("serial_batches", true)
		o.Set("no_flip", true)
	}
	if p := o.String("precision"); p != "fp32" && p != "bf16" && p != "fp16" {
		return nil, fmt.Errorf("--precision %q: want fp32, bf16 or fp16", p)
	}
	if suffix := o.String("suffix"); suffix != "" {
		o.Set("name", o.String("name")+"_"+expandSuffix(suffix, o))
	}
	return o, nil
}

// datasetHook adds the chosen dataset mode's options and defaults (the
// reference's dataset modify_commandline_options).
func datasetHook(s *options.Set, args []string) error {
	mode := s.String("dataset_mode")
	if v, ok := options.ScanValue(args, "dataset_mode"); ok {
		mode = v
	}
	m, ok := data.LookupMode(mode)
	if !ok {
		return fmt.Errorf("--dataset_mode %q: unknown (have %s)", mode, strings.Join(data.Modes(), ", "))
	}
	for _, f := range m.Flags {
		s.Add(mode, options.Def{Name: f.Name, Default: f.Default, Help: f.Help})
	}
	for k, v := range m.Defaults {
		if s.Has(k) {
			s.SetDefault(k, v)
		}
	}
	return nil
}

// expandSuffix fills {option} fields of --suffix, as opt.suffix.format(**vars(opt)).
func expandSuffix(suffix string, o *options.Set) string {
	out := suffix
	for k, v := range o.Map() {
		out = strings.ReplaceAll(out, "{"+k+"}", fmt.Sprint(v))
	}
	return out
}

// Device resolves --device, or --gpu_ids when --device is not given (the
// reference's older option: "-1" is the CPU, "N" or "N,M,…" the CUDA
// device N). --precision fp16 needs a CUDA device. On a CUDA device cuDNN's
// autotuner is turned on (torch.backends.cudnn.benchmark) unless
// CYCLEPIX_CUDNN_BENCHMARK=0.
func Device(o *options.Set) (torch.Device, error) {
	dev, err := resolveDevice(o)
	if err != nil {
		return dev, err
	}
	if o.Has("precision") && o.String("precision") == "fp16" && dev == torch.CPU {
		return dev, fmt.Errorf("--precision fp16 needs a CUDA device (on the CPU use bf16)")
	}
	if dev != torch.CPU {
		torch.SetCuDNNBenchmark(os.Getenv("CYCLEPIX_CUDNN_BENCHMARK") != "0")
	}
	return dev, nil
}

func resolveDevice(o *options.Set) (torch.Device, error) {
	d, flag := o.String("device"), "--device"
	if ids := strings.TrimSpace(o.String("gpu_ids")); ids != "" && !o.Given("device") {
		first, _, _ := strings.Cut(ids, ",")
		n, err := strconv.Atoi(strings.TrimSpace(first))
		switch {
		case err != nil || n < -1:
			return torch.CPU, fmt.Errorf("--gpu_ids %q: want -1 (CPU) or device ids such as 0 or 0,1", ids)
		case n == -1:
			d = "cpu"
		default:
			d = fmt.Sprintf("cuda:%d", n)
		}
		flag = "--gpu_ids"
	}
	switch d {
	case "auto":
		if torch.CUDADeviceCount() > 0 {
			return torch.CUDA(0), nil
		}
		return torch.CPU, nil
	default:
		dev, err := torch.ParseDevice(d)
		if err != nil {
			return torch.CPU, fmt.Errorf("%s: %w", flag, err)
		}
		if dev != torch.CPU && int(dev) >= torch.CUDADeviceCount() {
			return torch.CPU, fmt.Errorf("%s %s: this libtorch sees %d CUDA devices", flag, d, torch.CUDADeviceCount())
		}
		return dev, nil
	}
}

// Precision returns the autocast dtype of --precision (ok false for fp32).
func Precision(o *options.Set) (dtype torch.DType, ok bool) {
	switch o.String("precision") {
	case "bf16":
		return torch.BFloat16, true
	case "fp16":
		return torch.Float16, true
	}
	return torch.Float32, false
}

// Seed returns --seed, or a time-based seed when it is 0.
func Seed(o *options.Set) uint64 {
	if s := o.Int("seed"); s != 0 {
		return uint64(s)
	}
	return uint64(time.Now().UnixNano())
}

// newModel builds the --model with weights drawn from libtorch's generator
// seeded by seed.
func newModel(o *options.Set, dev torch.Device, rng *rand.Rand) (models.Model, error) {
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		return nil, err
	}
	var m models.Model
	err = torch.TryErr(func() error {
		var err error
		m, err = def.New(o, models.Env{Device: dev, Rng: rng})
		return err
	})
	return m, err
}

// DataOptions converts the option set into the data package's options.
func DataOptions(o *options.Set) (data.Options, error) {
	d, err := data.OptionsFromMap(o.Map())
	if err != nil {
		return d, err
	}
	if d.Dataroot == "" {
		return d, fmt.Errorf("--dataroot is required (the folder with your images)")
	}
	return d, nil
}

// BatchInput turns a data batch into model input tensors on dev (the
// training and test loops use it; so does bench, which drives a model
// itself).
func BatchInput(b *data.Batch, dev torch.Device) models.Input {
	in := models.Input{Tensors: map[string]*torch.Tensor{}, Paths: b.Paths}
	for k, a := range b.Arrays {
		shape := make([]int64, len(a.Shape))
		for i, s := range a.Shape {
			shape[i] = int64(s)
		}
		t := torch.FromFloat32(a.Data, shape...)
		if dev != torch.CPU {
			t = t.ToDevice(dev, torch.Float32)
		}
		in.Tensors[k] = t
	}
	return in
}

// saveVisual writes the first image of a [N,C,H,W] tensor in [-1,1] as PNG.
func saveVisual(path string, t *torch.Tensor, index int64) error {
	img := t.Select(0, index)
	s := img.Shape()
	return data.SavePNG(path, img.Float32s(), int(s[0]), int(s[1]), int(s[2]))
}

// checkImageSize refuses a fixed training size the generator cannot take
// (a U-Net halves the size once per level and concatenates skips), before
// any work, instead of failing inside libtorch at the first iteration.
func checkImageSize(o *options.Set) error {
	switch o.String("preprocess") {
	case "resize_and_crop", "crop", "scale_width_and_crop":
	default:
		return nil // sizes vary per image; the dataset rounds them to multiples of 4
	}
	size, netG := o.Int("crop_size"), o.String("netG")
	if m := networks.SizeMultiple(netG); size%m != 0 {
		return fmt.Errorf("--crop_size %d does not fit --netG %s, which needs image sizes that are multiples of %d (use --crop_size %d, or a generator such as unet_%d)",
			size, netG, m, max(m, size/m*m), largestPow2Divisor(size))
	}
	return nil
}

// largestPow2Divisor is the largest power of two (at most 256) dividing n.
func largestPow2Divisor(n int) int {
	p := 1
	for p < 256 && n%(p*2) == 0 {
		p *= 2
	}
	return p
}
