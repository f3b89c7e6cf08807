package data

import (
	"bytes"
	"cyclepix/atomicfile"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// SavePNG writes a CHW float32 image in [-1, 1] (a tensor's data, one
// sample) as an 8-bit PNG, the reference's tensor2im + save_image: values
// map to (v + 1) / 2 · 255 and are truncated, as numpy's astype(uint8) does,
// after clamping to [-1, 1]. c is 1 (written as grey) or 3. The file is
// written to a temporary name and renamed, so a reader (the HTML page, the
// dashboard) never sees half an image.
func SavePNG(path string, chw []float32, c, h, w int) error {
	img, err := ImageFromCHW(chw, c, h, w)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return SaveImage(path, img)
}

// ImageFromCHW converts a CHW array in [-1, 1] to an 8-bit image, as
// SavePNG does.
func ImageFromCHW(chw []float32, c, h, w int) (*Image, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("%d channels: only 1 (grey) or 3 (RGB) can be saved as an image", c)
	}
	if len(chw) != c*h*w {
		return nil, fmt.Errorf("have %d values for a %dx%dx%d image", len(chw), c, h, w)
	}
	n := h * w
	m := &Image{W: w, H: h, C: c, Pix: make([]uint8, n*c)}
	for ch := 0; ch < c; ch++ {
		for i := 0; i < n; i++ {
			v := min(max(chw[ch*n+i], -1), 1)
			m.Pix[i*c+ch] = uint8((v + 1) / 2 * 255)
		}
	}
	return m, nil
}

// ToStd converts to a standard library image (Gray, RGBA, Gray16 or
// RGBA64), for encoders.
func (m *Image) ToStd() image.Image {
	r := image.Rect(0, 0, m.W, m.H)
	n := m.W * m.H
	switch {
	case m.C == 1 && !m.HighDepth():
		return &image.Gray{Pix: m.Pix, Stride: m.W, Rect: r}
	case m.C == 1:
		g := image.NewGray16(r)
		for i := 0; i < n; i++ {
			g.SetGray16(i%m.W, i/m.W, color.Gray16{Y: unit16(m.Float[i])})
		}
		return g
	case !m.HighDepth():
		out := image.NewRGBA(r)
		for i := 0; i < n; i++ {
			copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
			out.Pix[4*i+3] = 255
		}
		return out
	}
	out := image.NewRGBA64(r)
	for i := 0; i < n; i++ {
		p := m.Float[3*i:]
		out.SetRGBA64(i%m.W, i/m.W, color.RGBA64{unit16(p[0]), unit16(p[1]), unit16(p[2]), 0xffff})
	}
	return out
}

func unit16(v float32) uint16 {
	return uint16(min(max(v, 0), 1)*65535 + 0.5)
}

// Encode writes m in the format its file extension names: .png, .jpg/.jpeg
// (quality), .bmp, .tif/.tiff, .ppm (8-bit). 16-bit images stay 16-bit in
// PNG and TIFF.
func Encode(w io.Writer, m *Image, ext string, quality int) error {
	switch strings.ToLower(ext) {
	case ".png":
		return png.Encode(w, m.ToStd())
	case ".jpg", ".jpeg":
		return jpeg.Encode(w, m.ToStd(), &jpeg.Options{Quality: quality})
	case ".bmp":
		return bmp.Encode(w, m.ToStd())
	case ".tif", ".tiff":
		return tiff.Encode(w, m.ToStd(), &tiff.Options{Compression: tiff.Deflate})
	case ".ppm", ".pgm":
		return encodePNM(w, m)
	}
	return fmt.Errorf("cannot write %q files (use .png, .jpg, .bmp, .tif or .ppm)", ext)
}

// SaveImage writes m to path atomically, in the format of its extension
// (JPEG at quality 95).
func SaveImage(path string, m *Image) error {
	return saveImageQ(path, m, 95)
}

// SaveImageQuality is SaveImage with a JPEG quality.
func SaveImageQuality(path string, m *Image, quality int) error {
	return saveImageQ(path, m, quality)
}

func saveImageQ(path string, m *Image, quality int) error {
	var buf bytes.Buffer
	if err := Encode(&buf, m, filepath.Ext(path), quality); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return WriteFileAtomic(path, buf.Bytes())
}

// WriteFileAtomic writes b to a temporary file beside path and renames it
// into place.
func WriteFileAtomic(path string, b []byte) error { return atomicfile.WriteFile(path, b) }
