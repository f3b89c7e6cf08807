package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/image/bmp"

	"cyclepix/data/libjpeg"
	"cyclepix/data/libtiff"
)

// Depth says how samples of more than 8 bits load (--bit_depth).
type Depth int

const (
	// DepthFull keeps 16-bit samples (PNG, TIFF, PPM/PGM) at full
	// precision, as floats in [0, 1]: what cyclepix does by default.
	DepthFull Depth = iota
	// DepthPillow reduces them as the reference's Pillow convert('RGB')
	// does: 16-bit colour to its high byte (PPM: rescaled), 16-bit
	// greyscale (Pillow's modes I and I;16) saturated at 255, so that
	// tensors equal the reference's exactly.
	DepthPillow
)

// DepthNames are the accepted values of --bit_depth.
var DepthNames = map[string]Depth{"full": DepthFull, "pillow": DepthPillow}

// ParseDepth validates a --bit_depth value.
func ParseDepth(s string) (Depth, error) {
	d, ok := DepthNames[s]
	if !ok {
		return 0, fmt.Errorf("--bit_depth %q: want full (keep 16-bit samples) or pillow (8 bits, as the reference)", s)
	}
	return d, nil
}

// maxPixels bounds the images LoadImage accepts (about 16k × 16k).
const maxPixels = 1 << 28

// LoadImage decodes the image file at path at full depth; see DecodeImage.
func LoadImage(path string) (*Image, error) { return LoadImageDepth(path, DepthFull) }

// LoadImageDepth decodes the image file at path; see DecodeImage.
func LoadImageDepth(path string, d Depth) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	return DecodeImage(b, path, d)
}

// DecodeImage decodes a PNG, JPEG, BMP, TIFF or PPM/PGM file (recognised
// by content, not by name) into what the reference's
// Image.open(f).convert('RGB') gives: one channel for greyscale sources
// (their RGB would repeat it), three otherwise, alpha dropped. JPEGs go
// through libjpeg-turbo as in Pillow; every other mode converts with
// Pillow's formulas (CMYK, palettes, 16- and 32-bit greyscale, floats).
// name labels errors (a path, or "upload").
func DecodeImage(b []byte, name string, d Depth) (*Image, error) {
	format := sniff(b)
	var img *Image
	var err error
	switch format {
	case "":
		return nil, fmt.Errorf("decode image %s: %w", name, ErrFormat)
	case "jpeg":
		img, err = decodeJPEG(b, name)
	case "png":
		img, err = decodePNG(b, d)
	case "ppm":
		img, err = decodePPM(b, d)
	case "tiff":
		img, err = decodeTIFF(b, d)
	default:
		img, err = decodeBMP(b, d)
	}
	if err != nil {
		return nil, fmt.Errorf("decode image %s (%s): %w", name, format, err)
	}
	if img.W == 0 || img.H == 0 {
		return nil, fmt.Errorf("decode image %s (%s): empty image (%dx%d)", name, format, img.W, img.H)
	}
	return img, nil
}

// Config is what an image file's header says.
type Config struct {
	Format        string // "png", "jpeg", "bmp", "tiff" or "ppm"
	Width, Height int
}

// ErrTruncated is returned (wrapped) for a JPEG whose data ends before its
// last row: Pillow's "image file is truncated".
var ErrTruncated = libjpeg.ErrTruncated

// ErrFormat is returned for bytes that are no image format DecodeImage
// reads.
var ErrFormat = errors.New("not a PNG, JPEG, BMP, TIFF or PPM file")

// DecodeConfig reads the size from an image file's header without
// decoding its pixels, so that a caller can refuse a huge image before
// paying for it.
func DecodeConfig(b []byte) (Config, error) {
	c := Config{Format: sniff(b)}
	var err error
	switch c.Format {
	case "":
		return c, ErrFormat
	case "jpeg":
		var h libjpeg.Header
		h, err = libjpeg.DecodeHeader(b)
		c.Width, c.Height = h.Width, h.Height
	case "tiff":
		var h libtiff.Header
		h, err = libtiff.DecodeHeader(b)
		c.Width, c.Height = h.Width, h.Height
	case "ppm":
		var h pnmHeader
		h, err = readPNMHeader(bufio.NewReader(bytes.NewReader(b)))
		c.Width, c.Height = h.w, h.h
	default:
		var cfg image.Config
		config := png.DecodeConfig
		if c.Format == "bmp" {
			config = bmp.DecodeConfig
		}
		cfg, err = config(bytes.NewReader(b))
		c.Width, c.Height = cfg.Width, cfg.Height
	}
	return c, err
}

