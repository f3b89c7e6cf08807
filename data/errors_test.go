package data

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputs checks that each kind of bad input gives a one-line error
// that says what is wrong and where, never a panic or a silent skip.
func TestBadInputs(t *testing.T) {
	img16 := func(root, rel string) { writePNG(t, filepath.Join(root, rel), 16, 16, pattern) }
	cases := []struct {
		name  string
		mode  string
		setup func(root string)
		opt   func(o *Options)
		want  []string // substrings of the error
	}{
		{"missing dataroot", "unaligned", func(string) {}, func(o *Options) { o.Dataroot += "/nope" },
			[]string{"dataset_mode unaligned expects <dataroot>/trainA and <dataroot>/trainB", "nope/trainA does not exist"}},
		{"missing trainB", "unaligned", func(r string) { img16(r, "trainA/a.png") }, nil,
			[]string{"<dataroot>/trainB", "trainB does not exist"}},
		{"empty trainA", "unaligned", func(r string) { writeFile(t, filepath.Join(r, "trainA/readme.txt"), nil); img16(r, "trainB/b.png") }, nil,
			[]string{"no images (.jpg .jpeg .png .ppm .bmp .tif .tiff .npy) in", "trainA"}},
		{"missing aligned phase", "aligned", func(r string) { img16(r, "test/a.png") }, nil,
			[]string{"dataset_mode aligned expects A|B image pairs in <dataroot>/train", "does not exist"}},
		{"empty aligned folder", "aligned", func(r string) { os.MkdirAll(filepath.Join(r, "train"), 0o755) }, nil,
			[]string{"dataset_mode aligned", "no images"}},
		{"single missing", "single", func(string) {}, func(o *Options) { o.Dataroot = filepath.Join(o.Dataroot, "testA") },
			[]string{"dataset_mode single expects images under <dataroot>", "testA does not exist"}},
		{"dataroot is a file", "single", func(r string) { img16(r, "x.png") }, func(o *Options) { o.Dataroot = filepath.Join(o.Dataroot, "x.png") },
			[]string{"x.png is a file, not a folder"}},
		{"colorization channels", "colorization", func(r string) { img16(r, "train/a.png") }, nil,
			[]string{"dataset_mode colorization needs --input_nc 1 --output_nc 2 --direction AtoB (got 3, 3, AtoB)"}},
		{"corrupt png", "single", func(r string) {
			var b bytes.Buffer
			writePNG(t, filepath.Join(r, "ok.png"), 4, 4, pattern)
			raw, _ := os.ReadFile(filepath.Join(r, "ok.png"))
			b.Write(raw[:len(raw)/2])
			writeFile(t, filepath.Join(r, "ok.png"), b.Bytes())
		}, nil, []string{"decode image", "ok.png (png): png: invalid format"}},
		{"truncated jpeg", "single", func(r string) { writeFile(t, filepath.Join(r, "t.jpg"), []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}) }, nil,
			[]string{"decode image", "t.jpg (jpeg)"}},
		{"not an image", "single", func(r string) { writeFile(t, filepath.Join(r, "fake.png"), []byte("hello, world")) }, nil,
			[]string{"fake.png: not a PNG, JPEG, BMP, TIFF or PPM file"}},
		{"empty file", "single", func(r string) { writeFile(t, filepath.Join(r, "zero.bmp"), nil) }, nil,
			[]string{"zero.bmp: not a PNG"}},
		{"dangling link", "single", func(r string) { os.Symlink(filepath.Join(r, "gone.png"), filepath.Join(r, "link.png")) }, nil,
			[]string{"read image", "link.png", "no such file"}},
		{"bad ppm maxval", "single", func(r string) { writeFile(t, filepath.Join(r, "m.ppm"), []byte("P6 2 2 70000\n")) }, nil,
			[]string{"m.ppm (ppm)", "maxval 70000 outside 1..65535"}},
		{"ascii ppm", "single", func(r string) { writeFile(t, filepath.Join(r, "a.ppm"), []byte("P3 1 1 255\n1 2 3\n")) }, nil,
			[]string{"a.ppm: not a PNG"}},
		{"short ppm raster", "single", func(r string) { writeFile(t, filepath.Join(r, "s.ppm"), []byte("P6 4 4 255\nabc")) }, nil,
			[]string{"s.ppm (ppm)", "pnm raster: unexpected EOF"}},
		{"huge header", "single", func(r string) { writeFile(t, filepath.Join(r, "bomb.ppm"), []byte("P6 60000 60000 255\n")) }, nil,
			[]string{"bomb.ppm (ppm): 60000x60000 pixels is more than the 268435456 allowed"}},
		{"crop larger than image", "single", func(r string) { img16(r, "small.png") }, func(o *Options) { o.Preprocess, o.CropSize = "crop", 64 },
			[]string{"small.png: --crop_size 64 is larger than the image (16x16 as loaded); use --preprocess resize_and_crop or a smaller --crop_size"}},
		{"crop larger than load", "unaligned", func(r string) { img16(r, "trainA/a.png"); img16(r, "trainB/b.png") }, func(o *Options) { o.LoadSize, o.CropSize = 128, 256 },
			[]string{"--crop_size 256 is larger than --load_size 128", "use a smaller --crop_size or a larger --load_size"}},
		{"odd aligned width", "aligned", func(r string) { writePNG(t, filepath.Join(r, "train/odd.png"), 33, 16, pattern) }, nil,
			[]string{"odd.png: aligned image is 33 pixels wide", "odd width"}},
		{"input_nc not the file's", "unaligned", func(r string) { img16(r, "trainA/a.png"); img16(r, "trainB/b.png") }, func(o *Options) { o.InputNC = 4 },
			[]string{"a.png holds 3×16×16 uint8 samples (3 channels) but --input_nc is 4: set --input_nc 3 or convert the file"}},
		{"output_nc not the file's with BtoA", "aligned", func(r string) { writePNG(t, filepath.Join(r, "train/p.png"), 32, 16, pattern) }, func(o *Options) { o.OutputNC, o.Direction = 2, "BtoA" },
			[]string{"p.png holds 3×16×32 uint8 samples (3 channels) but --output_nc is 2: set --output_nc 3 or convert the file"}},
		{"channels out of bounds", "unaligned", func(r string) { img16(r, "trainA/a.png"); img16(r, "trainB/b.png") }, func(o *Options) { o.InputNC = 65 },
			[]string{"dataset_mode unaligned: --input_nc 65: want 1 to 64 channels"}},
		{"bad range", "unaligned", func(r string) { img16(r, "trainA/a.png"); img16(r, "trainB/b.png") }, func(o *Options) { o.RangeB = "5:1" },
			[]string{`dataset_mode unaligned: --range_B "5:1": "5:1": LO must be below HI`}},
		{"jpeg with 2 channels", "single", func(r string) { writeFile(t, filepath.Join(r, "a.jpg"), tinyJPEG(t)) }, func(o *Options) { o.InputNC = 2 },
			[]string{"a.jpg is a jpeg image, which loads as grey or RGB only: --input_nc 2 needs TIFF, .npy or PNG files"}},
		{"unknown preprocess", "single", func(r string) { img16(r, "a.png") }, func(o *Options) { o.Preprocess = "resize" },
			[]string{`unknown --preprocess "resize" (choose from resize_and_crop, crop, scale_width, scale_width_and_crop, none)`}},
		{"unknown direction", "single", func(r string) { img16(r, "a.png") }, func(o *Options) { o.Direction = "AB" },
			[]string{`unknown --direction "AB"`}},
		{"unknown mode", "pairs", func(r string) {}, nil,
			[]string{`unknown --dataset_mode "pairs" (choose from aligned, colorization, paired, pix2pixhd, single, template, unaligned)`}},
		{"zero batch", "single", func(r string) { img16(r, "a.png") }, func(o *Options) { o.BatchSize = 0 },
			[]string{"--batch_size 0 must be at least 1"}},
		{"template option", "template", func(r string) { img16(r, "train/a.png") }, func(o *Options) { o.Extra = map[string]string{"new_dataset_option": "big"} },
			[]string{`--new_dataset_option "big" is not a number`}},
		{"mixed sizes in a batch", "single", func(r string) {
			writePNG(t, filepath.Join(r, "a.png"), 16, 16, pattern)
			writePNG(t, filepath.Join(r, "b.png"), 24, 16, pattern)
		}, func(o *Options) { o.Preprocess, o.BatchSize = "none", 2 },
			[]string{"batch of 2: A is 3x16x16 in", "a.png but 3x16x24 in", "b.png", "--batch_size 1"}},
	}
	if len(cases) < 15 {
		t.Fatal("keep at least 15 cases")
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
			err := loadAll(o)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\n lacks %q", msg, w)
				}
			}
		})
	}
}

// loadAll creates the dataset and reads one epoch.
func loadAll(o Options) error {
	l, err := Create(o, 1)
	if err != nil {
		return err
	}
	e := l.Epoch(context.Background(), 0)
	defer e.Close()
	for {
		if _, err := e.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func TestGoodInputsLoad(t *testing.T) {
	// The counterpart of TestBadInputs: borderline but valid inputs load.
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "a.png"), 12, 12, pattern)                          // exactly crop size
	writePNG(t, filepath.Join(root, "sub", "b.PNG"), 13, 40, solid(color.RGBA{A: 255})) // crop needs no resize
	o := testOptions(root)
	o.DatasetMode, o.Preprocess = "single", "crop"
	if err := loadAll(o); err != nil {
		t.Fatal(err)
	}
}

// tinyJPEG is a 4×4 JPEG file.
func tinyJPEG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
