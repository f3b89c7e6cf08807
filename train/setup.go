// Package train runs the reference's train.py and test.py loops on cyclepix
// models: options, data, model, checkpoints with full resumable state, loss
// log, HTML pages and progress.
package train

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/options"
	"cyclepix/torch"
)

// ParseOptions builds the option set of cyclepix train (isTrain) or
// test: base, train.py's or test.py's, the model's and the dataset mode's
// options (models.Build). test takes the run's recorded architecture from
// its train_opt.txt. --help (which lists all of them) returns
// flag.ErrHelp after printing to w.
func ParseOptions(isTrain bool, args []string, w io.Writer) (*options.Set, error) {
	cmd := models.Command{Name: "train", Train: true, Dataset: true}
	if !isTrain {
		cmd = models.Command{Name: "test", Dataset: true, FromRun: true}
	}
	b, err := models.Build(cmd, args, w)
	if err != nil {
		return nil, err
	}
	return b.Set, nil
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

// saveVisual writes image index of a [N,C,H,W] tensor in [-1,1] as an
// 8-bit PNG: grey and RGB as the reference's tensor2im, other channel
// counts as the preview of --preview_channels (preview), and returns what
// that preview shows ("" for grey and RGB).
func saveVisual(path string, t *torch.Tensor, index int64, preview string) (string, error) {
	img := t.Select(0, index)
	s := img.Shape()
	c, h, w := int(s[0]), int(s[1]), int(s[2])
	ch, err := data.PreviewChannels(preview, c)
	if err != nil {
		return "", err
	}
	im, err := data.Preview(img.Float32s(), c, h, w, ch)
	if err != nil {
		return "", fmt.Errorf("save %s: %w", path, err)
	}
	return data.PreviewLabel(ch, c), data.SaveImage(path, im)
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
