package data

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
)

// The aligned mode reads pix2pix pairs: each image in <dataroot>/<phase>
// holds A on the left half and B on the right. Both halves get the same
// crop and flip (one GetParams call), so they stay pixel-aligned.
func init() {
	RegisterMode("aligned", Mode{New: newAligned, Summary: "pix2pix pairs: A|B side by side in <dataroot>/<phase>",
		Folders: func(o Options) []Folder { return []Folder{{Dir: o.Phase, SideBySide: true}} }})
}

type aligned struct {
	o      Options
	paths  []string
	ncA    int
	ncB    int
	layout string
}

func newAligned(o Options) (Dataset, error) {
	if err := checkNC("aligned", &o, "A", "B"); err != nil {
		return nil, err
	}
	layout := "A|B image pairs in <dataroot>/" + o.Phase
	paths, err := imageFolder(filepath.Join(o.Dataroot, o.Phase), o.MaxDatasetSize, "aligned", layout)
	if err != nil {
		return nil, err
	}
	a, b := o.SideNC()
	return &aligned{o: o, paths: paths, ncA: a, ncB: b, layout: layout}, nil
}

func (d *aligned) Len() int { return len(d.paths) }

func (d *aligned) Get(i int, rng *rand.Rand) (*Sample, error) {
	path := d.paths[i]
	ab, err := LoadImageDepth(path, d.o.Depth)
	if err != nil {
		return nil, err
	}
	if ab.W%2 != 0 {
		return nil, fmt.Errorf("%s: aligned image is %d pixels wide, an odd width cannot split into equal A|B halves (dataset_mode aligned expects %s; see 'cyclepix data combine')", path, ab.W, d.layout)
	}
	w2 := ab.W / 2
	a, b := ab.Crop(0, 0, w2, ab.H), ab.Crop(w2, 0, w2, ab.H)
	p := GetParams(&d.o, w2, ab.H, rng)
	p.Source = path
	ta, err := ApplyTransform(a, &d.o, p, d.ncA)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tb, err := ApplyTransform(b, &d.o, p, d.ncB)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Sample{
		Arrays: map[string]*Array{"A": chw(ta), "B": chw(tb)},
		Paths:  map[string]string{"A_paths": path, "B_paths": path},
	}, nil
}
