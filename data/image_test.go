package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

func TestLoadImageFormats(t *testing.T) {
	dir := t.TempDir()
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	gray := image.NewGray(image.Rect(0, 0, 3, 2))
	g16 := image.NewGray16(image.Rect(0, 0, 3, 2))
	rgb16 := image.NewRGBA64(image.Rect(0, 0, 3, 2))
	pal := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{color.NRGBA{10, 20, 30, 255}, color.NRGBA{200, 100, 50, 0}})
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			rgb.SetNRGBA(x, y, color.NRGBA{uint8(10 * x), uint8(20 * y), 7, uint8(40 * (x + 1))}) // alpha dropped, colour kept
			gray.SetGray(x, y, color.Gray{uint8(50*x + y)})
			g16.SetGray16(x, y, color.Gray16{uint16(1000*x + 1)})
			rgb16.SetRGBA64(x, y, color.RGBA64{uint16(300 * x), 65535, uint16(7 * y), 0xffff})
			pal.SetColorIndex(x, y, uint8((x+y)%2))
		}
	}
	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct {
		name  string
		file  []byte
		c     int
		high  bool
		check func(t *testing.T, m *Image)
	}{
		{"rgba.png", nil, 3, false, func(t *testing.T, m *Image) {
			if got := m.Pix[(1*3+2)*3:][:3]; got[0] != 20 || got[1] != 20 || got[2] != 7 {
				t.Errorf("pixel (2,1) = %v, want [20 20 7] (alpha dropped)", got)
			}
		}},
		{"gray.png", nil, 1, false, func(t *testing.T, m *Image) {
			if m.Pix[1*3+2] != 101 {
				t.Errorf("grey (2,1) = %d, want 101", m.Pix[5])
			}
		}},
		{"gray16.png", nil, 1, true, func(t *testing.T, m *Image) {
			// 2001/65535 would be 7.8 levels of 255: kept, not truncated.
			if want := float32(2001) / 65535; m.Float[2] != want {
				t.Errorf("16-bit grey (2,0) = %v, want %v", m.Float[2], want)
			}
		}},
		{"rgb16.png", nil, 3, true, func(t *testing.T, m *Image) {
			if want := float32(600) / 65535; m.Float[6] != want || m.Float[7] != 1 {
				t.Errorf("16-bit RGB (2,0) = %v, want [%v 1 …]", m.Float[6:9], want)
			}
		}},
		{"pal.png", nil, 3, false, func(t *testing.T, m *Image) {
			if got := m.Pix[3:6]; got[0] != 200 || got[1] != 100 || got[2] != 50 {
				t.Errorf("palette entry 1 = %v, want [200 100 50] (transparent entry keeps its colour)", got)
			}
		}},
		{"gray.jpg", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, gray, &jpeg.Options{Quality: 100}) }), 1, false, nil},
		{"rgb.bmp", enc(func(b *bytes.Buffer) error { return bmp.Encode(b, rgb) }), 3, false, nil},
		{"g16.tif", enc(func(b *bytes.Buffer) error { return tiff.Encode(b, g16, nil) }), 1, true, func(t *testing.T, m *Image) {
			if want := float32(1001) / 65535; m.Float[1] != want {
				t.Errorf("16-bit TIFF (1,0) = %v, want %v", m.Float[1], want)
			}
		}},
		{"rgb16.tiff", enc(func(b *bytes.Buffer) error { return tiff.Encode(b, rgb16, nil) }), 3, true, nil},
		{"p6.ppm", []byte("P6\n# comment\n3 2\n255\n" + string(bytes.Repeat([]byte{1, 2, 3}, 6))), 3, false, func(t *testing.T, m *Image) {
			if m.Pix[3] != 1 || m.Pix[4] != 2 || m.Pix[5] != 3 {
				t.Errorf("ppm pixel = %v", m.Pix[3:6])
			}
		}},
		{"p5_15.ppm", []byte("P5 3 2 15\n" + string([]byte{0, 15, 7, 1, 2, 3})), 1, false, func(t *testing.T, m *Image) {
			if m.Pix[1] != 255 || m.Pix[2] != 119 {
				t.Errorf("maxval 15 scaled = %v, want 255 and 119", m.Pix[:3])
			}
		}},
		{"p5_16.PPM", []byte("P5 3 2 65535\n" + string([]byte{0, 0, 0x12, 0x34, 0xff, 0xff, 0, 1, 0, 2, 0, 3})), 1, true, func(t *testing.T, m *Image) {
			if want := float32(0x1234) / 65535; m.Float[1] != want {
				t.Errorf("16-bit PGM = %v, want %v", m.Float[1], want)
			}
		}},
	}
	stds := map[string]image.Image{"rgba.png": rgb, "gray.png": gray, "gray16.png": g16, "rgb16.png": rgb16, "pal.png": pal}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			if c.file == nil {
				writeStd(t, p, stds[c.name])
			} else {
				writeFile(t, p, c.file)
			}
			m, err := LoadImage(p)
			if err != nil {
				t.Fatal(err)
			}
			if m.W != 3 || m.H != 2 || m.C != c.c || m.HighDepth() != c.high {
				t.Fatalf("got %dx%dx%d high=%v, want 3x2x%d high=%v", m.W, m.H, m.C, m.HighDepth(), c.c, c.high)
			}
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

