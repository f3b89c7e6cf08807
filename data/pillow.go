package data

import (
	"image"
	"image/color"
)

// fromGo converts an image from Go's decoders (PNG, BMP, TIFF) into what
// Pillow's convert('RGB') would give, one channel for greyscale modes.
// paletteLen is the number of entries the file's palette really has (-1:
// all of the decoded palette); pixels past it take Pillow's default
// palette, a grey ramp, where Go's PNG decoder would give black.
func fromGo(m image.Image, d Depth, paletteLen int) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := m.(type) {
	case *image.Gray:
		out := &Image{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			copy(out.Pix[y*w:(y+1)*w], m.Pix[y*m.Stride:y*m.Stride+w])
		}
		return out
	case *image.Gray16:
		return gray16(m, d)
	case *image.NRGBA:
		out := &Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				copy(out.Pix[(y*w+x)*3:(y*w+x)*3+3], row[4*x:4*x+3])
			}
		}
		return out
	case *image.RGBA:
		// Premultiplied (associated) alpha, from TIFF: Pillow's "RGBa"
		// unpacking divides by alpha with truncation, and a fully
		// transparent pixel is black.
		out := &Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				o := out.Pix[(y*w+x)*3:]
				switch a := int(p[3]); a {
				case 255:
					o[0], o[1], o[2] = p[0], p[1], p[2]
				case 0:
				default:
					for c := 0; c < 3; c++ {
						o[c] = clipByte(int(p[c]) * 255 / a)
					}
				}
			}
		}
		return out
	case *image.NRGBA64, *image.RGBA64:
		return rgb16(m, d)
	case *image.Paletted:
		return paletted(m, paletteLen)
	case *image.CMYK:
		pix := make([]byte, 0, w*h*4)
		for y := 0; y < h; y++ {
			pix = append(pix, m.Pix[y*m.Stride:y*m.Stride+4*w]...)
		}
		return cmykToRGB(w, h, pix)
	}
	// Anything else: 8-bit RGB through the non-premultiplied model.
	out := &Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			o := out.Pix[(y*w+x)*3:]
			o[0], o[1], o[2] = c.R, c.G, c.B
		}
	}
	return out
}

// gray16 converts 16-bit greyscale (Gray16, or NRGBA64 when a PNG has a
// transparent colour). Pillow opens it as mode I (PNG) or I;16 (TIFF) and
// its convert('RGB') saturates values above 255: a 16-bit scan comes out
// almost white. DepthFull keeps v/65535.
func gray16(m image.Image, d Depth) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	at := func(x, y int) uint16 {
		return color.Gray16Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.Gray16).Y
	}
	if g, ok := m.(*image.Gray16); ok {
		at = func(x, y int) uint16 {
			i := y*g.Stride + 2*x
			return uint16(g.Pix[i])<<8 | uint16(g.Pix[i+1])
		}
	}
	if n, ok := m.(*image.NRGBA64); ok {
		// The grey value itself, not premultiplied by the tRNS alpha.
		at = func(x, y int) uint16 {
			i := y*n.Stride + 8*x
			return uint16(n.Pix[i])<<8 | uint16(n.Pix[i+1])
		}
	}
	if d == DepthPillow {
		out := &Image{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.Pix[y*w+x] = uint8(min(at(x, y), 255))
			}
		}
		return out
	}
	out := &Image{W: w, H: h, C: 1, Float: make([]float32, w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.Float[y*w+x] = float32(at(x, y)) / 65535
		}
	}
	return out
}

// rgb16 converts 16-bit colour (with alpha dropped, its colour kept).
// Pillow keeps the high byte of each sample ("RGB;16B", "RGBA;16B",
// "LA;16B"); DepthFull keeps v/65535.
func rgb16(m image.Image, d Depth) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{W: w, H: h, C: 3}
	if d == DepthPillow {
		out.Pix = make([]uint8, w*h*3)
	} else {
		out.Float = make([]float32, w*h*3)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA64Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			i := (y*w + x) * 3
			for k, v := range [3]uint16{c.R, c.G, c.B} {
				if out.Pix != nil {
					out.Pix[i+k] = uint8(v >> 8)
				} else {
					out.Float[i+k] = float32(v) / 65535
				}
			}
		}
	}
	return out
}

// paletted looks each index up in the palette; indices past the file's
// palette get Pillow's default entries, (i, i, i).
func paletted(m *image.Paletted, paletteLen int) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	if paletteLen < 0 || paletteLen > len(m.Palette) {
		paletteLen = len(m.Palette)
	}
	var lut [256][3]uint8
	for i := range lut {
		if i < paletteLen {
			c := color.NRGBAModel.Convert(m.Palette[i]).(color.NRGBA)
			lut[i] = [3]uint8{c.R, c.G, c.B}
		} else {
			lut[i] = [3]uint8{uint8(i), uint8(i), uint8(i)}
		}
	}
	out := &Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	for y := 0; y < h; y++ {
		row := m.Pix[y*m.Stride:]
		for x := 0; x < w; x++ {
			e := lut[row[x]]
			copy(out.Pix[(y*w+x)*3:], e[:])
		}
	}
	return out
}
