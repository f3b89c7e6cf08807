package data

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
)

// The colorization mode reads RGB images from <dataroot>/<phase> and gives
// the model the lightness as input and the colour as target: A = L/50 − 1
// (1 channel, in [-1, 1]) and B = (a, b)/110 (2 channels, about [-1, 1]),
// computed as skimage's rgb2lab after the usual resize/crop/flip.
func init() {
	RegisterMode("colorization", Mode{
		New:      newColorization,
		Summary:  "RGB images in <dataroot>/<phase> → A = lightness L, B = colour ab",
		Defaults: map[string]any{"input_nc": 1, "output_nc": 2, "direction": "AtoB"},
		Folders:  phaseFolder,
	})
}

type colorization struct {
	o     Options
	paths []string
}

func newColorization(o Options) (Dataset, error) {
	if o.InputNC != 1 || o.OutputNC != 2 || o.Direction != "AtoB" {
		return nil, fmt.Errorf("dataset_mode colorization needs --input_nc 1 --output_nc 2 --direction AtoB (got %d, %d, %s): A is the L channel and B the ab channels", o.InputNC, o.OutputNC, o.Direction)
	}
	paths, err := imageFolder(filepath.Join(o.Dataroot, o.Phase), o.MaxDatasetSize, "colorization", "RGB images in <dataroot>/"+o.Phase)
	if err != nil {
		return nil, err
	}
	return &colorization{o: o, paths: paths}, nil
}

func (d *colorization) Len() int { return len(d.paths) }

func (d *colorization) Get(i int, rng *rand.Rand) (*Sample, error) {
	path := d.paths[i]
	// Colour photos, read as the reference reads them, whatever the
	// channel flags (1 and 2, the L and ab the model gets).
	rgb := Side{Name: "A", NC: 3, NCFlag: "input_nc", RangeFlag: "range_A", Range: "dtype"}
	m, err := loadSide(path, &d.o, rgb, func(m *Image) (*Image, error) { return RandomTransform(m, &d.o, 3, rng) })
	if err != nil {
		return nil, err
	}
	a, b := m.LabArrays()
	return &Sample{
		Arrays: map[string]*Array{"A": {Shape: []int{1, m.H, m.W}, Data: a}, "B": {Shape: []int{2, m.H, m.W}, Data: b}},
		Paths:  map[string]string{"A_paths": path, "B_paths": path},
	}, nil
}
