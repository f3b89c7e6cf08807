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
//   - fluo2he (paired, a toy virtual staining): A is a 4-channel
//     fluorescence image of a tissue section as a 12-bit camera records it
//     (uint16 TIFF, values 0..4095: DAPI nuclei, membranes, cytoplasm,
//     autofluorescence), B the H&E bright-field image of the same section
//     (8-bit RGB PNG). The pairs are the same file names in trainA and
//     trainB (testA/testB, valA/valB). See tissue.go for the channels.
//   - labels2scenes (pix2pixhd, a toy Cityscapes): street scenes as
//     NVIDIA pix2pixHD reads them, 8-bit label maps (train_label), 16-bit
//     instance maps (train_inst) and RGB renderings (train_img), the
//     three files of a scene under one name (test_*, val_* alike). See
//     scenes.go for the classes.
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
	"strconv"
	"strings"

	"cyclepix/data"
	"cyclepix/data/progress"
	"cyclepix/data/raster"
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
	mode    string   // the dataset mode that reads it
	flags   []string // what else training needs to read it as meant
	folders func(o Options) []folder
}

// folder is one output folder and how to draw its images: 8-bit PNGs
// (draw) or TIFFs of any channel count and type (drawRaster).
type folder struct {
	name       string
	count      int
	draw       func(r *rand.Rand, size int) *data.Image
	drawRaster func(r *rand.Rand, size int) *raster.Raster
	// stream names the images' random streams (default: name). Folders
	// that share one draw the same scene, so paired folders in two
	// directories (trainA, trainB) show one tissue.
	stream string
	// png writes drawRaster's rasters as PNGs (grey, 8 or 16 bits)
	// instead of TIFFs: pix2pixHD reads its instance maps as 16-bit PNGs.
	png bool
	// link makes the folder a symbolic link to the sibling folder of that
	// name (the same images under a second layout's name), drawing nothing.
	link string
}

func (f folder) streamName() string {
	if f.stream != "" {
		return f.stream
	}
	return f.name
}

func (f folder) ext() string {
	if f.drawRaster != nil && !f.png {
		return ".tif"
	}
	return ".png"
}

var sets = map[string]set{
	"blobs2zebras": {
		summary: "unaligned (trainA/trainB/testA/testB): smooth blobs ↔ zebra-striped blobs",
		mode:    "unaligned",
		folders: func(o Options) []folder {
			return []folder{
				{name: "trainA", count: o.NumTrain, draw: drawBlobs}, {name: "trainB", count: o.NumTrain, draw: drawZebras},
				{name: "testA", count: o.NumTest, draw: drawBlobs}, {name: "testB", count: o.NumTest, draw: drawZebras},
			}
		},
	},
	"shapes2photos": {
		summary: "aligned A|B pairs (train/test/val): label map | shaded rendering",
		mode:    "aligned",
		folders: func(o Options) []folder {
			return []folder{{name: "train", count: o.NumTrain, draw: drawPair}, {name: "test", count: o.NumTest, draw: drawPair},
				{name: "val", count: o.NumTest, draw: drawPair}}
		},
	},
	"fluo2he": {
		summary: "paired (trainA/testA/valA ↔ trainB/testB/valB by name): 4-page uint16 TIFFs of a 12-bit camera, 0..4095 " +
			"(0 DAPI nuclei, 1 membranes, 2 cytoplasm, 3 autofluorescence) → 8-bit RGB H&E PNGs; " +
			"train with --input_nc 4 --output_nc 3 --range_A 0:4095",
		mode:  "paired",
		flags: []string{"--input_nc", "4", "--output_nc", "3", "--range_A", "0:4095"},
		folders: perPhase(func(phase string, n int) []folder {
			return []folder{{name: phase + "A", count: n, drawRaster: drawFluorescence, stream: phase},
				{name: phase + "B", count: n, draw: drawHE, stream: phase}}
		}),
	},
	"labels2scenes": {
		summary: "pix2pixHD layout (train_label/train_inst/train_img, test_*, val_*, paired by name): street scenes, " +
			"--size 512 for pix2pixHD's scale; 8-bit label maps of 8 classes (0 sky, 1 road, 2 grass, 3 building, " +
			"4 window, 5 tree, 6 car, 7 person), 16-bit instance maps (stuff: the class id; things 3, 5, 6, 7: " +
			"class*1000+k) and RGB renderings; train with --model pix2pixhd --label_nc 8. Also train_A, the label maps in colour, " +
			"and train_B (a link to train_img): pix2pix's input and target (--dataset_mode pix2pixhd --label_nc 0 --no_instance)",
		mode:  "pix2pixhd",
		flags: []string{"--model", "pix2pixhd", "--label_nc", strconv.Itoa(sceneClasses)},
		folders: perPhase(func(phase string, n int) []folder {
			return []folder{{name: phase + "_label", count: n, draw: drawSceneLabel, stream: phase},
				{name: phase + "_inst", count: n, drawRaster: drawSceneInstances, png: true, stream: phase},
				{name: phase + "_img", count: n, draw: drawSceneImage, stream: phase},
				{name: phase + "_A", count: n, draw: drawSceneColours, stream: phase},
				{name: phase + "_B", link: phase + "_img"}}
		}),
	},
}

