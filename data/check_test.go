package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckErrors: each kind of wrong dataset is one line that names the
// folder or file, says what is wrong and what to do.
func TestCheckErrors(t *testing.T) {
	img := func(root, rel string) { writePNG(t, filepath.Join(root, rel), 16, 16, pattern) }
	cases := []struct {
		name  string
		mode  string
		setup func(root string)
		opt   func(o *Options)
		want  string // the whole message, with ROOT for the dataroot
	}{
		{"no dataroot", "unaligned", func(string) {}, func(o *Options) { o.Dataroot += "/nope" },
			"--dataroot ROOT/nope: no such folder (check the path; 'cyclepix data download NAME' or 'cyclepix data builtin NAME --out ROOT/nope' makes a dataset)"},
		{"dataroot is a file", "unaligned", func(r string) { img(r, "x.png") }, func(o *Options) { o.Dataroot += "/x.png" },
			"--dataroot ROOT/x.png is a file, not a folder (an unaligned dataset needs trainA and trainB)"},
		{"no trainB", "unaligned", func(r string) { img(r, "trainA/a.png") }, nil,
			"--dataroot ROOT: no trainB folder (an unaligned dataset needs trainA and trainB; it has only trainA)"},
		{"aligned data, unaligned mode", "unaligned", func(r string) { img(r, "train/a.png") }, nil,
			"--dataroot ROOT: no trainA folder (an unaligned dataset needs trainA and trainB; it has train/: did you mean --dataset_mode aligned?)"},
		{"unaligned data, aligned mode", "aligned", func(r string) { img(r, "trainA/a.png"); img(r, "trainB/b.png") }, nil,
			"--dataroot ROOT: no train folder (an aligned dataset needs train with A|B pairs side by side; it has trainA and trainB: did you mean --dataset_mode unaligned?)"},
		{"dataroot too deep", "unaligned", func(r string) { img(r, "trainA/a.png"); img(r, "trainB/b.png") }, func(o *Options) { o.Dataroot += "/trainA" },
			"--dataroot ROOT/trainA: no trainA folder (an unaligned dataset needs trainA and trainB; did you mean --dataroot ROOT?)"},
		{"test phase", "unaligned", func(r string) { img(r, "trainA/a.png"); img(r, "trainB/b.png") }, func(o *Options) { o.Phase = "test" },
			"--dataroot ROOT: no testA folder (an unaligned dataset needs testA and testB; it has trainA, trainB: check --phase test and --dataset_mode unaligned)"},
		{"images at the top", "aligned", func(r string) { img(r, "a.png"); img(r, "b.png") }, nil,
			"--dataroot ROOT: no train folder (an aligned dataset needs train with A|B pairs side by side; it holds 2 images itself: did you mean --dataset_mode single?)"},
		{"empty dataroot", "colorization", func(string) {}, func(o *Options) { o.InputNC, o.OutputNC = 1, 2 },
			"--dataroot ROOT: no train folder (a colorization dataset needs train; it is empty)"},
		{"no images", "unaligned", func(r string) { writeFile(t, filepath.Join(r, "trainA/readme.txt"), nil); img(r, "trainB/b.png") }, nil,
			"--dataroot ROOT: trainA has no images (.jpg .jpeg .png .ppm .bmp .tif .tiff .npy, also in subfolders); it has other files, such as readme.txt: convert them to PNG or JPEG"},
		{"single, no images", "single", func(r string) { os.MkdirAll(filepath.Join(r, "sub"), 0o755) }, nil,
			"--dataroot ROOT has no images (.jpg .jpeg .png .ppm .bmp .tif .tiff .npy, also in subfolders)"},
		{"first image unreadable", "unaligned", func(r string) {
			img(r, "trainA/a.png")
			writeFile(t, filepath.Join(r, "trainB/0.png"), []byte("hello"))
		}, nil,
			"ROOT/trainB/0.png: the first image of trainB does not decode (not a PNG, JPEG, BMP, TIFF or PPM file): replace or remove it"},
		{"odd-width pair", "aligned", func(r string) { writePNG(t, filepath.Join(r, "train/odd.png"), 33, 16, pattern) }, nil,
			"ROOT/train/odd.png is 33 pixels wide: an aligned dataset needs A|B pairs side by side, so an even width (make them with 'cyclepix data combine')"},
		{"crop larger than the first image", "unaligned", func(r string) { img(r, "trainA/a.png"); img(r, "trainB/b.png") }, func(o *Options) { o.Preprocess, o.CropSize = "crop", 20 },
			"ROOT/trainA/a.png is 16x16 as loaded, smaller than --crop_size 20: use --crop_size 16 or less, or --preprocess resize_and_crop --load_size 20"},
		{"crop larger than the first pair", "aligned", func(r string) { writePNG(t, filepath.Join(r, "train/p.png"), 48, 24, pattern) }, func(o *Options) { o.Preprocess, o.CropSize = "crop", 30 },
			"ROOT/train/p.png is 24x24 (each half) as loaded, smaller than --crop_size 30: use --crop_size 24 or less, or --preprocess resize_and_crop --load_size 30"},
		{"trainA is a file", "unaligned", func(r string) { writeFile(t, filepath.Join(r, "trainA"), nil); img(r, "trainB/b.png") }, nil,
			"--dataroot ROOT: trainA is a file, not a folder (an unaligned dataset needs trainA and trainB)"},
		// What the folders cannot show, the mode's factory still says.
		{"colorization channels", "colorization", func(r string) { img(r, "train/a.png") }, nil,
			"dataset_mode colorization needs --input_nc 1 --output_nc 2 --direction AtoB (got 3, 3, AtoB): A is the L channel and B the ab channels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.setup(root)
			o := testOptions(root)
			o.DatasetMode = c.mode
			if c.opt != nil {
				c.opt(&o)
			}
			_, err := Check(o)
			if err == nil {
				t.Fatal("no error")
			}
			if got, want := err.Error(), strings.ReplaceAll(c.want, "ROOT", root); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestCheckAgreesWithModes: for every registered mode, the folders it
// declares are the ones its factory reads. A dataset of exactly those
// folders passes Check and loads; without any one of them, both fail.
func TestCheckAgreesWithModes(t *testing.T) {
	for _, name := range Modes() {
		t.Run(name, func(t *testing.T) {
			m, _ := LookupMode(name)
			if m.Folders == nil {
				t.Fatalf("dataset mode %s declares no Folders, so Check cannot verify its data", name)
			}
			o := testOptions("")
			o.DatasetMode = name
			if nc, ok := m.Defaults["input_nc"].(int); ok {
				o.InputNC = nc
			}
			if nc, ok := m.Defaults["output_nc"].(int); ok {
				o.OutputNC = nc
			}
			folders := m.Folders(o)
			for skip := -1; skip < len(folders); skip++ {
				o.Dataroot = t.TempDir()
				for i, f := range folders {
					if i != skip {
						writePNG(t, filepath.Join(o.Dataroot, f.Dir, "sub", "a.png"), 32, 16, pattern)
					}
				}
				s, checkErr := Check(o)
				_, newErr := New(name, o)
				if skip < 0 {
					if checkErr != nil || newErr != nil {
						t.Fatalf("with every declared folder: Check %v, New %v", checkErr, newErr)
					}
					if s.Len != 1 || len(s.Folders) != len(folders) {
						t.Errorf("survey: %d samples, %d folders; want 1, %d", s.Len, len(s.Folders), len(folders))
					}
					continue
				}
				if checkErr == nil || newErr == nil {
					t.Errorf("without %q: Check %v, New %v; want both to fail", folders[skip].Dir, checkErr, newErr)
				}
			}
		})
	}
}

// TestCheckSurveySizes: the sizes are those the crop sees: after the
// resize step, one half of an A|B pair.
func TestCheckSurveySizes(t *testing.T) {
	root := t.TempDir()
	for i, w := range []int{40, 60, 80} {
		writePNG(t, filepath.Join(root, "train", string(rune('a'+i))+".png"), w, 20, pattern)
	}
	cases := []struct {
		preprocess string
		want       string
	}{
		{"crop", "[20x20 30x20 40x20]"},
		{"resize_and_crop", "[16x16 16x16 16x16]"},
		{"scale_width", "[16x16 16x12 16x12]"}, // height at least crop_size, as the reference
	}
	for _, c := range cases {
		o := testOptions(root)
		o.DatasetMode, o.Preprocess = "aligned", c.preprocess
		s, err := Check(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(strings.Fields(sizesString(s.Folders[0].Sizes)), " "); got != c.want {
			t.Errorf("--preprocess %s: sizes %s, want %s", c.preprocess, got, c.want)
		}
	}
}

func sizesString(ss []Size) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, s.String())
	}
	return "[" + strings.Join(parts, " ") + "]"
}
