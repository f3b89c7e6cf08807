package metrics

import "math"

// The SSIM window: scikit-image's Gaussian weights with σ 1.5 and its
// truncate of 3.5 give radius int(3.5·1.5 + 0.5) = 5, an 11-tap window.
const (
	ssimSigma  = 1.5
	ssimRadius = 5
	ssimWindow = 2*ssimRadius + 1
	ssimK1     = 0.01
	ssimK2     = 0.03
)

// gaussTaps are scipy's gaussian_filter weights: exp(-x²/2σ²) normalised
// to sum 1.
var gaussTaps = func() [ssimWindow]float64 {
	var k [ssimWindow]float64
	var sum float64
	for i := range k {
		x := float64(i - ssimRadius)
		k[i] = math.Exp(-0.5 / (ssimSigma * ssimSigma) * x * x)
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}()

// SSIM returns the mean structural similarity of two w×h single-channel
// images (row-major) with the given data range (1 for [0, 1] data, 255
// for 8-bit levels). Only the windows that lie wholly inside the image are
// averaged: scikit-image filters the whole image and then trims the
// window's radius from each border, which leaves exactly these, so the
// border mode never matters. Images must be at least 11×11.
func SSIM(x, y []float64, w, h int, dataRange float64) float64 {
	ow, oh := w-2*ssimRadius, h-2*ssimRadius
	if ow <= 0 || oh <= 0 || len(x) != w*h || len(y) != w*h {
		return math.NaN()
	}
	prod := func(a, b []float64) []float64 {
		out := make([]float64, len(a))
		for i := range a {
			out[i] = a[i] * b[i]
		}
		return out
	}
	ux, uy := blurValid(x, w, h), blurValid(y, w, h)
	uxx, uyy, uxy := blurValid(prod(x, x), w, h), blurValid(prod(y, y), w, h), blurValid(prod(x, y), w, h)
	c1 := (ssimK1 * dataRange) * (ssimK1 * dataRange)
	c2 := (ssimK2 * dataRange) * (ssimK2 * dataRange)
	var sum float64
	for i := range ux {
		vx := uxx[i] - ux[i]*ux[i]
		vy := uyy[i] - uy[i]*uy[i]
		vxy := uxy[i] - ux[i]*uy[i]
		a1, a2 := 2*ux[i]*uy[i]+c1, 2*vxy+c2
		b1, b2 := ux[i]*ux[i]+uy[i]*uy[i]+c1, vx+vy+c2
		sum += (a1 * a2) / (b1 * b2)
	}
	return sum / float64(len(ux))
}

// blurValid applies the separable Gaussian and keeps the (w−10)×(h−10)
// positions whose window lies inside the image.
func blurValid(v []float64, w, h int) []float64 {
	ow, oh := w-2*ssimRadius, h-2*ssimRadius
	// Rows first (all rows, valid columns), then columns, as scipy
	// filters one axis after the other.
	tmp := make([]float64, h*ow)
	for y := 0; y < h; y++ {
		row := v[y*w:]
		for x := 0; x < ow; x++ {
			var s float64
			for k, t := range gaussTaps {
				s += row[x+k] * t
			}
			tmp[y*ow+x] = s
		}
	}
	out := make([]float64, oh*ow)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var s float64
			for k, t := range gaussTaps {
				s += tmp[(y+k)*ow+x] * t
			}
			out[y*ow+x] = s
		}
	}
	return out
}
