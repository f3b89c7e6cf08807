// Package exif reads the EXIF orientation of JPEG files and turns decoded
// images upright with it, as Pillow's ImageOps.exif_transpose (and image
// viewers) do.
//
// Phones store photos as the sensor saw them and record in the EXIF
// Orientation tag (0x0112) how to turn them for display. Decoders ignore
// the tag, so a portrait photo decodes lying on its side. The reference's
// train.py and test.py ignore it too (they open images with PIL without
// exif_transpose), so cyclepix applies it only where a user hands in
// photos to translate: `cyclepix translate` and `cyclepix serve`.
package exif

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"cyclepix/data"
)

// Orientations are the EXIF Orientation values, named by what Pillow's
// exif_transpose does to turn the stored image upright.
const (
	Upright        = 1 // nothing
	FlipLeftRight  = 2 // mirror left to right
	Rotate180      = 3
	FlipTopBottom  = 4
	Transpose      = 5 // mirror over the main diagonal (rows become columns)
	RotateCW       = 6 // 90° clockwise (Pillow's ROTATE_270)
	Transverse     = 7 // mirror over the anti-diagonal
	RotateCCW      = 8 // 90° counter-clockwise (Pillow's ROTATE_90)
	orientationTag = 0x0112
)

// Orientation returns the EXIF orientation (1–8) of the JPEG file in b;
// 1 when b is not a JPEG, has no Exif segment, no Orientation tag in IFD0,
// a value outside 1–8, or a malformed Exif segment (viewers, and Pillow's
// exif_transpose, leave such images as stored).
func Orientation(b []byte) int {
	o, _ := ReadOrientation(bytes.NewReader(b))
	return o
}

// FileOrientation is Orientation for the file at path; it reads the file's
// header only. The error is an I/O error naming the file; a file that is
// not a JPEG is orientation 1, not an error.
func FileOrientation(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return Upright, fmt.Errorf("read EXIF orientation: %w", err)
	}
	defer f.Close()
	o, err := ReadOrientation(f)
	if err != nil {
		return Upright, fmt.Errorf("read EXIF orientation of %s: %w", path, err)
	}
	return o, nil
}

// errNotFound ends the marker scan without an orientation.
var errNotFound = errors.New("no orientation")

// ReadOrientation reads a JPEG stream's markers up to the start of its
// scan and returns the orientation from the first APP1 Exif segment, which
// is the one Pillow reads. Only I/O errors other than a short stream are
// returned; anything malformed is orientation 1.
func ReadOrientation(r io.Reader) (int, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	o, err := scan(br)
	switch {
	case err == nil:
		return o, nil
	case errors.Is(err, errNotFound), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Upright, nil
	}
	return Upright, err
}

// scan walks the marker segments as Pillow's JPEG plugin does: junk
// between segments and 0xFF fill bytes are skipped; it stops at the start
// of scan or the end of image.
func scan(r *bufio.Reader) (int, error) {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil {
		return 0, err
	}
	if soi != [2]byte{0xFF, 0xD8} {
		return 0, errNotFound
	}
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if c != 0xFF {
			continue
		}
		m, err := r.ReadByte()
		for err == nil && m == 0xFF {
			m, err = r.ReadByte()
		}
		if err != nil {
			return 0, err
		}
		switch {
		case m == 0x00, m == 0x01, m >= 0xD0 && m <= 0xD8:
			continue // stuffed byte or a marker without a length
		case m == 0xD9, m == 0xDA:
			return 0, errNotFound // end of image, start of scan: no Exif before the pixels
		}
		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return 0, err
		}
		n := int(binary.BigEndian.Uint16(lb[:])) - 2
		if n < 0 {
			return 0, errNotFound
		}
		if m != 0xE1 {
			if _, err := r.Discard(n); err != nil {
				return 0, err
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(r, seg); err != nil {
			return 0, err
		}
		if !bytes.HasPrefix(seg, []byte("Exif\x00")) {
			continue // XMP and other APP1 payloads
		}
		return fromTIFF(seg), nil
	}
}

// fromTIFF reads the Orientation of IFD0 in an APP1 Exif payload
// ("Exif\0\0" and a TIFF structure).
func fromTIFF(seg []byte) int {
	t, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00"))
	if !ok || len(t) < 8 {
		return Upright
	}
	// Pillow also takes the two headers whose magic number is in the
	// other byte order; BigTIFF is not used in Exif.
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II\x2A\x00", "II\x00\x2A":
		bo = binary.LittleEndian
	case "MM\x00\x2A", "MM\x2A\x00":
		bo = binary.BigEndian
	default:
		return Upright
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd+2 > int64(len(t)) {
		return Upright
	}
	count := int64(bo.Uint16(t[ifd:]))
	o := Upright
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			break // a truncated directory: keep what was read, as Pillow does
		}
		if bo.Uint16(t[e:]) != orientationTag {
			continue
		}
		v, ok := entryValue(t, bo, e)
		if !ok {
			continue // Pillow skips entries it cannot read
		}
		// A later entry replaces an earlier one, as in Pillow's tag
		// dictionary.
		o = Upright
		if v >= Upright && v <= RotateCCW {
			o = v
		}
	}
	return o
}

