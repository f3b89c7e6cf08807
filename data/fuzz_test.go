package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/tiff"

	"cyclepix/data/libjpeg"
)

// seedImage is a small image with enough structure that the encoders use
// several tables and blocks.
func seedImage(gray bool) image.Image {
	if gray {
		g := image.NewGray(image.Rect(0, 0, 19, 11))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 37)
		}
		return g
	}
	m := image.NewNRGBA(image.Rect(0, 0, 21, 13))
	for y := 0; y < 13; y++ {
		for x := 0; x < 21; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 12), uint8(y * 19), uint8(x * y * 3), uint8(255 - x)})
		}
	}
	return m
}

// addSeeds adds each file and a few damaged copies of it.
func addSeeds(f *testing.F, files ...[]byte) {
	for _, b := range files {
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		flipped := bytes.Clone(b)
		flipped[len(b)*2/3] ^= 0x5a
		f.Add(flipped)
	}
}

// checkDecoded fails on a decoded image whose buffers do not match its
// size, the mistake a decoder bug would show as.
func checkDecoded(t *testing.T, m *Image) {
	if m.W <= 0 || m.H <= 0 || (m.C != 1 && m.C != 3) {
		t.Fatalf("decoded a %dx%dx%d image", m.W, m.H, m.C)
	}
	n := m.W * m.H * m.C
	if (m.Pix == nil) == (m.Float == nil) || (m.Pix != nil && len(m.Pix) != n) || (m.Float != nil && len(m.Float) != n) {
		t.Fatalf("%dx%dx%d image with %d bytes and %d floats", m.W, m.H, m.C, len(m.Pix), len(m.Float))
	}
}

func encode(f *testing.F, enc func(*bytes.Buffer) error) []byte {
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

// FuzzDecodeJPEG feeds libjpeg-turbo through DecodeImage: any input gives
// an image or an error, never a crash or an exit.
func FuzzDecodeJPEG(f *testing.F) {
	for _, gray := range []bool{false, true} {
		m := seedImage(gray)
		addSeeds(f, encode(f, func(b *bytes.Buffer) error { return jpeg.Encode(b, m, &jpeg.Options{Quality: 80}) }))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// libjpeg decodes corrupt data as grey, row after row: a tiny file
		// claiming 16k×16k pixels takes seconds. Correct, but no use here.
		if h, err := libjpeg.DecodeHeader(b); err == nil && h.Width*h.Height > 1<<20 {
			return
		}
		m, err := DecodeImage(b, "fuzz.jpg", DepthPillow)
		if err == nil {
			checkDecoded(t, m)
		}
		if _, err := libjpeg.DecodeHeader(b); err == nil {
			// The header alone must not be more trusting than a decode.
			libjpeg.Decode(b, 1<<20)
		}
	})
}

// FuzzDecodePNG covers the PNG path: Go's decoder and the chunk reading
// that recovers Pillow's modes.
func FuzzDecodePNG(f *testing.F) {
	g16 := image.NewGray16(image.Rect(0, 0, 7, 5))
	for i := range g16.Pix {
		g16.Pix[i] = uint8(i * 29)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 9, 4), color.Palette{color.NRGBA{1, 2, 3, 255}, color.NRGBA{200, 10, 20, 128}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 2)
	}
	for _, m := range []image.Image{seedImage(false), seedImage(true), g16, pal} {
		addSeeds(f, encode(f, func(b *bytes.Buffer) error { return png.Encode(b, m) }))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range []Depth{DepthFull, DepthPillow} {
			if m, err := DecodeImage(b, "fuzz.png", d); err == nil {
				checkDecoded(t, m)
			}
		}
	})
}

// FuzzDecodeTIFF covers libtiff and the mode table on top of it.
func FuzzDecodeTIFF(f *testing.F) {
	for _, m := range []image.Image{seedImage(false), seedImage(true)} {
		for _, c := range []tiff.CompressionType{tiff.Uncompressed, tiff.Deflate} {
			addSeeds(f, encode(f, func(b *bytes.Buffer) error { return tiff.Encode(b, m, &tiff.Options{Compression: c}) }))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range []Depth{DepthFull, DepthPillow} {
			if m, err := DecodeImage(b, "fuzz.tif", d); err == nil {
				checkDecoded(t, m)
			}
		}
	})
}

// BenchmarkDecodeJPEG decodes a 256×256 and a 512×512 photograph-like
// JPEG (quality 90, 4:2:0) with Go's image/jpeg (what cyclepix used
// before) and with libjpeg-turbo through DecodeImage, side by side.
func BenchmarkDecodeJPEG(b *testing.B) {
	for _, size := range []int{256, 512} {
		r := rng(3)
		m := image.NewRGBA(image.Rect(0, 0, size, size))
		for i := 0; i < len(m.Pix); i += 4 {
			x, y := (i/4)%size, (i/4)/size
			n := r.IntN(24)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(x+n), uint8(y+n), uint8((x+y)/2+n), 255
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		file := buf.Bytes()
		b.Run(fmt.Sprintf("%d/image-jpeg", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := jpeg.Decode(bytes.NewReader(file)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(fmt.Sprintf("%d/libjpeg-turbo", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := DecodeImage(file, "bench.jpg", DepthFull); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
