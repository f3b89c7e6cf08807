package data

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
)

// Params are the random choices shared by the two halves of an aligned
// pair: the reference's get_params result.
type Params struct {
	CropX, CropY int // crop_pos
	Flip         bool
	// FillPastBorder crops as the reference's get_params path does, with
	// Pillow's Image.crop: an image larger than --crop_size in one
	// direction but smaller in the other is cropped all the same, black
	// past its border. Without it (torchvision's RandomCrop, the unaligned
	// and single modes) an image smaller than the crop is an error.
	FillPastBorder bool
	// Source names the image in warnings.
	Source string
}

// GetParams draws crop position and flip as the reference's get_params:
// the crop range comes from the nominal size after resizing (load_size ×
// load_size for resize_and_crop; width load_size and height
// load_size·h/w, rounded down, for scale_width_and_crop; otherwise the
// source size), positions are uniform over [0, max(0, nominal − crop)],
// and flip is a fair coin.
func GetParams(o *Options, w, h int, rng *rand.Rand) Params {
	nw, nh := w, h
	switch o.Preprocess {
	case "resize_and_crop":
		nw, nh = o.LoadSize, o.LoadSize
	case "scale_width_and_crop":
		nw, nh = o.LoadSize, o.LoadSize*h/w
	}
	x := rng.IntN(max(0, nw-o.CropSize) + 1)
	y := rng.IntN(max(0, nh-o.CropSize) + 1)
	return Params{CropX: x, CropY: y, Flip: rng.Float64() > 0.5, FillPastBorder: true}
}

// fillWarning is logged at most once per run: a dataset with one such
// image usually has many.
var fillWarning sync.Once

func warnFill(p Params, w, h, crop int) {
	fillWarning.Do(func() {
		slog.Warn("image smaller than --crop_size in one direction: filled with black past its border, as the reference's Pillow crop does (said once per run)",
			"file", p.Source, "size", fmt.Sprintf("%dx%d", w, h), "crop_size", crop)
	})
}

// uncroppedWarning is logged at most once per run, like fillWarning.
var uncroppedWarning sync.Once

func warnUncropped(p Params, w, h, crop int) {
	uncroppedWarning.Do(func() {
		slog.Warn("image no larger than --crop_size in either direction: passed on uncropped at its own size, as the reference's get_params path does (said once per run); use --preprocess resize_and_crop or a smaller --crop_size to train at --crop_size",
			"file", p.Source, "size", fmt.Sprintf("%dx%d", w, h), "crop_size", crop)
	})
}

// sizeAfterResize is the size the resize/scale step produces.
func sizeAfterResize(o *Options, w, h int) (int, int) {
	switch {
	case strings.Contains(o.Preprocess, "resize"):
		return o.LoadSize, o.LoadSize
	case strings.Contains(o.Preprocess, "scale_width"):
		if w == o.LoadSize && h >= o.CropSize {
			return w, h
		}
		// crop_size bounds the height even without cropping, as in the
		// reference (Python's int(max(load·h/w, crop))).
		return o.LoadSize, int(math.Max(float64(o.LoadSize*h)/float64(w), float64(o.CropSize)))
	}
	return w, h
}

// ApplyTransform runs the reference's get_transform with fixed params:
// conversion to nc channels (1: PIL convert('L'); 3: RGB), resize or
// scale_width, crop, rounding to multiples of 4 (preprocess none), and a
// horizontal flip when params say so and --no_flip is off. The result is
// still an image; Tensor normalises it.
func ApplyTransform(img *Image, o *Options, p Params, nc int) (*Image, error) {
	img, err := img.Channels(nc)
	if err != nil {
		return nil, err
	}
	if w, h := sizeAfterResize(o, img.W, img.H); w != img.W || h != img.H {
		if w <= 0 || h <= 0 {
			return nil, fmt.Errorf("--preprocess %s would resize the %dx%d image to %dx%d", o.Preprocess, img.W, img.H, w, h)
		}
		img = img.Resize(w, h)
	}
	if o.crops() {
		cs := o.CropSize
		larger, smaller := img.W > cs || img.H > cs, img.W < cs || img.H < cs
		switch {
		case p.FillPastBorder && larger:
			if smaller {
				warnFill(p, img.W, img.H, cs)
			}
			img = img.Crop(p.CropX, p.CropY, cs, cs)
		case smaller && p.FillPastBorder:
			// Pillow's crop path leaves an image no larger than the crop
			// in either direction as it is, as the reference does; a batch
			// of mixed sizes then fails in Collate, naming the images.
			warnUncropped(p, img.W, img.H, cs)
		case smaller:
			how := "as loaded"
			if o.resizes() {
				how = "after --preprocess " + o.Preprocess
			}
			return nil, fmt.Errorf("--crop_size %d is larger than the image (%dx%d %s); use --preprocess resize_and_crop or a smaller --crop_size", cs, img.W, img.H, how)
		case larger:
			img = img.Crop(p.CropX, p.CropY, cs, cs)
		}
	}
	if o.Preprocess == "none" {
		w := int(math.RoundToEven(float64(img.W)/4)) * 4
		h := int(math.RoundToEven(float64(img.H)/4)) * 4
		if w == 0 || h == 0 {
			return nil, fmt.Errorf("image is %dx%d: --preprocess none rounds sizes to multiples of 4 and needs at least 2 pixels each way", img.W, img.H)
		}
		img = img.Resize(w, h)
	}
	if !o.NoFlip && p.Flip {
		img = img.FlipH()
	}
	return img, nil
}

// RandomTransform is get_transform without params, as the unaligned,
// single and colorization modes use it: torchvision's RandomCrop picks
// the position from the actual size after resizing (which for
// scale_width_and_crop can be taller than get_params' nominal size) and
// RandomHorizontalFlip flips with probability one half.
func RandomTransform(img *Image, o *Options, nc int, rng *rand.Rand) (*Image, error) {
	var p Params
	if o.crops() {
		w, h := sizeAfterResize(o, img.W, img.H)
		p.CropX = rng.IntN(max(0, w-o.CropSize) + 1)
		p.CropY = rng.IntN(max(0, h-o.CropSize) + 1)
	}
	if !o.NoFlip {
		p.Flip = rng.Float64() < 0.5
	}
	return ApplyTransform(img, o, p, nc)
}
