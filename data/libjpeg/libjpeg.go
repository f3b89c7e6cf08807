// Package libjpeg decodes JPEG files with libjpeg-turbo, the library
// Pillow uses, with Pillow's settings, so that images reach the networks
// with exactly the pixels the reference's Image.open(path).convert('RGB')
// gives. Go's image/jpeg differs from it in about half of a photo's
// pixels (its IDCT and chroma upsampling are other approximations).
//
// What Pillow 9.4 does, and so this package:
//   - the output colour space follows the number of components alone: 1 is
//     grey ("L"), 3 is RGB, 4 is CMYK; libjpeg converts YCbCr and YCCK
//     data itself, guided by the JFIF and Adobe markers;
//   - CMYK comes out inverted (Pillow's raw mode "CMYK;I": it assumes
//     Adobe's convention, whatever the file says);
//   - libjpeg's default DCT method (islow) and fancy upsampling;
//   - EXIF orientation is not applied;
//   - warnings (corrupt data libjpeg recovers from, such as extraneous
//     bytes before a marker) do not stop decoding: they are counted in
//     Image.Warnings and the first is kept, where Pillow drops them;
//   - a file whose data ends before libjpeg has produced the last
//     scanline is an error (ErrTruncated; Pillow's "image file is
//     truncated"): the data source suspends where Pillow's would wait for
//     more, so both give up at the same point (even a file that lacks
//     only its EOI marker usually ends there, as libjpeg reads ahead);
//   - libjpeg's fatal errors (including 12-bit samples, which the 8-bit
//     library Debian ships cannot read) come back as *Error, never as the
//     exit() of libjpeg's default error handler.
package libjpeg

/*
#cgo LDFLAGS: -ljpeg
#include <stdlib.h>
#include "decode.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// MaxScans bounds the scans of a progressive file; real encoders write
// about ten, and a hostile file with thousands would make decoding crawl
// (libjpeg-turbo's djpeg has the same guard, -maxscans).
const MaxScans = 1000

// ErrTruncated is returned for a file that ends before its last scanline.
var ErrTruncated = errors.New("image file is truncated")

// Error is a fatal error that libjpeg reported.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Header is what a JPEG's markers say.
type Header struct {
	Width, Height int
	// Components is the frame's component count: 1, 3 or 4 for the files
	// Pillow opens.
	Components int
	// Precision is the bits per sample (8; 12 is an error on decoding).
	Precision   int
	Progressive bool
	Arithmetic  bool
	// ColorSpace is libjpeg's reading of the markers: "grey", "YCbCr",
	// "RGB", "CMYK", "YCCK" or "unknown".
	ColorSpace string
	// AdobeTransform is the Adobe APP14 marker's transform (0 none, 1
	// YCbCr, 2 YCCK), or -1 without that marker.
	AdobeTransform int
}

// Mode is Pillow's mode for the header: "L", "RGB" or "CMYK", or an
// error naming what Pillow cannot open either.
func (h Header) Mode() (string, error) {
	if h.Precision != 8 {
		return "", &Error{Msg: fmt.Sprintf("cannot handle %d-bit samples (only 8-bit JPEGs are read, as by Pillow)", h.Precision)}
	}
	switch h.Components {
	case 1:
		return "L", nil
	case 3:
		return "RGB", nil
	case 4:
		return "CMYK", nil
	}
	return "", &Error{Msg: fmt.Sprintf("cannot handle %d-component images (1 grey, 3 colour or 4 CMYK, as Pillow)", h.Components)}
}

// Image is a decoded JPEG.
type Image struct {
	Header
	// Mode is "L", "RGB" or "CMYK" (inverted, as Pillow's "CMYK;I").
	Mode string
	// Pix holds Width×Height pixels of len(Mode) bytes, row by row.
	Pix []byte
	// Warnings counts the recoverable problems libjpeg reported; Warning
	// is the first of them.
	Warnings int
	Warning  string
}

var colorSpaces = map[C.int]string{1: "grey", 2: "RGB", 3: "YCbCr", 4: "CMYK", 5: "YCCK"}

func decode(b []byte, out []byte, info *C.cp_jpeg_info) error {
	if len(b) == 0 {
		return ErrTruncated
	}
	var outPtr *C.uchar
	if len(out) > 0 {
		outPtr = (*C.uchar)(unsafe.Pointer(&out[0]))
	}
	switch C.cp_jpeg_decode((*C.uchar)(unsafe.Pointer(&b[0])), C.size_t(len(b)), outPtr, C.size_t(len(out)), MaxScans, info) {
	case C.CP_JPEG_OK:
		return nil
	case C.CP_JPEG_TRUNCATED:
		return ErrTruncated
	}
	return &Error{Msg: C.GoString(&info.msg[0])}
}

func header(info *C.cp_jpeg_info) Header {
	cs, ok := colorSpaces[info.color_space]
	if !ok {
		cs = "unknown"
	}
	return Header{Width: int(info.width), Height: int(info.height), Components: int(info.components),
		Precision: int(info.precision), Progressive: info.progressive != 0, Arithmetic: info.arithmetic != 0,
		ColorSpace: cs, AdobeTransform: int(info.adobe_transform)}
}

// DecodeHeader reads the markers up to the first scan.
func DecodeHeader(b []byte) (Header, error) {
	var info C.cp_jpeg_info
	if err := decode(b, nil, &info); err != nil {
		return Header{}, err
	}
	return header(&info), nil
}

// Decode decodes a whole JPEG file. maxPixels bounds Width×Height, checked
// before any pixel memory is allocated.
func Decode(b []byte, maxPixels int64) (*Image, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	mode, err := h.Mode()
	if err != nil {
		return nil, err
	}
	if h.Width <= 0 || h.Height <= 0 {
		return nil, &Error{Msg: fmt.Sprintf("empty image (%dx%d)", h.Width, h.Height)}
	}
	if px := int64(h.Width) * int64(h.Height); px > maxPixels {
		return nil, &Error{Msg: fmt.Sprintf("%dx%d pixels is more than the %d allowed", h.Width, h.Height, maxPixels)}
	}
	pix := make([]byte, h.Width*h.Height*h.Components)
	var info C.cp_jpeg_info
	if err := decode(b, pix, &info); err != nil {
		return nil, err
	}
	if mode == "CMYK" {
		for i, v := range pix {
			pix[i] = ^v
		}
	}
	return &Image{Header: h, Mode: mode, Pix: pix, Warnings: int(info.warnings), Warning: C.GoString(&info.warning[0])}, nil
}
