// Package builtin generates small procedural datasets, so that the default
// run, the demo and the tests train on real image folders without a
// download. Each dataset is written as ordinary files in the layout of its
// dataset mode, and the same options (seed included) give identical bytes.
//
//   - blobs2zebras (unaligned, a toy horse2zebra): domain A is smooth
//     coloured blobs on a plain background, domain B the same kind of
//     shapes covered in wavy zebra stripes.
//   - shapes2photos (aligned, a toy facades): A is a flat-colour label map
//     of a wall with windows, a door and round ornaments, B a shaded,
//     textured rendering of the same layout.
package builtin

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"cyclepix/data"
	"cyclepix/data/progress"
)

// Options size a generated dataset.
type Options struct {
	Size     int    // side of one domain's image in pixels; default 128
	NumTrain int    // images per domain in train; default 200
	NumTest  int    // images per domain in test (and val); default 20
	Seed     uint64 // the same seed gives the same bytes
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.Size <= 0 {
		o.Size = 128
	}
	if o.NumTrain <= 0 {
		o.NumTrain = 200
	}
	if o.NumTest <= 0 {
		o.NumTest = 20
	}
}

// set describes one built-in dataset.
type set struct {
	summary string
	mode    string // the dataset mode that reads it
	folders func(o Options) []folder
}

// folder is one output folder and how to draw its images.
type folder struct {
	name  string
	count int
	draw  func(r *rand.Rand, size int) *data.Image
}

var sets = map[string]set{
	"blobs2zebras": {
		summary: "unaligned (trainA/trainB/testA/testB): smooth blobs ↔ zebra-striped blobs",
		mode:    "unaligned",
		folders: func(o Options) []folder {
			return []folder{
				{"trainA", o.NumTrain, drawBlobs}, {"trainB", o.NumTrain, drawZebras},
				{"testA", o.NumTest, drawBlobs}, {"testB", o.NumTest, drawZebras},
			}
		},
	},
	"shapes2photos": {
		summary: "aligned A|B pairs (train/test/val): label map | shaded rendering",
		mode:    "aligned",
		folders: func(o Options) []folder {
			return []folder{{"train", o.NumTrain, drawPair}, {"test", o.NumTest, drawPair}, {"val", o.NumTest, drawPair}}
		},
	},
}

// Names lists the built-in datasets.
func Names() []string {
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Describe returns a dataset's one-line summary and the --dataset_mode
// that reads it.
func Describe(name string) (summary, mode string, ok bool) {
	s, ok := sets[name]
	return s.summary, s.mode, ok
}

// Report says what Generate wrote.
type Report struct {
	Dir    string
	Images int
	Mode   string // the --dataset_mode to train on it with
}

// Generate writes dataset name into dir (created if needed; files of the
// same names are replaced).
func Generate(ctx context.Context, name, dir string, o Options) (Report, error) {
	s, ok := sets[name]
	if !ok {
		return Report{}, fmt.Errorf("unknown built-in dataset %q (choose from %s)", name, strings.Join(Names(), ", "))
	}
	o.defaults()
	if o.Size < 16 || o.Size > 4096 {
		return Report{}, fmt.Errorf("built-in dataset size %d: choose 16 to 4096 pixels", o.Size)
	}
	type job struct {
		path string
		rng  *rand.Rand
		draw func(*rand.Rand, int) *data.Image
	}
	var jobs []job
	for _, f := range s.folders(o) {
		if err := os.MkdirAll(filepath.Join(dir, f.name), 0o755); err != nil {
			return Report{}, fmt.Errorf("builtin %s: %w", name, err)
		}
		for i := 0; i < f.count; i++ {
			r := imageRand(o.Seed, name, f.name, i)
			jobs = append(jobs, job{filepath.Join(dir, f.name, fmt.Sprintf("%04d.png", i)), r, f.draw})
		}
	}
	bar := progress.Count(o.Progress, len(jobs), name, "img")
	defer bar.Finish()
	err := progress.Each(ctx, len(jobs), runtime.NumCPU(), bar, func(i int) error {
		j := jobs[i]
		return savePNG(j.path, j.draw(j.rng, o.Size))
	})
	if err != nil {
		return Report{}, fmt.Errorf("builtin %s: %w", name, err)
	}
	return Report{Dir: dir, Images: len(jobs), Mode: s.mode}, nil
}

// savePNG writes with the fastest deflate level: a generated dataset is
// rewritten at will, so a second of encoding matters more than its size.
func savePNG(path string, m *data.Image) error {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, m.ToStd()); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return data.WriteFileAtomic(path, buf.Bytes())
}

// Draw returns image i of folder (trainA, testB, val, …) of dataset name,
// exactly as Generate with that seed and size writes it, without touching
// the disk. The quality checks train their domain classifier on images
// drawn this way, from seeds no dataset on disk was generated with.
func Draw(name, folder string, size int, seed uint64, i int) (*data.Image, error) {
	s, ok := sets[name]
	if !ok {
		return nil, fmt.Errorf("unknown built-in dataset %q (choose from %s)", name, strings.Join(Names(), ", "))
	}
	if size < 16 || size > 4096 {
		return nil, fmt.Errorf("built-in dataset size %d: choose 16 to 4096 pixels", size)
	}
	for _, f := range s.folders(Options{NumTrain: 1, NumTest: 1}) {
		if f.name == folder {
			return f.draw(imageRand(seed, name, folder, i), size), nil
		}
	}
	var names []string
	for _, f := range s.folders(Options{NumTrain: 1, NumTest: 1}) {
		names = append(names, f.name)
	}
	return nil, fmt.Errorf("built-in dataset %s has no folder %q (it has %s)", name, folder, strings.Join(names, ", "))
}

// imageRand is the random stream of one image. One stream per image makes
// the output independent of which goroutine draws it.
func imageRand(seed uint64, name, folder string, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name + "/" + folder))
	return rand.New(rand.NewPCG(seed, h.Sum64()+uint64(i)*0x9e3779b97f4a7c15))
}