// typeSizes are the sizes of the TIFF field types Pillow reads; it skips
// entries of other types.
var typeSizes = map[uint16]int64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}

// entryValue returns the orientation an IFD entry at e gives Pillow: the
// first of its values when that is a number equal to an integer (Pillow
// keeps the first of several values for the one-value Orientation tag,
// and a float or rational equal to 6 looks up as 6), else -1 (BYTE,
// ASCII and UNDEFINED values are bytes or text, which are no orientation).
// ok is false for an entry Pillow skips: an unknown type, no values, or
// values past the end of the data.
func entryValue(t []byte, bo binary.ByteOrder, e int64) (v int, ok bool) {
	typ, n := bo.Uint16(t[e+2:]), int64(bo.Uint32(t[e+4:]))
	unit, known := typeSizes[typ]
	if !known || n == 0 {
		return 0, false
	}
	val := t[e+8 : e+12]
	if size := n * unit; size > 4 {
		off := int64(bo.Uint32(val))
		if off+size > int64(len(t)) {
			return 0, false
		}
		val = t[off : off+size]
	}
	var f float64
	switch typ {
	case 3:
		return int(bo.Uint16(val)), true
	case 4, 13:
		return int(bo.Uint32(val)), true
	case 6:
		return int(int8(val[0])), true
	case 8:
		return int(int16(bo.Uint16(val))), true
	case 9:
		return int(int32(bo.Uint32(val))), true
	case 16:
		u := bo.Uint64(val)
		if u > 8 {
			return -1, true
		}
		return int(u), true
	case 11:
		f = float64(math.Float32frombits(bo.Uint32(val)))
	case 12:
		f = math.Float64frombits(bo.Uint64(val))
	case 5, 10:
		num, den := float64(bo.Uint32(val)), float64(bo.Uint32(val[4:]))
		if typ == 10 {
			num, den = float64(int32(bo.Uint32(val))), float64(int32(bo.Uint32(val[4:])))
		}
		if den == 0 {
			return -1, true
		}
		f = num / den
	default:
		return -1, true
	}
	if f != math.Trunc(f) || f < Upright || f > RotateCCW {
		return -1, true
	}
	return int(f), true
}

// Apply returns img turned upright for orientation o (1–8), as Pillow's
// exif_transpose turns it: mirrored and/or rotated, width and height
// swapped for 5–8. Orientation 1 and values outside 1–8 return img itself.
// Both 8-bit (Pix) and float (Float) images keep their samples exactly.
func Apply(img *data.Image, o int) *data.Image {
	if o <= Upright || o > RotateCCW || img == nil {
		return img
	}
	w, h := img.W, img.H
	ow, oh := w, h
	if o >= Transpose {
		ow, oh = h, w
	}
	out := &data.Image{W: ow, H: oh, C: img.C}
	// Output pixel (x, y) is source pixel a + x·dx + y·dy (pixel indices).
	last, lastRow := w-1, (h-1)*w
	var a, dx, dy int
	switch o {
	case FlipLeftRight:
		a, dx, dy = last, -1, w
	case Rotate180:
		a, dx, dy = lastRow+last, -1, -w
	case FlipTopBottom:
		a, dx, dy = lastRow, 1, -w
	case Transpose:
		a, dx, dy = 0, w, 1
	case RotateCW:
		a, dx, dy = lastRow, -w, 1
	case Transverse:
		a, dx, dy = lastRow+last, -w, -1
	case RotateCCW:
		a, dx, dy = last, w, -1
	}
	if img.HighDepth() {
		out.Float = remap(img.Float, ow, oh, img.C, a, dx, dy)
	} else {
		out.Pix = remap(img.Pix, ow, oh, img.C, a, dx, dy)
	}
	return out
}

// remap copies samples to an ow×oh image whose pixel (x, y) is source
// pixel a + x·dx + y·dy, c samples each.
func remap[T uint8 | float32](src []T, ow, oh, c, a, dx, dy int) []T {
	dst := make([]T, ow*oh*c)
	d := 0
	for y := 0; y < oh; y++ {
		s := a + y*dy
		for x := 0; x < ow; x++ {
			copy(dst[d:d+c], src[s*c:s*c+c])
			d += c
			s += dx
		}
	}
	return dst
}
