package data

import (
	"bytes"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSavePNG(t *testing.T) {
	dir := t.TempDir()
	// Values map to uint8((v+1)/2·255) truncated, as the reference's
	// tensor2im; out-of-range values clamp.
	chw := []float32{-1, 1, 0, 0.999, -2, 3}
	p := filepath.Join(dir, "g.png")
	if err := SavePNG(p, chw, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	m, err := LoadImage(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint8{0, 255, 127, 254, 0, 255}; m.C != 1 || !bytes.Equal(m.Pix, want) {
		t.Errorf("grey PNG %v (C=%d), want %v", m.Pix, m.C, want)
	}
	rgb := make([]float32, 3*4)
	for i := range rgb {
		rgb[i] = float32(i)/6 - 1
	}
	p = filepath.Join(dir, "c.png")
	if err := SavePNG(p, rgb, 3, 2, 2); err != nil {
		t.Fatal(err)
	}
	m, _ = LoadImage(p)
	back := m.Tensor()
	for i := range rgb {
		if math.Abs(float64(back[i]-rgb[i])) > 2.0/255 {
			t.Errorf("RGB round trip %d: %v → %v", i, rgb[i], back[i])
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
	for _, c := range []struct {
		c, n int
		want string
	}{{2, 8, "2 channels"}, {3, 5, "have 5 values for a 3x2x2 image"}} {
		if err := SavePNG(filepath.Join(dir, "x.png"), make([]float32, c.n), c.c, 2, 2); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("c=%d n=%d: %v", c.c, c.n, err)
		}
	}
	if err := SavePNG(filepath.Join(dir, "no", "such", "x.png"), make([]float32, 4), 1, 2, 2); err == nil {
		t.Error("saving into a missing folder succeeded")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rgb := &Image{W: 5, H: 3, C: 3, Pix: make([]uint8, 45)}
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(i * 5)
	}
	grey16 := &Image{W: 5, H: 3, C: 1, Float: make([]float32, 15)}
	rgb16 := &Image{W: 5, H: 3, C: 3, Float: make([]float32, 45)}
	for i := range grey16.Float {
		grey16.Float[i] = float32(i*997%65536) / 65535
	}
	for i := range rgb16.Float {
		rgb16.Float[i] = float32(i*1231%65536) / 65535
	}
	cases := []struct {
		file  string
		m     *Image
		exact bool
	}{
		{"a.png", rgb, true}, {"a.bmp", rgb, true}, {"a.tif", rgb, true}, {"a.ppm", rgb, true},
		{"g.pgm", rgb.Gray(), true}, {"a.jpg", rgb, false},
		{"g16.png", grey16, true}, {"c16.tiff", rgb16, true},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.file)
		if err := SaveImage(p, c.m); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		got, err := LoadImage(p)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if got.W != c.m.W || got.H != c.m.H || got.HighDepth() != c.m.HighDepth() {
			t.Fatalf("%s: %dx%d high=%v", c.file, got.W, got.H, got.HighDepth())
		}
		if c.file == "a.jpg" {
			continue
		}
		g, w := got.Tensor(), c.m.Tensor()
		for i := range w {
			if c.exact && math.Abs(float64(g[i]-w[i])) > 1e-6 {
				t.Fatalf("%s: value %d = %v, want %v", c.file, i, g[i], w[i])
			}
		}
	}
	if err := SaveImage(filepath.Join(dir, "a.gif"), rgb); err == nil || !strings.Contains(err.Error(), `cannot write ".gif" files`) {
		t.Errorf("gif: %v", err)
	}
	if err := SaveImage(filepath.Join(dir, "h.ppm"), rgb16); err == nil {
		t.Error("16-bit PPM written")
	}
}

// TestHighDepthPipeline follows a 16-bit image through a dataset: values
// between 8-bit levels survive into the tensor.
func TestHighDepthPipeline(t *testing.T) {
	root := t.TempDir()
	g := image.NewGray16(image.Rect(0, 0, 16, 16))
	for i := 0; i < 256; i++ {
		g.SetGray16(i%16, i/16, color.Gray16{Y: uint16(30000 + i)})
	}
	writeStd(t, filepath.Join(root, "g16.png"), g)
	o := testOptions(root)
	o.Preprocess, o.NoFlip = "none", true
	ds, err := New("single", o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Get(0, rng(0))
	if err != nil {
		t.Fatal(err)
	}
	a := s.Arrays["A"].Data
	if want := float32(30000)/65535*2 - 1; math.Abs(float64(a[0]-want)) > 1e-6 || a[1] == a[0] {
		t.Errorf("16-bit values %v %v, want %v and a different one (8-bit would merge them)", a[0], a[1], want)
	}
	// Grey and resize on float data.
	o.Preprocess, o.InputNC = "resize_and_crop", 1
	ds, _ = New("single", o)
	s, err = ds.Get(0, rng(0))
	if err != nil {
		t.Fatal(err)
	}
	if sh := s.Arrays["A"].Shape; sh[0] != 1 || sh[1] != 12 {
		t.Errorf("shape %v", sh)
	}
	rgb := (&Image{W: 1, H: 1, C: 1, Float: []float32{0.25}}).RGB()
	if gr := rgb.Gray(); math.Abs(float64(gr.Float[0])-0.25) > 1e-6 {
		t.Errorf("float RGB→grey %v", gr.Float[0])
	}
	// --bit_depth pillow: what the reference's convert('RGB') makes of
	// 16-bit greyscale, saturated white (the corpus test checks each mode
	// against Pillow itself).
	opts, err := OptionsFromMap(map[string]any{"dataroot": root, "preprocess": "none", "no_flip": true, "bit_depth": "pillow"})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ = New("single", opts)
	if s, err = ds.Get(0, rng(0)); err != nil {
		t.Fatal(err)
	}
	for i, v := range s.Arrays["A"].Data {
		if v != 1 {
			t.Fatalf("--bit_depth pillow: value %d = %v, want 1 (saturated, as Pillow)", i, v)
		}
	}
	if _, err := OptionsFromMap(map[string]any{"bit_depth": "16"}); err == nil || !strings.Contains(err.Error(), "--bit_depth \"16\": want full") {
		t.Errorf("bad --bit_depth: %v", err)
	}
}

func TestOptionsFromMapAndRegistry(t *testing.T) {
	o, err := OptionsFromMap(map[string]any{
		"dataroot": "/d", "dataset_mode": "aligned", "load_size": 64, "crop_size": 48.0, "no_flip": true,
		"max_dataset_size": math.Inf(1), "new_dataset_option": 2.5, "name": "exp", "lambda_A": 10.0, "gpu": 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Dataroot != "/d" || o.DatasetMode != "aligned" || o.LoadSize != 64 || o.CropSize != 48 || !o.NoFlip ||
		o.MaxDatasetSize != math.MaxInt || o.Extra["new_dataset_option"] != "2.5" || o.Extra["gpu"] != "1" || o.Phase != "train" {
		t.Errorf("%+v", o)
	}
	if _, err := OptionsFromMap(map[string]any{"load_size": "big"}); err == nil || !strings.Contains(err.Error(), "option load_size") {
		t.Errorf("bad type: %v", err)
	}
	if got := strings.Join(Modes(), " "); got != "aligned colorization paired pix2pixhd single template unaligned" {
		t.Errorf("modes %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a mode twice did not panic")
		}
	}()
	Register("single", newSingle)
}
