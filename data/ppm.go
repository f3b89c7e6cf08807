package data

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// Netpbm binary formats (P5 grey, P6 colour), which the reference accepts as
// .ppm and golang.org/x/image does not read. maxval ≤ 255 gives 8-bit
// images (scaled to 0..255 when maxval < 255); larger maxval gives 16-bit
// images, which FromImage turns into float samples.

func init() {
	image.RegisterFormat("ppm", "P6", decodePNM, decodePNMConfig)
	image.RegisterFormat("pgm", "P5", decodePNM, decodePNMConfig)
}

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

func decodePNMConfig(r io.Reader) (image.Config, error) {
	hd, err := readPNMHeader(bufio.NewReader(r))
	if err != nil {
		return image.Config{}, err
	}
	var m color.Model
	switch {
	case hd.channels == 1 && hd.bps == 1:
		m = color.GrayModel
	case hd.channels == 1:
		m = color.Gray16Model
	case hd.bps == 1:
		m = color.RGBAModel
	default:
		m = color.RGBA64Model
	}
	return image.Config{ColorModel: m, Width: hd.w, Height: hd.h}, nil
}

func decodePNM(r io.Reader) (image.Image, error) {
	br := bufio.NewReader(r)
	hd, err := readPNMHeader(br)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, hd.w*hd.h*hd.channels*hd.bps)
	if _, err := io.ReadFull(br, raw); err != nil {
		return nil, fmt.Errorf("pnm raster: %w", unexpected(err))
	}
	rect := image.Rect(0, 0, hd.w, hd.h)
	n := hd.w * hd.h * hd.channels
	if hd.bps == 1 {
		if hd.maxval != 255 {
			for i, v := range raw {
				raw[i] = uint8((min(int(v), hd.maxval)*255 + hd.maxval/2) / hd.maxval)
			}
		}
		if hd.channels == 1 {
			return &image.Gray{Pix: raw, Stride: hd.w, Rect: rect}, nil
		}
		m := image.NewRGBA(rect)
		for i := 0; i < hd.w*hd.h; i++ {
			copy(m.Pix[4*i:4*i+3], raw[3*i:3*i+3])
			m.Pix[4*i+3] = 255
		}
		return m, nil
	}
	// 16-bit big-endian samples, rescaled to the full 16-bit range.
	vals := make([]uint16, n)
	for i := range vals {
		v := min(int(raw[2*i])<<8|int(raw[2*i+1]), hd.maxval)
		vals[i] = uint16((v*65535 + hd.maxval/2) / hd.maxval)
	}
	if hd.channels == 1 {
		m := image.NewGray16(rect)
		for i, v := range vals {
			m.Pix[2*i], m.Pix[2*i+1] = uint8(v>>8), uint8(v)
		}
		return m, nil
	}
	m := image.NewRGBA64(rect)
	for i := 0; i < hd.w*hd.h; i++ {
		for c := 0; c < 3; c++ {
			v := vals[3*i+c]
			m.Pix[8*i+2*c], m.Pix[8*i+2*c+1] = uint8(v>>8), uint8(v)
		}
		m.Pix[8*i+6], m.Pix[8*i+7] = 0xff, 0xff
	}
	return m, nil
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
