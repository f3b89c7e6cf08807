package data

import (
	"fmt"
	"math/rand/v2"
	"os"
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
	if err := checkSides("aligned", &o, "A", "B"); err != nil {
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
	a, b, err := d.halves(path)
	if err != nil {
		return nil, err
	}
	p := GetParams(&d.o, a.W, a.H, rng)
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

// halves reads a side-by-side pair: the reference's way (one image, split),
// or on the data's own scale when either side asks for it (one raster,
// split, each half mapped by its side's range; both sides then hold the
// file's channels).
func (d *aligned) halves(path string) (a, b *Image, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read image: %w", err)
	}
	sa, sb := d.o.Sides()
	oddWidth := func(w int) error {
		return fmt.Errorf("%s: aligned image is %d pixels wide, an odd width cannot split into equal A|B halves (dataset_mode aligned expects %s; see 'cyclepix data combine')", path, w, d.layout)
	}
	if !sa.NeedsRaster(raw) && !sb.NeedsRaster(raw) {
		ab, err := DecodeImage(raw, path, d.o.Depth)
		if err != nil {
			return nil, nil, err
		}
		if ab.W%2 != 0 {
			return nil, nil, oddWidth(ab.W)
		}
		w2 := ab.W / 2
		return ab.Crop(0, 0, w2, ab.H), ab.Crop(w2, 0, w2, ab.H), nil
	}
	r, err := decodeRaster(raw, path, sa)
	if err != nil {
		return nil, nil, err
	}
	if sb.NC != sa.NC {
		return nil, nil, fmt.Errorf("%s: a side-by-side pair has one channel count for both halves, but --%s is %d and --%s %d: use --dataset_mode paired (A and B in two folders) for different counts", path, sa.NCFlag, sa.NC, sb.NCFlag, sb.NC)
	}
	if r.W%2 != 0 {
		return nil, nil, oddWidth(r.W)
	}
	w2 := r.W / 2
	if a, err = scaleSide(r.Crop(0, 0, w2, r.H), path, sa); err != nil {
		return nil, nil, err
	}
	if b, err = scaleSide(r.Crop(w2, 0, w2, r.H), path, sb); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}
