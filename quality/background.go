package quality

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"cyclepix/data"
)

// The background of a blobs2zebras image is one flat colour; the blobs
// may cross the border, but never cover most of it, so the per-channel
// median of the border ring is that colour even where a blob touches it.
// Pixels within bgTolerance levels of it on every channel are background;
// bgErode pixels (at 64 pixels; scaled with the image) are then taken off
// its edge, because a generator's blob outlines are softer than the
// input's and would otherwise count as background errors.
const (
	bgTolerance = 6
	bgErode64   = 2
	// bgMinShare: below this share of background pixels the image has no
	// background to judge (a blob fills it).
	bgMinShare = 0.05
)

// errNoBackground marks images whose background cannot be found.
var errNoBackground = errors.New("no background found")

// BorderColour is the per-channel median of an image's outermost ring of
// pixels (max(1, side/32) wide), in 8-bit levels.
func BorderColour(m *data.Image) [3]float64 {
	m = m.RGB()
	ring := max(1, min(m.W, m.H)/32)
	var ch [3][]float64
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if x >= ring && y >= ring && x < m.W-ring && y < m.H-ring {
				continue
			}
			for c := 0; c < 3; c++ {
				ch[c] = append(ch[c], level(m, (y*m.W+x)*3+c))
			}
		}
	}
	var out [3]float64
	for c := range out {
		out[c] = median(ch[c])
	}
	return out
}

// BackgroundMask marks the background pixels of an input image: those
// within a few levels of its border colour, away from the edge of that
// region.
func BackgroundMask(m *data.Image) []bool {
	m = m.RGB()
	return erode(nearBorderColour(m), m.W, m.H, erodeRadius(m))
}

// ObjectMask marks the pixels of an input image's objects (the blobs):
// those not near its border colour, away from their outline.
func ObjectMask(m *data.Image) []bool {
	m = m.RGB()
	near := nearBorderColour(m)
	for i := range near {
		near[i] = !near[i]
	}
	return erode(near, m.W, m.H, erodeRadius(m))
}

func erodeRadius(m *data.Image) int { return max(1, bgErode64*min(m.W, m.H)/64) }

// nearBorderColour marks the pixels within bgTolerance of BorderColour on
// every channel.
func nearBorderColour(m *data.Image) []bool {
	bg := BorderColour(m)
	mask := make([]bool, m.W*m.H)
	for i := range mask {
		in := true
		for c := 0; c < 3; c++ {
			in = in && math.Abs(level(m, 3*i+c)-bg[c]) <= bgTolerance
		}
		mask[i] = in
	}
	return mask
}

// erode keeps a pixel only when every pixel within r (a square) is set;
// outside the image counts as set, so the border itself stays background.
func erode(mask []bool, w, h, r int) []bool {
	// A square's minimum is the minimum over its rows' minima: a row
	// pass, then a column pass.
	tmp := make([]bool, len(mask))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			ok := true
			for dx := -r; dx <= r && ok; dx++ {
				if xx := x + dx; xx >= 0 && xx < w {
					ok = mask[y*w+xx]
				}
			}
			tmp[y*w+x] = ok
		}
	}
	out := make([]bool, len(mask))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			ok := true
			for dy := -r; dy <= r && ok; dy++ {
				if yy := y + dy; yy >= 0 && yy < h {
					ok = tmp[yy*w+x]
				}
			}
			out[y*w+x] = ok
		}
	}
	return out
}

// BackgroundScore is how far a translation moved an input's background.
type BackgroundScore struct {
	// MAE is the mean absolute difference over the input's background
	// pixels and the three channels, in 8-bit levels: what a grey or
	// noisy background, or checkerboard artefacts, all raise.
	MAE float64
	// Shift is the distance (8-bit levels, RGB) between the input's
	// background colour and the output's mean colour over the same
	// pixels: the colour change alone, which zero-mean noise and
	// checkerboards leave out.
	Shift float64
	// Share is the fraction of the image that was judged background.
	Share float64
}

// Background compares the background of input (a real image) with the
// same pixels of output (its translation). The images must have the same
// size.
func Background(input, output *data.Image) (BackgroundScore, error) {
	if input.W != output.W || input.H != output.H {
		return BackgroundScore{}, fmt.Errorf("sizes differ: %dx%d and %dx%d", input.W, input.H, output.W, output.H)
	}
	input, output = input.RGB(), output.RGB()
	mask := BackgroundMask(input)
	bg := BorderColour(input)
	var sum [3]float64
	var abs float64
	n := 0
	for i, in := range mask {
		if !in {
			continue
		}
		n++
		for c := 0; c < 3; c++ {
			v := level(output, 3*i+c)
			abs += math.Abs(v - level(input, 3*i+c))
			sum[c] += v
		}
	}
	share := float64(n) / float64(len(mask))
	if share < bgMinShare {
		return BackgroundScore{}, fmt.Errorf("%w: %.1f%% of the image is near its border colour", errNoBackground, 100*share)
	}
	var d2 float64
	for c := 0; c < 3; c++ {
		d := sum[c]/float64(n) - bg[c]
		d2 += d * d
	}
	return BackgroundScore{MAE: abs / float64(3*n), Shift: math.Sqrt(d2), Share: share}, nil
}

// errNoObject marks images without objects to judge.
var errNoObject = errors.New("no object found")

// ObjectChroma is the mean chroma (max − min of R, G, B, in 8-bit levels)
// of output over the pixels that are objects in input: near 0 where
// output's objects are black and white, as zebras are, whatever their
// texture; a blob that kept its colour under the stripes scores high.
func ObjectChroma(input, output *data.Image) (float64, error) {
	if input.W != output.W || input.H != output.H {
		return 0, fmt.Errorf("sizes differ: %dx%d and %dx%d", input.W, input.H, output.W, output.H)
	}
	output = output.RGB()
	var sum float64
	n := 0
	for i, in := range ObjectMask(input) {
		if !in {
			continue
		}
		r, g, b := level(output, 3*i), level(output, 3*i+1), level(output, 3*i+2)
		sum += max(r, g, b) - min(r, g, b)
		n++
	}
	// Objects smaller than a few pixels after erosion are outlines, not
	// surfaces whose colour can be judged.
	if n < 16 {
		return 0, fmt.Errorf("%w: %d object pixels", errNoObject, n)
	}
	return sum / float64(n), nil
}

// level is sample i in 8-bit levels (16-bit images scaled down).
func level(m *data.Image, i int) float64 {
	if m.HighDepth() {
		return float64(m.Float[i]) * 255
	}
	return float64(m.Pix[i])
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