// sniff names the format from the first bytes, as Pillow's plugins
// accept them.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("BM")):
		return "bmp"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "tiff"
	case bytes.HasPrefix(b, []byte("P5")), bytes.HasPrefix(b, []byte("P6")):
		return "ppm"
	}
	return ""
}

// jpegWarned remembers the files whose recoverable JPEG problems were
// logged, so that a dataset read every epoch warns once per file.
var jpegWarned sync.Map

func decodeJPEG(b []byte, name string) (*Image, error) {
	j, err := libjpeg.Decode(b, maxPixels)
	if err != nil {
		if errors.Is(err, libjpeg.ErrTruncated) {
			return nil, fmt.Errorf("%w: the data ends before the image does (an interrupted download or copy; fetch or re-encode the file)", err)
		}
		if strings.Contains(err.Error(), "data precision") {
			return nil, fmt.Errorf("%w: only 8-bit JPEGs can be read, as with Pillow (re-encode it, or save it as 16-bit PNG or TIFF)", err)
		}
		return nil, err
	}
	if j.Warnings > 0 {
		if _, seen := jpegWarned.LoadOrStore(name, true); !seen {
			slog.Warn("corrupt JPEG data, decoded as Pillow does", "file", name, "libjpeg", j.Warning, "warnings", j.Warnings)
		}
	}
	switch j.Mode {
	case "L":
		return &Image{W: j.Width, H: j.Height, C: 1, Pix: j.Pix}, nil
	case "RGB":
		return &Image{W: j.Width, H: j.Height, C: 3, Pix: j.Pix}, nil
	}
	return cmykToRGB(j.Width, j.Height, j.Pix), nil
}

// cmykToRGB is Pillow's CMYK → RGB conversion (Convert.c cmyk2rgb):
// each of C, M, Y scaled by the ink left after K, with Pillow's rounded
// division by 255.
func cmykToRGB(w, h int, pix []byte) *Image {
	out := &Image{W: w, H: h, C: 3, Pix: make([]byte, w*h*3)}
	for i := 0; i < w*h; i++ {
		p := pix[4*i : 4*i+4]
		nk := 255 - int(p[3])
		for c := 0; c < 3; c++ {
			out.Pix[3*i+c] = clipByte(nk - mulDiv255(int(p[c]), nk))
		}
	}
	return out
}

// mulDiv255 is a·b/255 rounded, as Pillow's MULDIV255 macro computes it.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

// clipByte is Pillow's CLIP8 on an integer.
func clipByte(v int) uint8 {
	return uint8(min(max(v, 0), 255))
}

// pngHeader is what DecodeImage needs from a PNG beyond Go's decoder:
// the colour type and depth (Go's types do not tell 16-bit grey with
// transparency from 16-bit grey+alpha) and the palette's length (Go fills
// entries past it with black, Pillow with its grey ramp).
type pngHeader struct {
	depth, colorType int
	paletteLen       int
}

func readPNGHeader(b []byte) (pngHeader, error) {
	var h pngHeader
	for off := 8; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if n < 0 || off+12+n > len(b) {
			break // Go's decoder reports the truncation
		}
		data := b[off+8 : off+8+n]
		switch typ {
		case "IHDR":
			if n < 13 {
				return h, errors.New("png: short IHDR chunk")
			}
			h.depth, h.colorType = int(data[8]), int(data[9])
		case "PLTE":
			h.paletteLen = n / 3
		case "IDAT", "IEND":
			return h, nil
		}
		off += 12 + n
	}
	return h, nil
}

func decodePNG(b []byte, d Depth) (*Image, error) {
	h, err := readPNGHeader(b)
	if err != nil {
		return nil, err
	}
	if err := checkSize(b, png.DecodeConfig); err != nil {
		return nil, err
	}
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	// 16-bit greyscale is Pillow's mode I, with or without a tRNS chunk
	// (Go then returns NRGBA64): convert('RGB') saturates it at 255.
	if h.depth == 16 && h.colorType == 0 {
		return gray16(m, d), nil
	}
	return fromGo(m, d, h.paletteLen), nil
}

// checkSize reads a header's claimed size before decoding: a corrupt or
// hostile header could otherwise make a decoder allocate gigabytes.
func checkSize(b []byte, config func(r io.Reader) (image.Config, error)) error {
	cfg, err := config(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return fmt.Errorf("%dx%d pixels is more than the %d allowed", cfg.Width, cfg.Height, maxPixels)
	}
	return nil
}

func decodeBMP(b []byte, d Depth) (*Image, error) {
	if err := checkSize(b, bmp.DecodeConfig); err != nil {
		return nil, err
	}
	m, err := bmp.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return fromGo(m, d, -1), nil
}
