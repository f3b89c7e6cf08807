package raster

import (
	"bytes"
	"fmt"
	"image/png"

	"cyclepix/data/libtiff"
	"cyclepix/npy"
)

// Encode returns the file WriteTIFF, WriteNPY or WritePNG would write for
// r, in memory: what an HTTP answer carries.
func Encode(f Format, r *Raster) ([]byte, error) {
	if err := rasterWritable(r); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch f {
	case TIFF:
		head, dataStart := tiffHeader(r.W, r.H, r.C, r.DType, false)
		rowBytes := int64(r.W) * int64(r.DType.Size())
		b := make([]byte, dataStart+int64(r.C)*int64(r.H)*rowBytes)
		copy(b, head)
		for c := 0; c < r.C; c++ {
			off := dataStart + int64(c)*int64(r.H)*rowBytes
			tiffEncode(b[off:off+int64(r.H)*rowBytes], r.Plane(c), r.DType)
		}
		return b, nil
	case NPY:
		shape, descr := npyLayout(r)
		if err := npy.EncodeFunc(&buf, shape, descr, npyValues(r)); err != nil {
			return nil, err
		}
	case PNG:
		if r.DType != Uint8 && r.DType != Uint16 {
			return nil, fmt.Errorf("PNG holds uint8 or uint16 samples, not %s: ask for tif or npy", r.DType)
		}
		if r.C > 4 {
			return nil, fmt.Errorf("PNG holds 1 to 4 channels, not %d: ask for tif or npy", r.C)
		}
		if err := pngEncode(&buf, r); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("format %q: want tif, npy or png", f)
	}
	return buf.Bytes(), nil
}

// Config is what a file's header says of its raster, before any sample is
// decoded: enough to refuse an oversized upload cheaply.
type Config struct {
	W, H int
}

// DecodeConfig reads a raster file's width and height from its header (a
// TIFF's first page, a .npy's shape, a PNG's IHDR).
func DecodeConfig(b []byte) (Config, error) {
	switch Sniff(b) {
	case TIFF:
		d, err := libtiff.DecodeHeader(b)
		if err != nil {
			return Config{}, err
		}
		return Config{W: d.Width, H: d.Height}, nil
	case NPY:
		a, err := npy.Parse(b)
		if err != nil {
			return Config{}, err
		}
		if len(a.Shape) < 2 {
			return Config{}, fmt.Errorf(".npy array of shape %v is no image (H×W or H×W×C)", a.Shape)
		}
		return Config{W: int(a.Shape[1]), H: int(a.Shape[0])}, nil
	case PNG:
		c, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return Config{}, err
		}
		return Config{W: c.Width, H: c.Height}, nil
	}
	return Config{}, ErrFormat
}
