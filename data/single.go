package data

import "math/rand/v2"

// The single mode reads one domain from <dataroot> itself (recursively),
// for --model test: it yields only A.
func init() {
	RegisterMode("single", Mode{New: newSingle, Summary: "one domain, all images under <dataroot> (for --model test)",
		Folders: func(Options) []Folder { return []Folder{{}} }})
}

type single struct {
	o     Options
	paths []string
	nc    int
}

func newSingle(o Options) (Dataset, error) {
	if err := checkSides("single", &o, "A"); err != nil {
		return nil, err
	}
	paths, err := imageFolder(o.Dataroot, o.MaxDatasetSize, "single", "images under <dataroot>")
	if err != nil {
		return nil, err
	}
	nc, _ := o.SideNC()
	return &single{o: o, paths: paths, nc: nc}, nil
}

func (d *single) Len() int { return len(d.paths) }

func (d *single) Get(i int, rng *rand.Rand) (*Sample, error) {
	a, err := loadSide(d.paths[i], &d.o, d.o.side("A"), func(m *Image) (*Image, error) { return RandomTransform(m, &d.o, d.nc, rng) })
	if err != nil {
		return nil, err
	}
	return &Sample{Arrays: map[string]*Array{"A": chw(a)}, Paths: map[string]string{"A_paths": d.paths[i]}}, nil
}
