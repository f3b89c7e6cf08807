package data

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"cyclepix/data/raster"
)

// The paired mode reads pix2pix pairs from two folders, <dataroot>/<phase>A
// and <dataroot>/<phase>B, matched by file name without its extension
// (trainA/x.tif ↔ trainB/x.npy): the reference's side-by-side layout
// cannot hold two channel counts or two sample types, which scientific
// pairs often have (five fluorescence channels → an RGB stain). Both get
// the same crop and flip, as aligned pairs do.
func init() {
	RegisterMode("paired", Mode{New: newPaired, Summary: "pix2pix pairs in two folders: <dataroot>/<phase>A/x.* ↔ <dataroot>/<phase>B/x.*, matched by name",
		Folders: func(o Options) []Folder { return []Folder{{Dir: o.Phase + "A"}, {Dir: o.Phase + "B"}} }})
}

type paired struct {
	o      Options
	pa, pb []string
}

func newPaired(o Options) (Dataset, error) {
	if err := checkSides("paired", &o, "A", "B"); err != nil {
		return nil, err
	}
	layout := "pairs of files with the same name in <dataroot>/" + o.Phase + "A and <dataroot>/" + o.Phase + "B"
	// Pairs are matched on whole folders, then --max_dataset_size applies.
	pa, err := imageFolder(filepath.Join(o.Dataroot, o.Phase+"A"), 0, "paired", layout)
	if err != nil {
		return nil, err
	}
	pb, err := imageFolder(filepath.Join(o.Dataroot, o.Phase+"B"), 0, "paired", layout)
	if err != nil {
		return nil, err
	}
	pa, pb, err = matchByName(pa, pb, filepath.Join(o.Dataroot, o.Phase+"A"), filepath.Join(o.Dataroot, o.Phase+"B"))
	if err != nil {
		return nil, fmt.Errorf("dataset_mode paired: %w", err)
	}
	if o.MaxDatasetSize > 0 && len(pa) > o.MaxDatasetSize {
		pa, pb = pa[:o.MaxDatasetSize], pb[:o.MaxDatasetSize]
	}
	return &paired{o: o, pa: pa, pb: pb}, nil
}

// matchByName pairs the files of two folders by their path relative to the
// folder without the extension; a name on one side only, or two files of
// one name on one side, is an error naming them.
func matchByName(pa, pb []string, dirA, dirB string) ([]string, []string, error) {
	key := func(dir, p string) string {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			rel = filepath.Base(p)
		}
		return strings.TrimSuffix(rel, filepath.Ext(rel))
	}
	index := func(dir string, ps []string) (map[string]string, error) {
		m := map[string]string{}
		for _, p := range ps {
			k := key(dir, p)
			if other, dup := m[k]; dup {
				return nil, fmt.Errorf("%s and %s have one name: a pair's files are matched by name without extension", other, p)
			}
			m[k] = p
		}
		return m, nil
	}
	ia, err := index(dirA, pa)
	if err != nil {
		return nil, nil, err
	}
	ib, err := index(dirB, pb)
	if err != nil {
		return nil, nil, err
	}
	var outA, outB []string
	for _, p := range pa {
		q, ok := ib[key(dirA, p)]
		if !ok {
			return nil, nil, fmt.Errorf("%s has no partner named %s.* in %s", p, key(dirA, p), dirB)
		}
		outA, outB = append(outA, p), append(outB, q)
	}
	for _, q := range pb {
		if _, ok := ia[key(dirB, q)]; !ok {
			return nil, nil, fmt.Errorf("%s has no partner named %s.* in %s", q, key(dirB, q), dirA)
		}
	}
	return outA, outB, nil
}

func (d *paired) Len() int { return len(d.pa) }

func (d *paired) Get(i int, rng *rand.Rand) (*Sample, error) {
	sa, sb := d.o.Sides()
	id := func(m *Image) (*Image, error) { return m, nil }
	a, err := loadSide(d.pa[i], &d.o, sa, id)
	if err != nil {
		return nil, err
	}
	b, err := loadSide(d.pb[i], &d.o, sb, id)
	if err != nil {
		return nil, err
	}
	if a.W != b.W || a.H != b.H {
		return nil, fmt.Errorf("pair %s (%dx%d) and %s (%dx%d): the two files of a pair must have one size", d.pa[i], a.W, a.H, d.pb[i], b.W, b.H)
	}
	p := GetParams(&d.o, a.W, a.H, rng)
	p.Source = d.pa[i]
	ta, err := ApplyTransform(a, &d.o, p, sa.NC)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.pa[i], err)
	}
	tb, err := ApplyTransform(b, &d.o, p, sb.NC)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.pb[i], err)
	}
	return &Sample{
		Arrays: map[string]*Array{"A": chw(ta), "B": chw(tb)},
		Paths:  map[string]string{"A_paths": d.pa[i], "B_paths": d.pb[i]},
	}, nil
}

func (d *paired) sideFiles(side string) []string {
	if side == "B" {
		return d.pb
	}
	return d.pa
}

func (d *paired) readSide(path string, s Side) (*raster.Raster, error) {
	return readRasterFile(path, s)
}
