package data

import (
	"fmt"
	"math"
)

// CIE L*a*b* conversions as scikit-image's rgb2lab / lab2rgb with their
// defaults (sRGB primaries and gamma, illuminant D65, 2° observer), which
// the reference's colorization dataset and model use.

// xyzFromRGB is skimage's sRGB → XYZ matrix.
var xyzFromRGB = [3][3]float64{
	{0.412453, 0.357580, 0.180423},
	{0.212671, 0.715160, 0.072169},
	{0.019334, 0.119193, 0.950227},
}

// rgbFromXYZ is its inverse, computed as skimage does (linalg.inv) rather
// than taken from a rounded table.
var rgbFromXYZ = invert3(xyzFromRGB)

// d65 is the reference white (X, Y, Z) of illuminant D65, 2° observer.
var d65 = [3]float64{0.95047, 1.0, 1.08883}

func invert3(m [3][3]float64) [3][3]float64 {
	c := func(r0, r1, c0, c1 int) float64 { return m[r0][c0]*m[r1][c1] - m[r0][c1]*m[r1][c0] }
	det := m[0][0]*c(1, 2, 1, 2) - m[0][1]*c(1, 2, 0, 2) + m[0][2]*c(1, 2, 0, 1)
	return [3][3]float64{
		{c(1, 2, 1, 2) / det, -c(0, 2, 1, 2) / det, c(0, 1, 1, 2) / det},
		{-c(1, 2, 0, 2) / det, c(0, 2, 0, 2) / det, -c(0, 1, 0, 2) / det},
		{c(1, 2, 0, 1) / det, -c(0, 2, 0, 1) / det, c(0, 1, 0, 1) / det},
	}
}

// RGBToLab converts an sRGB colour with components in [0, 1] to L*a*b*
// (L in [0, 100], a and b roughly in [-128, 127]).
func RGBToLab(r, g, b float64) (L, A, B float64) {
	lin := [3]float64{r, g, b}
	for i, v := range lin {
		if v > 0.04045 {
			lin[i] = math.Pow((v+0.055)/1.055, 2.4)
		} else {
			lin[i] = v / 12.92
		}
	}
	var f [3]float64
	for i := range f {
		x := (xyzFromRGB[i][0]*lin[0] + xyzFromRGB[i][1]*lin[1] + xyzFromRGB[i][2]*lin[2]) / d65[i]
		if x > 0.008856 {
			f[i] = math.Cbrt(x)
		} else {
			f[i] = 7.787*x + 16.0/116
		}
	}
	return 116*f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
}

// LabPixelToRGB is the inverse of RGBToLab, clipped to [0, 1] as
// skimage's lab2rgb (which also clamps a negative Z to 0).
func LabPixelToRGB(L, A, B float64) (r, g, b float64) {
	y := (L + 16) / 116
	f := [3]float64{A/500 + y, y, math.Max(y-B/200, 0)}
	var xyz [3]float64
	for i, v := range f {
		if v > 0.2068966 {
			xyz[i] = v * v * v
		} else {
			xyz[i] = (v - 16.0/116) / 7.787
		}
		xyz[i] *= d65[i]
	}
	var rgb [3]float64
	for i := range rgb {
		v := rgbFromXYZ[i][0]*xyz[0] + rgbFromXYZ[i][1]*xyz[1] + rgbFromXYZ[i][2]*xyz[2]
		if v > 0.0031308 {
			v = 1.055*math.Pow(v, 1/2.4) - 0.055
		} else {
			v *= 12.92
		}
		rgb[i] = math.Min(math.Max(v, 0), 1)
	}
	return rgb[0], rgb[1], rgb[2]
}

// LabToRGB turns the colorization mode's normalised arrays back into an
// RGB image for display: l is A (1×H×W, L/50 − 1), ab is B or a
// generator's output (2×H×W, ab/110). The result is 3×H×W in [-1, 1], the
// range SavePNG and the other visuals use (the reference's
// colorization_model.lab2rgb, scaled to [-1, 1] instead of 0..255).
func LabToRGB(l, ab []float32, h, w int) ([]float32, error) {
	n := h * w
	if len(l) != n || len(ab) != 2*n {
		return nil, fmt.Errorf("LabToRGB: want L of %d and ab of %d values for %dx%d, got %d and %d", n, 2*n, w, h, len(l), len(ab))
	}
	out := make([]float32, 3*n)
	for i := 0; i < n; i++ {
		r, g, b := LabPixelToRGB((float64(l[i])+1)*50, float64(ab[i])*110, float64(ab[n+i])*110)
		out[i], out[n+i], out[2*n+i] = float32(2*r-1), float32(2*g-1), float32(2*b-1)
	}
	return out, nil
}

// LabArrays converts an RGB image as the colorization dataset mode does:
// L/50 − 1 (1×H×W) and ab/110 (2×H×W), the reference's float32 scaling of
// skimage's rgb2lab. Grey images are converted to RGB first.
func (m *Image) LabArrays() (l, ab []float32) {
	m = m.RGB()
	n := m.W * m.H
	l = make([]float32, n)
	ab = make([]float32, 2*n)
	for p := 0; p < n; p++ {
		L, A, B := RGBToLab(m.unit(3*p), m.unit(3*p+1), m.unit(3*p+2))
		// The reference casts Lab to float32 before scaling, in float32.
		l[p] = float32(L)/50 - 1
		ab[p], ab[n+p] = float32(A)/110, float32(B)/110
	}
	return l, ab
}
