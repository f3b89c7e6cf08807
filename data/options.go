package data

import (
	"fmt"
	"strings"
)

// Options are the dataset and loader options of the reference, under the
// same names (given with each field) so that its users recognise them.
type Options struct {
	Dataroot    string // --dataroot: the dataset folder
	Phase       string // --phase: train, test, val, … (selects <dataroot>/<phase>…)
	DatasetMode string // --dataset_mode: aligned, unaligned, single, colorization, template, …
	// MaxDatasetSize is --max_dataset_size; 0 or less means no limit (the
	// reference's default, inf).
	MaxDatasetSize int
	Preprocess     string // --preprocess: resize_and_crop, crop, scale_width, scale_width_and_crop, none
	LoadSize       int    // --load_size
	CropSize       int    // --crop_size
	NoFlip         bool   // --no_flip
	InputNC        int    // --input_nc
	OutputNC       int    // --output_nc
	Direction      string // --direction: AtoB or BtoA
	SerialBatches  bool   // --serial_batches: no shuffling, unaligned B taken in order
	BatchSize      int    // --batch_size
	NumThreads     int    // --num_threads: loader goroutines
	// Depth is --bit_depth: whether 16-bit samples load at full precision
	// or as the reference's Pillow reduces them.
	Depth Depth
	// RangeA and RangeB are --range_A and --range_B: how each dataset
	// side's values map to [-1, 1] (ranges.go, domain.go).
	RangeA, RangeB string
	// Extra holds dataset-specific options by their flag name (the
	// reference's modify_commandline_options additions), e.g. the template
	// mode's "new_dataset_option".
	Extra map[string]string
}

// DefaultOptions returns the reference's defaults for training
// (train.py): unaligned data, resize_and_crop 286 → 256, 3 → 3 channels,
// batch 1, 4 threads — the defaults package options defines.
func DefaultOptions() Options {
	o, err := OptionsFromMap(nil)
	if err != nil {
		panic("data: the option defaults do not parse: " + err.Error())
	}
	return o
}

// PreprocessModes are the accepted values of --preprocess.
var PreprocessModes = []string{"resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"}

// Validate checks the options that every dataset mode relies on.
func (o *Options) Validate() error {
	known := false
	for _, p := range PreprocessModes {
		known = known || o.Preprocess == p
	}
	if !known {
		return fmt.Errorf("unknown --preprocess %q (choose from %s)", o.Preprocess, strings.Join(PreprocessModes, ", "))
	}
	if o.Direction != "AtoB" && o.Direction != "BtoA" {
		return fmt.Errorf("unknown --direction %q (choose AtoB or BtoA)", o.Direction)
	}
	if o.resizes() && o.LoadSize <= 0 {
		return fmt.Errorf("--load_size %d must be positive with --preprocess %s", o.LoadSize, o.Preprocess)
	}
	if o.crops() && o.CropSize <= 0 {
		return fmt.Errorf("--crop_size %d must be positive with --preprocess %s", o.CropSize, o.Preprocess)
	}
	if o.crops() && o.resizes() && o.LoadSize < o.CropSize {
		return fmt.Errorf("--crop_size %d is larger than --load_size %d: with --preprocess %s the crop must fit in the resized image; use a smaller --crop_size or a larger --load_size", o.CropSize, o.LoadSize, o.Preprocess)
	}
	if o.BatchSize < 1 {
		return fmt.Errorf("--batch_size %d must be at least 1", o.BatchSize)
	}
	if o.NumThreads < 0 {
		return fmt.Errorf("--num_threads %d must not be negative", o.NumThreads)
	}
	return nil
}

// resizes reports whether the preprocessing resizes before cropping
// (resize_and_crop, scale_width, scale_width_and_crop).
func (o *Options) resizes() bool {
	return strings.Contains(o.Preprocess, "resize") || strings.Contains(o.Preprocess, "scale_width")
}

func (o *Options) crops() bool { return strings.Contains(o.Preprocess, "crop") }

// SideNC returns the channel counts of the A and B images a dataset must
// produce (see Sides).
func (o *Options) SideNC() (a, b int) {
	sa, sb := o.Sides()
	return sa.NC, sb.NC
}
