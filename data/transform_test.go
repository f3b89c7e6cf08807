package data

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

func TestGetParamsRanges(t *testing.T) {
	cases := []struct {
		preprocess string
		w, h       int
		maxX, maxY int
	}{
		{"resize_and_crop", 100, 60, 16, 16},     // nominal 64×64
		{"scale_width_and_crop", 100, 90, 16, 9}, // nominal 64 × 64·90/100 = 57
		{"crop", 100, 60, 52, 12},                // source size
		{"crop", 40, 30, 0, 0},                   // smaller than the crop: 0
		{"none", 100, 60, 52, 12},
	}
	for _, c := range cases {
		o := &Options{Preprocess: c.preprocess, LoadSize: 64, CropSize: 48}
		r := rng(1)
		seenX, seenY, flips := map[int]bool{}, map[int]bool{}, 0
		for i := 0; i < 3000; i++ {
			p := GetParams(o, c.w, c.h, r)
			if p.CropX < 0 || p.CropX > c.maxX || p.CropY < 0 || p.CropY > c.maxY {
				t.Fatalf("%s %dx%d: crop at %d,%d outside [0,%d]x[0,%d]", c.preprocess, c.w, c.h, p.CropX, p.CropY, c.maxX, c.maxY)
			}
			seenX[p.CropX], seenY[p.CropY] = true, true
			if p.Flip {
				flips++
			}
		}
		if len(seenX) != c.maxX+1 || len(seenY) != c.maxY+1 {
			t.Errorf("%s: saw %d x and %d y positions, want all %d and %d", c.preprocess, len(seenX), len(seenY), c.maxX+1, c.maxY+1)
		}
		if flips < 1300 || flips > 1700 {
			t.Errorf("%s: %d flips in 3000", c.preprocess, flips)
		}
	}
}

func TestTransformSizes(t *testing.T) {
	cases := []struct {
		preprocess string
		load, crop int
		w, h       int
		outW, outH int
	}{
		{"resize_and_crop", 64, 48, 100, 60, 48, 48},
		{"crop", 64, 32, 100, 60, 32, 32},
		{"crop", 64, 32, 32, 32, 32, 32},
		{"scale_width", 64, 48, 100, 60, 64, 48},            // height bounded by crop_size
		{"scale_width", 64, 48, 50, 90, 64, 115},            // int(64·90/50)
		{"scale_width", 64, 48, 64, 100, 64, 100},           // already right: unchanged
		{"scale_width_and_crop", 64, 48, 300, 200, 48, 48},  //
		{"none", 0, 0, 50, 90, 48, 88},                      // round(12.5)=12, round(22.5)=22
		{"none", 0, 0, 102, 98, 104, 96},                    // round(25.5)=26, round(24.5)=24
		{"none", 0, 0, 300, 200, 300, 200},                  // unchanged
		{"resize_and_crop", 16, 16, 7, 9, 16, 16},           // upscaling
		{"scale_width_and_crop", 64, 64, 128, 32, 64, 64},   // height raised to crop
		{"crop", 10, 5, 5, 5, 5, 5},                         // crop equal to the image
		{"resize_and_crop", 286, 256, 3000, 2000, 256, 256}, // big shrink
	}
	for _, c := range cases {
		o := &Options{Preprocess: c.preprocess, LoadSize: c.load, CropSize: c.crop, NoFlip: true}
		src := &Image{W: c.w, H: c.h, C: 3, Pix: make([]uint8, c.w*c.h*3)}
		out, err := RandomTransform(src, o, 3, rng(2))
		if err != nil {
			t.Errorf("%s %dx%d: %v", c.preprocess, c.w, c.h, err)
			continue
		}
		if out.W != c.outW || out.H != c.outH {
			t.Errorf("%s l%d c%d %dx%d → %dx%d, want %dx%d", c.preprocess, c.load, c.crop, c.w, c.h, out.W, out.H, c.outW, c.outH)
		}
	}
}

