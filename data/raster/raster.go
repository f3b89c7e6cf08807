// Package raster holds images of any number of channels and any sample
// type, as scientific data come (microscopy stacks, CT slices in
// Hounsfield units, multispectral bands), and reads and writes them: TIFF
// (multi-page, multi-sample, OME-TIFF) through libtiff, NumPy .npy, and
// PNG at 8 or 16 bits. Each format has one file here, its reader and its
// writer side by side.
//
// A Raster keeps the values as stored, unscaled: mapping a domain's
// declared range to the networks' [-1, 1] and back is the caller's
// (package data's ranges). The 8-bit RGB and grey path of the reference,
// Pillow-exact, stays in package data.
package raster

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// DType is the sample type of a file.
type DType int

// The sample types cyclepix reads and writes.
const (
	Uint8 DType = iota + 1
	Uint16
	Int16
	Uint32
	Float32
	Float64
)

var dtypeNames = map[DType]string{Uint8: "uint8", Uint16: "uint16", Int16: "int16", Uint32: "uint32",
	Float32: "float32", Float64: "float64"}

// String is NumPy's name of the type ("uint16").
func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// ParseDType reads a NumPy dtype name.
func ParseDType(s string) (DType, error) {
	for d, n := range dtypeNames {
		if n == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("dtype %q: want uint8, uint16, int16, uint32, float32 or float64", s)
}

// Integer reports whether samples are integers.
func (d DType) Integer() bool { return d == Uint8 || d == Uint16 || d == Int16 || d == Uint32 }

// Limits returns the smallest and largest value of an integer type; floats
// have none (NaN, NaN).
func (d DType) Limits() (lo, hi float64) {
	switch d {
	case Uint8:
		return 0, math.MaxUint8
	case Uint16:
		return 0, math.MaxUint16
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint32:
		return 0, math.MaxUint32
	}
	return math.NaN(), math.NaN()
}

// Size is the number of bytes of a sample.
func (d DType) Size() int {
	switch d {
	case Uint8:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

// Round converts a value to what the type stores: integers rounded half to
// even and clipped to the type's limits, NaN to 0; float32 rounded to
// float32; float64 as it is.
func (d DType) Round(v float64) float64 {
	if !d.Integer() {
		if d == Float32 {
			return float64(float32(v))
		}
		return v
	}
	if math.IsNaN(v) {
		return 0
	}
	lo, hi := d.Limits()
	return math.Max(lo, math.Min(hi, math.RoundToEven(v)))
}

// Raster is an image of C channels of W×H samples of one type.
type Raster struct {
	W, H, C int
	// DType is the type the samples were stored as (reading), or are to
	// be stored as (writing).
	DType DType
	// Data holds the values plane by plane (C×H×W, the networks' layout),
	// unscaled. float32 holds every uint8, uint16, int16 and float32
	// sample exactly; uint32 above 2^24 and float64 samples are rounded
	// to float32, the precision the networks compute in.
	Data []float32
}

// New returns a zeroed raster.
func New(w, h, c int, dt DType) *Raster {
	return &Raster{W: w, H: h, C: c, DType: dt, Data: make([]float32, w*h*c)}
}

// Plane returns channel c's samples, row by row.
func (r *Raster) Plane(c int) []float32 { return r.Data[c*r.W*r.H : (c+1)*r.W*r.H] }

// Shape describes the raster as errors name it: "5×256×256 uint16".
func (r *Raster) Shape() string { return fmt.Sprintf("%d×%d×%d %s", r.C, r.H, r.W, r.DType) }

// Format is a file kind a Raster is read from or written to.
type Format string

// The formats of this package.
const (
	TIFF Format = "tif"
	NPY  Format = "npy"
	PNG  Format = "png"
)

// ParseFormat reads an --output_format value ("tif", "tiff", "npy",
// "png").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "tif", "tiff":
		return TIFF, nil
	case "npy":
		return NPY, nil
	case "png":
		return PNG, nil
	}
	return "", fmt.Errorf("format %q: want tif, npy or png", s)
}

// Ext is the file name extension of the format, with its dot.
func (f Format) Ext() string { return "." + string(f) }

// Sniff recognises a format by a file's first bytes; "" when it is none
// of this package's.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*" ||
		string(b[:4]) == "II+\x00" || string(b[:4]) == "MM\x00+"):
		return TIFF
	case len(b) >= 6 && string(b[:6]) == "\x93NUMPY":
		return NPY
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return PNG
	}
	return ""
}

// ErrFormat is returned for content none of the readers recognises.
var ErrFormat = errors.New("not a TIFF, .npy or PNG file")

// MaxSamples bounds W×H×C of what the readers decode (2^31 samples, 8 GiB
// as float32), checked before sample memory is allocated; MaxChannels
// bounds C.
const (
	MaxSamples  = 1 << 31
	MaxChannels = 64
)

// checkSize validates a raster's dimensions before memory is allocated.
func checkSize(w, h, c int) error {
	if w <= 0 || h <= 0 || c <= 0 {
		return fmt.Errorf("empty image (%d channels of %d×%d)", c, w, h)
	}
	if c > MaxChannels {
		return fmt.Errorf("%d channels: at most %d are supported", c, MaxChannels)
	}
	if int64(w)*int64(h) > MaxSamples/int64(c) {
		return fmt.Errorf("%d channels of %d×%d samples is more than the %d allowed", c, w, h, int64(MaxSamples))
	}
	return nil
}

// Decode reads a raster from a file's bytes, by content. name labels
// errors.
func Decode(b []byte, name string) (*Raster, error) {
	var r *Raster
	var err error
	switch Sniff(b) {
	case TIFF:
		r, err = DecodeTIFF(b)
	case NPY:
		r, err = DecodeNPY(b)
	case PNG:
		r, err = DecodePNG(b)
	default:
		err = ErrFormat
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}
