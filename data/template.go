package data

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// The template mode is the documented starting point for a new dataset
// mode. To add one:
//
//  1. copy this file to data/<name>.go and rename the type;
//  2. register it in init with RegisterMode (or Register when it needs no
//     options), under the name users will pass to --dataset_mode;
//  3. in the factory, read folders and options and fail with an error
//     that names the folder and the layout you expect (imageFolder does
//     this for you), and check the channel counts you can produce; declare
//     the folders it reads in Mode.Folders, so that Check verifies them
//     before a run builds its networks;
//  4. in Get, load sample i, draw every random choice from the rng you are
//     given (never a global source: the loader derives one rng per sample
//     so that runs repeat under a seed whatever --num_threads is), and
//     return CHW float32 arrays in [-1, 1] under the names the model reads
//     ("A", "B") with the source files under "A_paths", "B_paths".
//
// Options the mode adds are declared in Mode.Flags (their values arrive in
// Options.Extra as text); defaults it changes go in Mode.Defaults.
//
// This skeleton reads <dataroot>/<phase> and treats each image as both A
// and B (an identity task, enough to run the template model end to end).
// Like the reference's, it adds --new_dataset_option (1.0, default changed
// to 2.0) only to show how; nothing uses the value. (The reference's
// template dataset returns data_A/data_B/path; the names here are the ones
// our models read.)
func init() {
	RegisterMode("template", Mode{
		New:      newTemplate,
		Summary:  "a documented skeleton to copy when adding a dataset mode",
		Defaults: map[string]any{"max_dataset_size": 10, "new_dataset_option": 2.0},
		Flags:    []Flag{{Name: "new_dataset_option", Default: 1.0, Help: "new dataset option (an example)"}},
		// The folders it reads, for Check (data.Check) to verify first.
		Folders: phaseFolder,
	})
}

type template struct {
	o        Options
	paths    []string
	option   float64 // --new_dataset_option
	ncA, ncB int
}

func newTemplate(o Options) (Dataset, error) {
	option := 2.0
	if s, ok := o.Extra["new_dataset_option"]; ok {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("dataset_mode template: --new_dataset_option %q is not a number", s)
		}
		option = v
	}
	if err := checkSides("template", &o, "A", "B"); err != nil {
		return nil, err
	}
	paths, err := imageFolder(filepath.Join(o.Dataroot, o.Phase), o.MaxDatasetSize, "template", "images in <dataroot>/"+o.Phase)
	if err != nil {
		return nil, err
	}
	a, b := o.SideNC()
	return &template{o: o, paths: paths, option: option, ncA: a, ncB: b}, nil
}

func (d *template) Len() int { return len(d.paths) }

func (d *template) Get(i int, rng *rand.Rand) (*Sample, error) {
	path := d.paths[i]
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	sa, sb := d.o.Sides()
	imgA, err := DecodeSide(raw, path, sa, d.o.Depth)
	if err != nil {
		return nil, err
	}
	imgB, err := DecodeSide(raw, path, sb, d.o.Depth)
	if err != nil {
		return nil, err
	}
	// One set of params for both, so A and B stay aligned.
	p := GetParams(&d.o, imgA.W, imgA.H, rng)
	p.Source = path
	a, err := ApplyTransform(imgA, &d.o, p, d.ncA)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := ApplyTransform(imgB, &d.o, p, d.ncB)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Sample{Arrays: map[string]*Array{"A": chw(a), "B": chw(b)}, Paths: map[string]string{"A_paths": path, "B_paths": path}}, nil
}
