package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// Netpbm binary formats (P5 grey, P6 colour), which the reference accepts as
// .ppm and golang.org/x/image does not read.

type pnmHeader struct {
	magic         string
	w, h, maxval  int
	channels, bps int
}

func readPNMHeader(r *bufio.Reader) (pnmHeader, error) {
	var hd pnmHeader
	magic := make([]byte, 2)
	if _, err := io.ReadFull(r, magic); err != nil {
		return hd, fmt.Errorf("pnm header: %w", err)
	}
	hd.magic = string(magic)
	switch hd.magic {
	case "P6":
		hd.channels = 3
	case "P5":
		hd.channels = 1
	default:
		return hd, fmt.Errorf("pnm: unsupported variant %q (only binary P5/P6)", hd.magic)
	}
	vals := [3]int{}
	for i := range vals {
		v, err := readPNMInt(r)
		if err != nil {
			return hd, err
		}
		vals[i] = v
	}
	hd.w, hd.h, hd.maxval = vals[0], vals[1], vals[2]
	// Exactly one whitespace byte separates the header from the raster.
	if _, err := r.ReadByte(); err != nil {
		return hd, fmt.Errorf("pnm header: %w", err)
	}
	if hd.w <= 0 || hd.h <= 0 || hd.w > 1<<16 || hd.h > 1<<16 {
		return hd, fmt.Errorf("pnm: bad size %dx%d", hd.w, hd.h)
	}
	if hd.maxval <= 0 || hd.maxval > 65535 {
		return hd, fmt.Errorf("pnm: maxval %d outside 1..65535", hd.maxval)
	}
	hd.bps = 1
	if hd.maxval > 255 {
		hd.bps = 2
	}
	return hd, nil
}

// readPNMInt reads a decimal header field, skipping whitespace and
// #-comments.
func readPNMInt(r *bufio.Reader) (int, error) {
	var c byte
	var err error
	for {
		c, err = r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("pnm header: %w", unexpected(err))
		}
		if c == '#' {
			if _, err := r.ReadString('\n'); err != nil {
				return 0, fmt.Errorf("pnm header: %w", unexpected(err))
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			continue
		}
		break
	}
	if c < '0' || c > '9' {
		return 0, fmt.Errorf("pnm header: unexpected byte %q", c)
	}
	v := 0
	for c >= '0' && c <= '9' {
		v = v*10 + int(c-'0')
		if v > 1<<24 {
			return 0, errors.New("pnm header: number too large")
		}
		c, err = r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("pnm header: %w", unexpected(err))
		}
	}
	return v, r.UnreadByte()
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodePPM decodes a binary PGM (P5) or PPM (P6) as Pillow 9.4 does:
// maxval 255 as is; other maxvals rescaled with Python's
// round(v / maxval * 255) (to even on ties, in doubles), except that a
// PGM with maxval above 255 is Pillow's mode I, rescaled to 0..65535 and
// then saturated at 255 by convert('RGB'). DepthFull keeps maxval above
// 255 at full precision instead (v / maxval).
func decodePPM(b []byte, d Depth) (*Image, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	hd, err := readPNMHeader(br)
	if err != nil {
		return nil, err
	}
	if int64(hd.w)*int64(hd.h) > maxPixels {
		return nil, fmt.Errorf("%dx%d pixels is more than the %d allowed", hd.w, hd.h, maxPixels)
	}
	n := hd.w * hd.h * hd.channels
	raw := make([]byte, n*hd.bps)
	if _, err := io.ReadFull(br, raw); err != nil {
		return nil, fmt.Errorf("pnm raster: %w", unexpected(err))
	}
	out := &Image{W: hd.w, H: hd.h, C: hd.channels}
	sample := func(i int) int {
		if hd.bps == 1 {
			return int(raw[i])
		}
		return int(raw[2*i])<<8 | int(raw[2*i+1])
	}
	if hd.bps == 2 && d == DepthFull {
		out.Float = make([]float32, n)
		for i := range out.Float {
			out.Float[i] = float32(min(float64(sample(i))/float64(hd.maxval), 1))
		}
		return out, nil
	}
	out.Pix = make([]byte, n)
	scale := func(v, top int) int {
		return min(top, int(math.RoundToEven(float64(v)/float64(hd.maxval)*float64(top))))
	}
	for i := range out.Pix {
		v := sample(i)
		switch {
		case hd.maxval == 255:
		case hd.bps == 2 && hd.channels == 1 && hd.maxval == 65535:
			// Mode I, read raw; saturated below.
		case hd.bps == 2 && hd.channels == 1:
			v = scale(v, 65535)
		default:
			v = scale(v, 255)
		}
		out.Pix[i] = uint8(min(v, 255))
	}
	return out, nil
}

// encodePNM writes an 8-bit binary PPM (P6) or PGM (P5).
func encodePNM(w io.Writer, m *Image) error {
	if m.HighDepth() {
		return errors.New("pnm: writing 16-bit images is not supported")
	}
	magic := "P6"
	if m.C == 1 {
		magic = "P5"
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s\n%d %d\n255\n", magic, m.W, m.H)
	bw.Write(m.Pix)
	return bw.Flush()
}