// perPhase builds a dataset's folders for its train, test and val splits,
// NumTrain images in the first and NumTest in the others.
func perPhase(of func(phase string, n int) []folder) func(Options) []folder {
	return func(o Options) []folder {
		var out []folder
		for _, phase := range []string{"train", "test", "val"} {
			n := o.NumTest
			if phase == "train" {
				n = o.NumTrain
			}
			out = append(out, of(phase, n)...)
		}
		return out
	}
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

// Flags returns the training flags, besides --dataroot and
// --dataset_mode, without which a dataset would load wrongly or not at
// all (channel counts, a declared value range); none for 8-bit RGB data.
func Flags(name string) []string { return append([]string(nil), sets[name].flags...) }

// Report says what Generate wrote.
type Report struct {
	Dir    string
	Images int
	Mode   string   // the --dataset_mode to train on it with
	Flags  []string // and these flags (Flags)
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
		f    folder
	}
	var jobs []job
	for _, f := range s.folders(o) {
		if f.link != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return Report{}, fmt.Errorf("builtin %s: %w", name, err)
			}
			p := filepath.Join(dir, f.name)
			if t, err := os.Readlink(p); err == nil && t == f.link {
				continue
			}
			if err := os.Symlink(f.link, p); err != nil {
				return Report{}, fmt.Errorf("builtin %s: %w", name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, f.name), 0o755); err != nil {
			return Report{}, fmt.Errorf("builtin %s: %w", name, err)
		}
		for i := 0; i < f.count; i++ {
			r := imageRand(o.Seed, name, f.streamName(), i)
			jobs = append(jobs, job{filepath.Join(dir, f.name, fmt.Sprintf("%04d%s", i, f.ext())), r, f})
		}
	}
	bar := progress.Count(o.Progress, len(jobs), name, "img")
	defer bar.Finish()
	err := progress.Each(ctx, len(jobs), runtime.NumCPU(), bar, func(i int) error {
		j := jobs[i]
		switch {
		case j.f.drawRaster != nil && j.f.png:
			return raster.WritePNG(j.path, j.f.drawRaster(j.rng, o.Size))
		case j.f.drawRaster != nil:
			return raster.WriteTIFF(j.path, j.f.drawRaster(j.rng, o.Size))
		}
		return savePNG(j.path, j.f.draw(j.rng, o.Size))
	})
	if err != nil {
		return Report{}, fmt.Errorf("builtin %s: %w", name, err)
	}
	return Report{Dir: dir, Images: len(jobs), Mode: s.mode, Flags: Flags(name)}, nil
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
// Folders of TIFFs (fluo2he's trainA) are drawn by DrawRaster.
func Draw(name, folder string, size int, seed uint64, i int) (*data.Image, error) {
	f, err := lookup(name, folder, size)
	if err != nil {
		return nil, err
	}
	if f.draw == nil {
		kind := "TIFFs of the data's own scale"
		if f.png {
			kind = "16-bit PNGs"
		}
		return nil, fmt.Errorf("built-in dataset %s's %s holds %s, not 8-bit pictures: draw them with DrawRaster", name, folder, kind)
	}
	return f.draw(imageRand(seed, name, f.streamName(), i), size), nil
}

// DrawRaster is Draw for every folder, as the samples Generate writes
// (TIFFs as they are; 8-bit pictures as uint8 rasters), so that tests can
// lay out results of domains on their own scale without the disk.
func DrawRaster(name, folder string, size int, seed uint64, i int) (*raster.Raster, error) {
	f, err := lookup(name, folder, size)
	if err != nil {
		return nil, err
	}
	r := imageRand(seed, name, f.streamName(), i)
	if f.drawRaster != nil {
		return f.drawRaster(r, size), nil
	}
	m := f.draw(r, size)
	out := raster.New(m.W, m.H, m.C, raster.Uint8)
	n := m.W * m.H
	for k := 0; k < m.C; k++ {
		p := out.Plane(k)
		for j := 0; j < n; j++ {
			p[j] = float32(m.Pix[j*m.C+k])
		}
	}
	return out, nil
}

// lookup finds a dataset's folder and checks the size.
func lookup(name, dir string, size int) (folder, error) {
	s, ok := sets[name]
	if !ok {
		return folder{}, fmt.Errorf("unknown built-in dataset %q (choose from %s)", name, strings.Join(Names(), ", "))
	}
	if size < 16 || size > 4096 {
		return folder{}, fmt.Errorf("built-in dataset size %d: choose 16 to 4096 pixels", size)
	}
	var names []string
	for _, f := range s.folders(Options{NumTrain: 1, NumTest: 1}) {
		if f.name == dir {
			return f, nil
		}
		names = append(names, f.name)
	}
	return folder{}, fmt.Errorf("built-in dataset %s has no folder %q (it has %s)", name, dir, strings.Join(names, ", "))
}

// imageRand is the random stream of one image. One stream per image makes
// the output independent of which goroutine draws it.
func imageRand(seed uint64, name, folder string, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name + "/" + folder))
	return rand.New(rand.NewPCG(seed, h.Sum64()+uint64(i)*0x9e3779b97f4a7c15))
}
