package data

import (
	"fmt"
)

// Image is a decoded picture in the precision it was stored with.
//
// 8-bit sources keep their bytes in Pix so that resizing can reproduce
// Pillow's fixed-point arithmetic bit for bit. 16-bit sources (PNG, TIFF,
// PPM with maxval > 255) keep float32 samples in [0, 1] in Float instead:
// the reference opens them with PIL and convert('RGB'), which keeps only
// the high byte (RGB) or saturates (16-bit grey, mode I), so medical and
// scientific images lose their dynamic range there. Exactly one of Pix and
// Float is non-nil. Samples are interleaved row by row (H×W×C).
type Image struct {
	W, H int
	// C is 1 (grey) or 3 (RGB) for images decoded as the reference does
	// (alpha is dropped at decode time, as PIL's convert('RGB') does);
	// images on the data's own scale (domain.go) have the file's channel
	// count, with Float samples.
	C     int
	Pix   []uint8
	Float []float32
}

// HighDepth reports whether the image holds float samples (a 16-bit source).
func (m *Image) HighDepth() bool { return m.Float != nil }

// newLike returns a zeroed image of the same depth with the given size.
func (m *Image) newLike(w, h, c int) *Image {
	out := &Image{W: w, H: h, C: c}
	if m.HighDepth() {
		out.Float = make([]float32, w*h*c)
	} else {
		out.Pix = make([]uint8, w*h*c)
	}
	return out
}

// Gray converts to one channel. 8-bit images use PIL's convert('L')
// integer formula, (19595 R + 38470 G + 7471 B + 0x8000) >> 16, which the
// parity fixtures check; float images use the same weights in float.
func (m *Image) Gray() *Image {
	if m.C == 1 {
		return m
	}
	out := m.newLike(m.W, m.H, 1)
	n := m.W * m.H
	if m.HighDepth() {
		for i := 0; i < n; i++ {
			p := m.Float[3*i:]
			out.Float[i] = (19595*p[0] + 38470*p[1] + 7471*p[2]) / 65536
		}
		return out
	}
	for i := 0; i < n; i++ {
		p := m.Pix[3*i:]
		out.Pix[i] = uint8((19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 0x8000) >> 16)
	}
	return out
}

// RGB converts to three channels by replicating grey (PIL's L → RGB).
func (m *Image) RGB() *Image {
	if m.C == 3 {
		return m
	}
	out := m.newLike(m.W, m.H, 3)
	n := m.W * m.H
	for i := 0; i < n; i++ {
		if m.HighDepth() {
			v := m.Float[i]
			out.Float[3*i], out.Float[3*i+1], out.Float[3*i+2] = v, v, v
		} else {
			v := m.Pix[i]
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
		}
	}
	return out
}

// Channels converts to nc channels: grey and RGB convert into each other
// as Pillow does; any other count must be the image's own (the data's own
// scale keeps channels as stored).
func (m *Image) Channels(nc int) (*Image, error) {
	switch {
	case m.C == nc:
		return m, nil
	case nc == 1 && m.C == 3:
		return m.Gray(), nil
	case nc == 3 && m.C == 1:
		return m.RGB(), nil
	}
	return nil, fmt.Errorf("%d channels requested of an image of %d", nc, m.C)
}

// Crop returns the w×h region at (x, y); the part outside the image is
// black, as PIL's Image.crop does.
func (m *Image) Crop(x, y, w, h int) *Image {
	out := m.newLike(w, h, m.C)
	for oy := 0; oy < h; oy++ {
		sy := y + oy
		if sy < 0 || sy >= m.H {
			continue
		}
		x0, x1 := max(x, 0), min(x+w, m.W)
		if x0 >= x1 {
			continue
		}
		so, do := (sy*m.W+x0)*m.C, (oy*w+x0-x)*m.C
		n := (x1 - x0) * m.C
		if m.HighDepth() {
			copy(out.Float[do:do+n], m.Float[so:so+n])
		} else {
			copy(out.Pix[do:do+n], m.Pix[so:so+n])
		}
	}
	return out
}

// FlipH mirrors the image left to right (PIL's FLIP_LEFT_RIGHT).
func (m *Image) FlipH() *Image {
	out := m.newLike(m.W, m.H, m.C)
	c := m.C
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			s, d := (y*m.W+x)*c, (y*m.W+m.W-1-x)*c
			if m.HighDepth() {
				copy(out.Float[d:d+c], m.Float[s:s+c])
			} else {
				copy(out.Pix[d:d+c], m.Pix[s:s+c])
			}
		}
	}
	return out
}

// Tensor returns the image as a CHW float32 array normalised to [-1, 1]:
// torchvision's ToTensor (v/255 in float32) followed by
// Normalize(0.5, 0.5), in the same float32 operations, so the values equal
// the reference's bit for bit for 8-bit images.
func (m *Image) Tensor() []float32 {
	n := m.W * m.H
	out := make([]float32, n*m.C)
	for c := 0; c < m.C; c++ {
		dst := out[c*n : (c+1)*n]
		if m.HighDepth() {
			src := m.Float[c:]
			for i := range dst {
				dst[i] = (src[i*m.C] - 0.5) / 0.5
			}
			continue
		}
		src := m.Pix[c:]
		for i := range dst {
			dst[i] = (float32(src[i*m.C])/255 - 0.5) / 0.5
		}
	}
	return out
}

// unit returns sample i (interleaved index) in [0, 1].
func (m *Image) unit(i int) float64 {
	if m.HighDepth() {
		return float64(m.Float[i])
	}
	return float64(m.Pix[i]) / 255
}
