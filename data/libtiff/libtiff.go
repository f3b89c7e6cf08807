// Package libtiff reads TIFF files with libtiff, the library Pillow reads
// compressed TIFFs with: every compression libtiff was built with (LZW,
// Deflate, PackBits, JPEG, CCITT, LZMA, ZSTD, WebP …), strips or tiles,
// contiguous or separate planes. Decode returns the first image's tags and
// its decoded samples; turning those into pixels, as Pillow's modes do, is
// the caller's business. File (file.go) keeps a TIFF open instead, to visit
// any page by its directory offset and decode it strip by strip or tile by
// tile, as multi-page scientific files and large images need.
package libtiff

/*
#cgo LDFLAGS: -ltiff
#include <stdlib.h>
#include "read.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Photometric interpretations (tag 262) this package treats specially.
const (
	PhotometricPalette = 3
	PhotometricYCbCr   = 6
)

// Header is the first image directory's layout.
type Header struct {
	Width, Height int
	// Samples is SamplesPerPixel; Bits is BitsPerSample; SampleFormat is
	// 1 (unsigned), 2 (signed) or 3 (IEEE float).
	Samples, Bits, SampleFormat int
	// Photometric is tag 262, -1 where the file leaves it out.
	Photometric int
	// Planar is 1 (samples interleaved) or 2 (one plane per sample).
	Planar       int
	Compression  int
	ExtraSamples []int
	Tiled        bool
	// BigEndian is the file's byte order ("MM"); Pix is in the host's
	// whatever it is.
	BigEndian bool
}

// Image is a decoded TIFF image.
type Image struct {
	Header
	// Pix holds Height rows of RowBytes bytes, samples interleaved,
	// multi-byte samples in the host's byte order, sub-byte samples
	// packed most significant bit first. With RGBA set it holds
	// Width×Height RGBA pixels instead: YCbCr images go through
	// libtiff's RGBA interface, as Pillow reads them.
	Pix  []byte
	RGBA bool
	// ColorMap holds the palette of photometric 3 images: red, green and
	// blue, 1 << Bits entries each, 16 bits per entry.
	ColorMap [3][]uint16
	// Warnings counts libtiff's warnings (unknown tags, say).
	Warnings int
}

// RowBytes is the length of a row of interleaved samples.
func (h Header) RowBytes() int { return (h.Width*h.Samples*h.Bits + 7) / 8 }

func read(b []byte, info *C.cp_tiff_info, out []byte, rgba bool, cmap []uint16) error {
	if len(b) == 0 {
		return fmt.Errorf("empty file")
	}
	var outPtr *C.uchar
	if len(out) > 0 {
		outPtr = (*C.uchar)(unsafe.Pointer(&out[0]))
	}
	var cmapPtr *C.uint16_t
	if len(cmap) > 0 {
		cmapPtr = (*C.uint16_t)(unsafe.Pointer(&cmap[0]))
	}
	flag := C.int(0)
	if rgba {
		flag = 1
	}
	if C.cp_tiff_read((*C.uchar)(unsafe.Pointer(&b[0])), C.size_t(len(b)), info, outPtr, C.size_t(len(out)), flag, cmapPtr, C.size_t(len(cmap))) != 0 {
		return fmt.Errorf("%s", C.GoString(&info.m.msg[0]))
	}
	return nil
}

// DecodeHeader reads the first directory's tags.
func DecodeHeader(b []byte) (Header, error) {
	var info C.cp_tiff_info
	if err := read(b, &info, nil, false, nil); err != nil {
		return Header{}, err
	}
	h := Header{Width: int(info.width), Height: int(info.height), Samples: int(info.samples), Bits: int(info.bits),
		SampleFormat: int(info.sample_format), Photometric: int(info.photometric), Planar: int(info.planar),
		Compression: int(info.compression), Tiled: info.tiled != 0, BigEndian: info.big_endian != 0}
	for i := 0; i < int(info.extra_count) && i < len(info.extra); i++ {
		h.ExtraSamples = append(h.ExtraSamples, int(info.extra[i]))
	}
	return h, nil
}

// Decode reads the first image. maxPixels bounds Width×Height, checked
// before pixel memory is allocated.
func Decode(b []byte, maxPixels int64) (*Image, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if h.Width <= 0 || h.Height <= 0 {
		return nil, fmt.Errorf("empty image (%dx%d)", h.Width, h.Height)
	}
	if px := int64(h.Width) * int64(h.Height); px > maxPixels {
		return nil, fmt.Errorf("%dx%d pixels is more than the %d allowed", h.Width, h.Height, maxPixels)
	}
	if h.Samples < 1 || h.Samples > 16 || h.Bits < 1 || h.Bits > 64 {
		return nil, fmt.Errorf("%d samples of %d bits per pixel", h.Samples, h.Bits)
	}
	m := &Image{Header: h, RGBA: h.Photometric == PhotometricYCbCr}
	n := h.RowBytes() * h.Height
	if m.RGBA {
		n = 4 * h.Width * h.Height
	}
	m.Pix = make([]byte, n)
	var cmap []uint16
	if h.Photometric == PhotometricPalette && h.Bits <= 8 {
		cmap = make([]uint16, 3<<h.Bits)
	}
	var info C.cp_tiff_info
	if err := read(b, &info, m.Pix, m.RGBA, cmap); err != nil {
		return nil, err
	}
	if cmap != nil {
		k := 1 << h.Bits
		m.ColorMap = [3][]uint16{cmap[:k], cmap[k : 2*k], cmap[2*k:]}
	}
	m.Warnings = int(info.m.warnings)
	return m, nil
}