func TestTransformDeterministicAndFlip(t *testing.T) {
	src := &Image{W: 40, H: 30, C: 3, Pix: make([]uint8, 40*30*3)}
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 31)
	}
	o := &Options{Preprocess: "resize_and_crop", LoadSize: 32, CropSize: 24}
	a, _ := RandomTransform(src, o, 3, rng(5))
	b, _ := RandomTransform(src, o, 3, rng(5))
	if string(a.Pix) != string(b.Pix) {
		t.Fatal("same seed gave different results")
	}
	p := Params{CropX: 3, CropY: 4}
	plain, _ := ApplyTransform(src, o, p, 3)
	p.Flip = true
	flipped, _ := ApplyTransform(src, o, p, 3)
	if string(plain.FlipH().Pix) != string(flipped.Pix) {
		t.Error("flip param did not mirror the crop")
	}
	o.NoFlip = true
	noflip, _ := ApplyTransform(src, o, p, 3)
	if string(noflip.Pix) != string(plain.Pix) {
		t.Error("--no_flip did not disable the flip")
	}
	g, _ := ApplyTransform(src, o, p, 1)
	if g.C != 1 {
		t.Errorf("nc 1 gave %d channels", g.C)
	}
}

// TestAlignedCropPastBorder follows the reference's get_params path on
// an aligned pair whose halves (40×20) are wider but lower than
// --crop_size 32: Pillow's Image.crop cuts a 32×32 square anyway, black
// below the image, and so must the aligned mode. Halves no larger than
// the crop either way pass uncropped, as the reference's __crop leaves
// them.
func TestAlignedCropPastBorder(t *testing.T) {
	testsupport.NeedPythonLong(t, "PIL, numpy")
	root := t.TempDir()
	path := filepath.Join(root, "train", "ab.png")
	writePNG(t, path, 80, 20, pattern)
	o := testOptions(root)
	o.DatasetMode, o.Preprocess, o.CropSize, o.NoFlip = "aligned", "crop", 32, true
	ds, err := New("aligned", o)
	if err != nil {
		t.Fatal(err)
	}
	const seed = 3
	s, err := ds.Get(0, rng(seed))
	if err != nil {
		t.Fatal(err)
	}
	p := GetParams(&o, 40, 20, rng(seed))
	script := `
import sys, numpy as np
from PIL import Image
ab = Image.open(sys.argv[1]).convert("RGB")
x, y, cs = int(sys.argv[2]), int(sys.argv[3]), 32
for half in (ab.crop((0, 0, 40, 20)), ab.crop((40, 0, 80, 20))):
    sys.stdout.buffer.write(half.crop((x, y, x + cs, y + cs)).tobytes())
`
	out := testsupport.RunPython(t, script, path, fmt.Sprint(p.CropX), fmt.Sprint(p.CropY))
	for k, side := range []string{"A", "B"} {
		a := s.Arrays[side]
		if fmt.Sprint(a.Shape) != "[3 32 32]" {
			t.Fatalf("%s shape %v, want [3 32 32]", side, a.Shape)
		}
		want := out[k*32*32*3 : (k+1)*32*32*3]
		for c := 0; c < 3; c++ {
			for i := 0; i < 32*32; i++ {
				if got := a.Data[c*32*32+i]; got != float32(want[3*i+c])/255*2-1 {
					t.Fatalf("%s channel %d pixel %d = %v, Pillow's crop %d", side, c, i, got, want[3*i+c])
				}
			}
		}
	}
	// Halves no larger than the crop either way pass uncropped, as the
	// reference's __crop returns them.
	o.CropSize, o.LoadSize = 48, 48
	ds, _ = New("aligned", o)
	if s, err := ds.Get(0, rng(seed)); err != nil {
		t.Errorf("halves smaller than the crop both ways: %v", err)
	} else if sh := fmt.Sprint(s.Arrays["A"].Shape); sh != "[3 20 40]" {
		t.Errorf("halves smaller than the crop both ways: A is %s, want the uncropped [3 20 40]", sh)
	}
	// Unaligned data goes through torchvision's RandomCrop, which raises.
	o.DatasetMode, o.CropSize = "single", 32
	o.Dataroot = filepath.Join(root, "train")
	ds, _ = New("single", o)
	if _, err := ds.Get(0, rng(seed)); err == nil || !strings.Contains(err.Error(), "--crop_size 32 is larger than the image (80x20 as loaded)") {
		t.Errorf("single mode, image lower than the crop: %v", err)
	}
}
