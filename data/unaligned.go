package data

import (
	"math/rand/v2"
	"path/filepath"
)

// The unaligned mode reads CycleGAN data: two unpaired folders
// <dataroot>/<phase>A and <dataroot>/<phase>B. An epoch has as many samples
// as the larger folder; A cycles through its folder in order, B is a random
// image (or, with --serial_batches, cycles in order too). A and B get
// independent random crops and flips.
func init() {
	RegisterMode("unaligned", Mode{New: newUnaligned, Summary: "CycleGAN: unpaired <dataroot>/<phase>A and <dataroot>/<phase>B",
		Folders: func(o Options) []Folder { return []Folder{{Dir: o.Phase + "A"}, {Dir: o.Phase + "B"}} }})
}

type unaligned struct {
	o        Options
	pa, pb   []string
	ncA, ncB int
}

func newUnaligned(o Options) (Dataset, error) {
	if err := checkSides("unaligned", &o, "A", "B"); err != nil {
		return nil, err
	}
	layout := "<dataroot>/" + o.Phase + "A and <dataroot>/" + o.Phase + "B"
	pa, err := imageFolder(filepath.Join(o.Dataroot, o.Phase+"A"), o.MaxDatasetSize, "unaligned", layout)
	if err != nil {
		return nil, err
	}
	pb, err := imageFolder(filepath.Join(o.Dataroot, o.Phase+"B"), o.MaxDatasetSize, "unaligned", layout)
	if err != nil {
		return nil, err
	}
	a, b := o.SideNC()
	return &unaligned{o: o, pa: pa, pb: pb, ncA: a, ncB: b}, nil
}

func (d *unaligned) Len() int { return max(len(d.pa), len(d.pb)) }

func (d *unaligned) Get(i int, rng *rand.Rand) (*Sample, error) {
	pathA := d.pa[i%len(d.pa)]
	var ib int
	if d.o.SerialBatches {
		ib = i % len(d.pb)
	} else {
		ib = rng.IntN(len(d.pb))
	}
	pathB := d.pb[ib]
	a, err := loadSide(pathA, &d.o, d.o.side("A"), func(m *Image) (*Image, error) { return RandomTransform(m, &d.o, d.ncA, rng) })
	if err != nil {
		return nil, err
	}
	b, err := loadSide(pathB, &d.o, d.o.side("B"), func(m *Image) (*Image, error) { return RandomTransform(m, &d.o, d.ncB, rng) })
	if err != nil {
		return nil, err
	}
	return &Sample{
		Arrays: map[string]*Array{"A": chw(a), "B": chw(b)},
		Paths:  map[string]string{"A_paths": pathA, "B_paths": pathB},
	}, nil
}
