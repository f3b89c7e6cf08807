package data

import (
	"encoding/binary"
	"fmt"
	"math"

	"cyclepix/data/libtiff"
)

// decodeTIFF reads a TIFF through libtiff and converts it as Pillow 9.4
// does: the (photometric, sample format, bits, extra samples) layout
// picks one of Pillow's modes (TiffImagePlugin's OPEN_INFO table, with
// libtiff handling byte and fill order), which convert('RGB') then
// turns into 8-bit RGB. Layouts outside that table fail, as in Pillow.
func decodeTIFF(b []byte, d Depth) (*Image, error) {
	m, err := libtiff.Decode(b, maxPixels)
	if err != nil {
		return nil, err
	}
	mode, err := tiffMode(m.Header)
	if err != nil {
		return nil, err
	}
	w, h := m.Width, m.Height
	if m.RGBA {
		out := &Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
		for i := 0; i < w*h; i++ {
			copy(out.Pix[3*i:3*i+3], m.Pix[4*i:4*i+3])
		}
		return out, nil
	}
	row := m.RowBytes()
	spp := m.Samples
	// sample returns sample s of pixel (x, y) as an unsigned integer of
	// the file's width (sub-byte samples unpacked MSB first).
	sample := func(x, y, s int) uint32 {
		r := m.Pix[y*row:]
		i := x*spp + s
		switch m.Bits {
		case 8:
			return uint32(r[i])
		case 16:
			return uint32(binary.NativeEndian.Uint16(r[2*i:]))
		case 32:
			return binary.NativeEndian.Uint32(r[4*i:])
		case 12:
			bit := 12 * i
			v := uint32(r[bit/8])<<8 | uint32(r[bit/8+1])
			return (v >> (4 - bit%8)) & 0xfff
		}
		bit := m.Bits * i
		return uint32(r[bit/8]>>(8-m.Bits-bit%8)) & (1<<m.Bits - 1)
	}
	grey := func(f func(x, y int) uint8) *Image {
		out := &Image{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.Pix[y*w+x] = f(x, y)
			}
		}
		return out
	}
	colour := func(f func(x, y int, o []uint8)) *Image {
		out := &Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				f(x, y, out.Pix[(y*w+x)*3:])
			}
		}
		return out
	}
	invert := m.Photometric == 0
	switch mode {
	case "1", "L":
		// Pillow's L;2 and L;4 unpackers spread the levels over 0..255.
		top := uint32(1<<m.Bits - 1)
		return grey(func(x, y int) uint8 {
			v := uint8(sample(x, y, 0) * 255 / top)
			if invert {
				v = 255 - v
			}
			return v
		}), nil
	case "LA":
		return grey(func(x, y int) uint8 { return uint8(sample(x, y, 0)) }), nil
	case "I;16":
		top := float32(int(1)<<m.Bits - 1)
		if d == DepthFull {
			out := &Image{W: w, H: h, C: 1, Float: make([]float32, w*h)}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					out.Float[y*w+x] = float32(sample(x, y, 0)) / top
				}
			}
			return out, nil
		}
		return grey(func(x, y int) uint8 { return uint8(min(sample(x, y, 0), 255)) }), nil
	case "I":
		// 32-bit integers (or signed 16-bit ones) have no natural
		// scale: convert('RGB') clips them to 0..255 at any --bit_depth.
		return grey(func(x, y int) uint8 {
			v := int64(int32(sample(x, y, 0)))
			if m.Bits == 16 {
				v = int64(int16(sample(x, y, 0)))
			}
			return uint8(min(max(v, 0), 255))
		}), nil
	case "F":
		// Pillow's F → L: truncation, clipped.
		return grey(func(x, y int) uint8 {
			v := math.Float32frombits(sample(x, y, 0))
			switch {
			case v >= 255:
				return 255
			case v > 0:
				return uint8(v)
			}
			return 0
		}), nil
	case "RGB", "RGBA", "RGBX":
		if m.Bits == 16 && d == DepthFull {
			out := &Image{W: w, H: h, C: 3, Float: make([]float32, w*h*3)}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					for c := 0; c < 3; c++ {
						out.Float[(y*w+x)*3+c] = float32(sample(x, y, c)) / 65535
					}
				}
			}
			return out, nil
		}
		shift := uint(m.Bits - 8) // 16-bit: the high byte, as Pillow's ";16" unpackers
		return colour(func(x, y int, o []uint8) {
			for c := 0; c < 3; c++ {
				o[c] = uint8(sample(x, y, c) >> shift)
			}
		}), nil
	case "RGBa":
		if m.Bits == 16 && d == DepthFull {
			out := &Image{W: w, H: h, C: 3, Float: make([]float32, w*h*3)}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					a := float32(sample(x, y, 3))
					for c := 0; c < 3 && a > 0; c++ {
						out.Float[(y*w+x)*3+c] = min(float32(sample(x, y, c))/a, 1)
					}
				}
			}
			return out, nil
		}
		shift := uint(m.Bits - 8)
		return colour(func(x, y int, o []uint8) {
			a := int(sample(x, y, 3) >> shift)
			for c := 0; c < 3 && a > 0; c++ {
				v := int(sample(x, y, c) >> shift)
				if a < 255 {
					v = v * 255 / a
				}
				o[c] = clipByte(v)
			}
		}), nil
	case "P":
		var lut [256][3]uint8
		for i := range lut {
			if i < len(m.ColorMap[0]) {
				lut[i] = [3]uint8{uint8(m.ColorMap[0][i] / 256), uint8(m.ColorMap[1][i] / 256), uint8(m.ColorMap[2][i] / 256)}
			} else {
				lut[i] = [3]uint8{uint8(i), uint8(i), uint8(i)}
			}
		}
		return colour(func(x, y int, o []uint8) { copy(o, lut[sample(x, y, 0)][:]) }), nil
	case "CMYK":
		shift := uint(m.Bits - 8)
		pix := make([]byte, w*h*4)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < 4; c++ {
					pix[(y*w+x)*4+c] = uint8(sample(x, y, c) >> shift)
				}
			}
		}
		return cmykToRGB(w, h, pix), nil
	}
	return nil, fmt.Errorf("TIFF mode %s cannot be converted to RGB (as in Pillow)", mode)
}