func TestGrayMatchesPILFormula(t *testing.T) {
	m := &Image{W: 4, H: 1, C: 3, Pix: []uint8{255, 255, 255, 255, 0, 0, 0, 255, 0, 12, 200, 99}}
	g := m.Gray()
	want := []uint8{255, 76, 150, 132}
	for i, w := range want {
		if g.Pix[i] != w {
			t.Errorf("gray(%v) = %d, want %d", m.Pix[3*i:3*i+3], g.Pix[i], w)
		}
	}
	// Grey → RGB → grey is the identity, as in PIL.
	for v := 0; v < 256; v++ {
		m := &Image{W: 1, H: 1, C: 1, Pix: []uint8{uint8(v)}}
		if got := m.RGB().Gray().Pix[0]; got != uint8(v) {
			t.Fatalf("L→RGB→L changed %d to %d", v, got)
		}
	}
}

func TestCropFlipTensor(t *testing.T) {
	m := &Image{W: 3, H: 2, C: 1, Pix: []uint8{0, 128, 255, 1, 2, 3}}
	c := m.Crop(1, 1, 3, 2)
	if want := []uint8{2, 3, 0, 0, 0, 0}; !bytes.Equal(c.Pix, want) {
		t.Errorf("crop beyond the edge = %v, want %v (black fill)", c.Pix, want)
	}
	if f := m.FlipH(); !bytes.Equal(f.Pix, []uint8{255, 128, 0, 3, 2, 1}) {
		t.Errorf("flip = %v", f.Pix)
	}
	ts := m.Tensor()
	if ts[0] != -1 || ts[2] != 1 || ts[1] != float32(0.003921628) {
		t.Errorf("tensor = %v, want -1, 0.0039216, 1", ts[:3])
	}
	f := &Image{W: 1, H: 1, C: 3, Float: []float32{0, 0.5, 1}}
	if ts := f.Tensor(); ts[0] != -1 || ts[1] != 0 || ts[2] != 1 {
		t.Errorf("float tensor = %v", ts)
	}
}

func TestResizeProperties(t *testing.T) {
	src := &Image{W: 37, H: 23, C: 3, Pix: make([]uint8, 37*23*3)}
	for i := range src.Pix {
		src.Pix[i] = 77
	}
	for _, size := range [][2]int{{37, 23}, {64, 64}, {10, 5}, {37, 50}, {1, 1}} {
		out := src.Resize(size[0], size[1])
		if out.W != size[0] || out.H != size[1] {
			t.Fatalf("size %dx%d, want %v", out.W, out.H, size)
		}
		for _, v := range out.Pix {
			if v != 77 {
				t.Fatalf("constant image changed to %d at %v", v, size)
			}
		}
	}
	// The float path (16-bit sources) follows the 8-bit one within the
	// 8-bit path's rounding.
	pat := &Image{W: 40, H: 30, C: 3, Pix: make([]uint8, 40*30*3)}
	fl := &Image{W: 40, H: 30, C: 3, Float: make([]float32, 40*30*3)}
	for i := range pat.Pix {
		pat.Pix[i] = uint8(128 + 100*math.Sin(float64(i)/17))
		fl.Float[i] = float32(pat.Pix[i]) / 255
	}
	a, b := pat.Resize(17, 45), fl.Resize(17, 45)
	for i := range a.Pix {
		if d := math.Abs(float64(a.Pix[i])/255 - float64(b.Float[i])); d > 1.5/255 {
			t.Fatalf("float resize differs by %.2f levels at %d", d*255, i)
		}
	}
}
