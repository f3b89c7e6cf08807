// Package data is cyclepix's data pipeline: image decoding (8- and 16-bit,
// grey, RGB), the reference's preprocessing with Pillow-exact bicubic
// resizing, dataset modes registered by name (aligned, unaligned, single,
// colorization, template), and a parallel, deterministic batch loader.
//
// It produces Go slices (float32, CHW per sample, NCHW per batch); the
// training loop turns them into tensors.
package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"cyclepix/options"
)

// Array is a dense float32 array in C order.
type Array struct {
	Shape []int
	Data  []float32
}

// Sample is one item of a dataset: CHW arrays by name ("A", "B") and the
// files they came from by name ("A_paths", "B_paths"), as the reference's
// __getitem__ dictionaries.
type Sample struct {
	Arrays map[string]*Array
	Paths  map[string]string
}

// Dataset is a dataset mode's data, the reference's BaseDataset.
type Dataset interface {
	// Len is the number of samples in one epoch.
	Len() int
	// Get loads sample index (0 ≤ index < Len). Every random choice
	// (crop, flip, an unaligned B image) comes from rng, so a sample
	// depends only on the index and the rng's seed, not on which
	// goroutine loads it or when.
	Get(index int, rng *rand.Rand) (*Sample, error)
}

// Factory makes a dataset from options. It checks the folders and options
// it depends on and fails with a one-line error saying what to fix.
type Factory func(o Options) (Dataset, error)

// Flag describes an option a dataset mode adds (the reference's
// modify_commandline_options parser.add_argument).
type Flag struct {
	Name    string
	Default any // string, int, float64 or bool
	Help    string
}

// Mode is a registered dataset mode.
type Mode struct {
	New     Factory
	Summary string
	// Defaults are option defaults the mode changes, by option name (the
	// reference's parser.set_defaults), e.g. colorization's input_nc 1.
	Defaults map[string]any
	// Flags are options the mode adds; their values reach the factory in
	// Options.Extra.
	Flags []Flag
	// Folders are the image folders New reads for o, so that Check can
	// verify them (and say what is missing) before a run builds its
	// networks; nil leaves Check to the factory's own errors.
	Folders func(o Options) []Folder
}

var modes = map[string]Mode{}

// Register adds a dataset mode by name; adding a mode is one file with an
// init function that calls Register (or RegisterMode for options).
func Register(name string, f Factory) { RegisterMode(name, Mode{New: f}) }

// RegisterMode adds a dataset mode with a summary and the options it
// changes or adds. Registering a name twice panics: it is a programming
// error caught by any test.
func RegisterMode(name string, m Mode) {
	if _, dup := modes[name]; dup {
		panic("data: dataset mode " + name + " registered twice")
	}
	modes[name] = m
}

// Modes lists the registered mode names, sorted.
func Modes() []string {
	names := make([]string, 0, len(modes))
	for n := range modes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupMode returns a registered mode, for the options layer to apply its
// Defaults and Flags before parsing.
func LookupMode(name string) (Mode, bool) {
	m, ok := modes[name]
	return m, ok
}

// New makes the dataset of mode name (--dataset_mode). The options are
// validated first, so a factory can rely on them.
func New(name string, o Options) (Dataset, error) {
	m, ok := modes[name]
	if !ok {
		return nil, fmt.Errorf("unknown --dataset_mode %q (choose from %s)", name, strings.Join(Modes(), ", "))
	}
	o.DatasetMode = name
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return m.New(o)
}

// OptionsFromMap builds Options from option values by their reference
// names (e.g. options.Set.Map()); missing names keep DefaultOptions'
// values, names it does not know go to Extra as text.
func OptionsFromMap(m map[string]any) (Options, error) {
	o, err := fromMap(Options{}, optionDefaults())
	if err != nil {
		return o, err
	}
	o.Extra = map[string]string{}
	return fromMap(o, m)
}

// optionDefaults are train.py's defaults of the options Options holds, as
// package options defines them (the one place defaults live).
func optionDefaults() map[string]any {
	strs, ints, bools := (&Options{}).fields()
	m := map[string]any{}
	for _, d := range append(options.Base(), options.Train()...) {
		if strs[d.Name] != nil || ints[d.Name] != nil || bools[d.Name] != nil || d.Name == "bit_depth" {
			m[d.Name] = d.Default
		}
	}
	return m
}

// fields maps the option names Options holds to its fields (--bit_depth,
// parsed, aside).
func (o *Options) fields() (strs map[string]*string, ints map[string]*int, bools map[string]*bool) {
	strs = map[string]*string{"dataroot": &o.Dataroot, "phase": &o.Phase, "dataset_mode": &o.DatasetMode,
		"preprocess": &o.Preprocess, "direction": &o.Direction, "range_A": &o.RangeA, "range_B": &o.RangeB}
	ints = map[string]*int{"max_dataset_size": &o.MaxDatasetSize, "load_size": &o.LoadSize, "crop_size": &o.CropSize,
		"input_nc": &o.InputNC, "output_nc": &o.OutputNC, "batch_size": &o.BatchSize, "num_threads": &o.NumThreads}
	bools = map[string]*bool{"no_flip": &o.NoFlip, "serial_batches": &o.SerialBatches}
	return strs, ints, bools
}

// fromMap sets o's fields from m (the rest go to o.Extra).
func fromMap(o Options, m map[string]any) (Options, error) {
	strs, ints, bools := o.fields()
	for k, v := range m {
		var ok bool
		switch {
		case k == "bit_depth":
			s, _ := v.(string)
			d, err := ParseDepth(s)
			if err != nil {
				return o, err
			}
			o.Depth, ok = d, true
		case strs[k] != nil:
			*strs[k], ok = v.(string)
		case ints[k] != nil:
			switch n := v.(type) {
			case int:
				*ints[k], ok = n, true
			case float64:
				if math.IsInf(n, 1) {
					*ints[k], ok = math.MaxInt, true
				} else {
					*ints[k], ok = int(n), n == math.Trunc(n)
				}
			}
		case bools[k] != nil:
			*bools[k], ok = v.(bool)
		default:
			switch x := v.(type) {
			case string:
				o.Extra[k] = x
			case float64:
				o.Extra[k] = strconv.FormatFloat(x, 'g', -1, 64)
			default:
				o.Extra[k] = fmt.Sprint(x)
			}
			ok = true
		}
		if !ok {
			return o, fmt.Errorf("option %s: unexpected value %v (%T)", k, v, v)
		}
	}
	return o, nil
}

// chw wraps an image's normalised tensor as an Array.
func chw(m *Image) *Array {
	return &Array{Shape: []int{m.C, m.H, m.W}, Data: m.Tensor()}
}

// checkSides fails early, at dataset creation, on flags no file can
// satisfy (a channel count out of bounds, a malformed range), naming the
// option to change.
func checkSides(mode string, o *Options, sides ...string) error {
	for _, name := range sides {
		if err := o.side(name).check(); err != nil {
			return fmt.Errorf("dataset_mode %s: %w", mode, err)
		}
	}
	return nil
}
