package data

import (
	"fmt"
	"math"
	"strings"
)

// pix2pixHD (NVIDIA/pix2pixHD, data/base_dataset.py) preprocesses a little
// differently from pytorch-CycleGAN-and-pix2pix, whose rules ApplyTransform
// follows: scale_width does not raise the height to the crop size, the
// crop applies only to an image larger than it (Pillow's crop fills past
// the border), preprocess none rounds to multiples of the generator's
// downsampling factor rather than 4, and label, instance and (with labels)
// feature maps are resampled NEAREST. HDTransform is that chain; the crop
// position and flip come from GetParams, whose get_params is the same in
// both projects.

// HDTransform runs pix2pixHD's get_transform on m with the drawn params p:
// resize to --load_size square (resize_and_crop), or scale_width to width
// --load_size (height int(load·h/w), skipped when the width is already
// right); a --crop_size square crop at (p.CropX, p.CropY) when the image
// is larger than the crop either way; with --preprocess none a resize to
// the nearest multiples of base (Python's round, half to even) when base
// > 0; then a left-right flip when p.Flip and not --no_flip. nearest
// selects Pillow's NEAREST resampling (label and instance maps), else
// BICUBIC. Normalisation is the caller's: ids stay ids.
func HDTransform(m *Image, o *Options, base int, p Params, nearest bool) (*Image, error) {
	resize := func(w, h int, why string) (*Image, error) {
		if w <= 0 || h <= 0 {
			return nil, fmt.Errorf("--preprocess %s%s would resize the %dx%d image to %dx%d: use a larger --load_size or larger images", o.Preprocess, why, m.W, m.H, w, h)
		}
		if nearest {
			return m.ResizeNearest(w, h), nil
		}
		return m.Resize(w, h), nil
	}
	var err error
	switch {
	case strings.Contains(o.Preprocess, "resize"):
		if m, err = resize(o.LoadSize, o.LoadSize, ""); err != nil {
			return nil, err
		}
	case strings.Contains(o.Preprocess, "scale_width"):
		if m.W != o.LoadSize {
			// Python's int(load * h / w): a float quotient, truncated.
			h := int(float64(o.LoadSize*m.H) / float64(m.W))
			if m, err = resize(o.LoadSize, h, ""); err != nil {
				return nil, err
			}
		}
	}
	if cs := o.CropSize; o.crops() && (m.W > cs || m.H > cs) {
		m = m.Crop(p.CropX, p.CropY, cs, cs)
	}
	if o.Preprocess == "none" && base > 0 {
		b := float64(base)
		w := int(math.RoundToEven(float64(m.W)/b) * b)
		h := int(math.RoundToEven(float64(m.H)/b) * b)
		if w != m.W || h != m.H {
			if m, err = resize(w, h, fmt.Sprintf(" (multiples of %d, the generator's downsampling)", base)); err != nil {
				return nil, err
			}
		}
	}
	if p.Flip && !o.NoFlip {
		m = m.FlipH()
	}
	return m, nil
}

// ResizeNearest returns the image resampled to w×h as Pillow's
// Image.resize(size, NEAREST) does: output pixel i reads source pixel
// int(scale/2 + i·scale) with scale = in/out, the position accumulated in
// float64 from one pixel to the next as Pillow's ImagingScaleAffine does
// (so that ties at exact boundaries fall the same way). Samples are copied,
// never mixed, so label and instance ids survive.
func (m *Image) ResizeNearest(w, h int) *Image {
	if w == m.W && h == m.H {
		return m
	}
	xs, ys := nearestIndex(m.W, w), nearestIndex(m.H, h)
	out := m.newLike(w, h, m.C)
	c := m.C
	for y, sy := range ys {
		if sy < 0 {
			continue // Pillow fills what falls outside the source with 0
		}
		for x, sx := range xs {
			if sx < 0 {
				continue
			}
			s, d := (sy*m.W+sx)*c, (y*w+x)*c
			if m.HighDepth() {
				copy(out.Float[d:d+c], m.Float[s:s+c])
			} else {
				copy(out.Pix[d:d+c], m.Pix[s:s+c])
			}
		}
	}
	return out
}

// nearestIndex is the source index of each of out pixels when in pixels
// are resampled NEAREST, or -1 where Pillow's position falls outside.
func nearestIndex(in, out int) []int {
	scale := float64(in) / float64(out)
	idx := make([]int, out)
	pos := scale * 0.5
	for i := range idx {
		// Pillow's COORD: negative positions are outside, others truncate.
		j := -1
		if pos >= 0 {
			j = int(pos)
		}
		if j >= in {
			j = -1
		}
		idx[i] = j
		pos += scale
	}
	return idx
}