// tiffMode is the Pillow mode OPEN_INFO gives a layout ("RGBa" standing
// for RGBA with premultiplied samples), or the error Pillow raises.
func tiffMode(h libtiff.Header) (string, error) {
	photo := h.Photometric
	if photo < 0 {
		photo = 0 // Pillow's default for a missing tag: min-is-white
	}
	extra := fmt.Sprint(h.ExtraSamples)
	bits, spp, sf := h.Bits, h.Samples, h.SampleFormat
	unknown := fmt.Errorf("unsupported TIFF layout: photometric %d, %d samples of %d bits (sample format %d, extra samples %s); Pillow cannot open it either", photo, spp, bits, sf, extra)
	switch photo {
	case 0, 1:
		switch {
		case spp == 1 && sf == 1 && bits == 1:
			return "1", nil
		case spp == 1 && sf == 1 && (bits == 2 || bits == 4 || bits == 8):
			return "L", nil
		case spp == 1 && sf == 1 && bits == 12 && photo == 1 && !h.BigEndian:
			return "I;16", nil
		case spp == 1 && sf == 1 && bits == 16:
			return "I;16", nil
		case spp == 1 && sf == 2 && bits == 16 && photo == 1:
			return "I", nil
		case spp == 1 && bits == 32 && photo == 1 && (sf == 2 || sf == 1 && !h.BigEndian):
			return "I", nil
		case spp == 1 && sf == 3 && bits == 32:
			return "F", nil
		case spp == 2 && sf == 1 && bits == 8 && photo == 1 && extra == "[2]":
			return "LA", nil
		}
	case 2:
		if sf != 1 || (bits != 8 && bits != 16) {
			return "", unknown
		}
		switch {
		case spp == 3 && extra == "[]":
			return "RGB", nil
		case spp == 4 && (extra == "[]" || extra == "[2]" || bits == 8 && extra == "[999]"):
			return "RGBA", nil
		case spp == 4 && extra == "[0]", bits == 8 && (spp == 5 && extra == "[0 0]" || spp == 6 && extra == "[0 0 0]"):
			return "RGBX", nil
		case spp == 4 && extra == "[1]", bits == 8 && (spp == 5 && extra == "[1 0]" || spp == 6 && extra == "[1 0 0]"):
			return "RGBa", nil
		case bits == 8 && (spp == 5 && extra == "[2 0]" || spp == 6 && extra == "[2 0 0]"):
			return "RGBA", nil
		}
	case 3:
		switch {
		case spp == 1 && sf == 1 && (bits == 1 || bits == 2 || bits == 4 || bits == 8):
			return "P", nil
		case spp == 2 && sf == 1 && bits == 8 && extra == "[2]":
			return "P", nil // PA: the alpha is dropped
		}
	case 5:
		switch {
		case sf == 1 && bits == 8 && (spp == 4 && extra == "[]" || spp == 5 && extra == "[0]" || spp == 6 && extra == "[0 0]"):
			return "CMYK", nil
		case sf == 1 && bits == 16 && spp == 4 && extra == "[]" && !h.BigEndian:
			return "CMYK", nil
		}
	case libtiff.PhotometricYCbCr:
		if spp == 3 && sf == 1 && bits == 8 {
			return "RGB", nil
		}
	case 8:
		return "", fmt.Errorf("CIELab TIFF: Pillow opens it as mode LAB but cannot convert that to RGB; convert the file to RGB")
	}
	return "", unknown
}
