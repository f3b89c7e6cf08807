package metrics

import (
	"fmt"
	"math"

	"cyclepix/data"
)

// Scores are the paired metrics of a set of image pairs, each averaged over
// the pairs.
type Scores struct {
	// Pairs is how many pairs were compared.
	Pairs int
	// L1 is the mean absolute error as a fraction of the full range
	// (multiply by 255 for 8-bit levels, by 2 for the [-1, 1] scale of
	// the reference's L1 loss).
	L1 float64
	// PSNR is the mean peak signal-to-noise ratio in dB over the pairs
	// that differ; identical pairs (infinite PSNR) are counted in
	// Identical instead. +Inf when every pair is identical.
	PSNR float64
	// SSIM is the mean structural similarity (1 for identical images).
	SSIM float64
	// Identical counts pairs whose images are equal.
	Identical int
}

// plane is one channel of an image in [0, 1], row-major.
type plane struct {
	w, h int
	v    []float64
}

// planes splits an image into channels scaled to [0, 1] (8-bit values are
// divided by 255, 16-bit ones are already floats in [0, 1]).
func planes(m *data.Image) []plane {
	n := m.W * m.H
	out := make([]plane, m.C)
	for c := range out {
		p := plane{w: m.W, h: m.H, v: make([]float64, n)}
		for i := 0; i < n; i++ {
			if m.HighDepth() {
				p.v[i] = float64(m.Float[i*m.C+c])
			} else {
				p.v[i] = float64(m.Pix[i*m.C+c]) / 255
			}
		}
		out[c] = p
	}
	return out
}

// PairScore holds the metrics of one pair.
type PairScore struct {
	L1, MSE, PSNR, SSIM float64
}

// Pair computes the paired metrics of one image pair. The images must
// have the same size; a grey image is compared with an RGB one by
// replicating its channel.
func Pair(real, fake *data.Image) (PairScore, error) {
	if real == nil || fake == nil {
		return PairScore{}, fmt.Errorf("missing image")
	}
	if real.W != fake.W || real.H != fake.H {
		return PairScore{}, fmt.Errorf("sizes differ: %dx%d and %dx%d (paired metrics need images of the same size)", real.W, real.H, fake.W, fake.H)
	}
	if real.W < ssimWindow || real.H < ssimWindow {
		return PairScore{}, fmt.Errorf("image of %dx%d is smaller than the %dx%d SSIM window", real.W, real.H, ssimWindow, ssimWindow)
	}
	if real.C != fake.C {
		real, fake = real.RGB(), fake.RGB()
	}
	pr, pf := planes(real), planes(fake)
	var abs, sq, ssim float64
	var n int
	for c := range pr {
		for i, a := range pr[c].v {
			d := a - pf[c].v[i]
			abs += math.Abs(d)
			sq += d * d
		}
		n += len(pr[c].v)
		ssim += SSIM(pr[c].v, pf[c].v, real.W, real.H, 1)
	}
	s := PairScore{L1: abs / float64(n), MSE: sq / float64(n), SSIM: ssim / float64(len(pr))}
	s.PSNR = PSNR(s.MSE, 1)
	return s, nil
}

// PSNR is 10·log10(dataRange²/mse) dB (+Inf when mse is 0), as
// scikit-image's peak_signal_noise_ratio.
func PSNR(mse, dataRange float64) float64 {
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(dataRange*dataRange/mse)
}

// PairError says which pair of a set could not be compared.
type PairError struct {
	Index int
	Err   error
}

func (e *PairError) Error() string { return fmt.Sprintf("pair %d: %v", e.Index, e.Err) }

func (e *PairError) Unwrap() error { return e.Err }

// Paired computes the mean paired metrics over real[i] ↔ fake[i]. A pair
// that cannot be compared gives a *PairError.
func Paired(real, fake []*data.Image) (Scores, error) {
	if len(real) != len(fake) {
		return Scores{}, fmt.Errorf("%d real and %d fake images: paired metrics need as many of each", len(real), len(fake))
	}
	if len(real) == 0 {
		return Scores{}, fmt.Errorf("no image pairs to compare")
	}
	var s Scores
	var psnr float64
	for i := range real {
		p, err := Pair(real[i], fake[i])
		if err != nil {
			return Scores{}, &PairError{Index: i, Err: err}
		}
		s.L1 += p.L1
		s.SSIM += p.SSIM
		if math.IsInf(p.PSNR, 1) {
			s.Identical++
		} else {
			psnr += p.PSNR
		}
	}
	s.Pairs = len(real)
	s.L1 /= float64(s.Pairs)
	s.SSIM /= float64(s.Pairs)
	if s.Identical == s.Pairs {
		s.PSNR = math.Inf(1)
	} else {
		s.PSNR = psnr / float64(s.Pairs-s.Identical)
	}
	return s, nil
}

// ImagesFromCHW converts network outputs (CHW float32 arrays in [-1, 1],
// as a generator produces) to 8-bit images exactly as cyclepix saves them
// (data.ImageFromCHW), so that metrics computed during training equal
// those `cyclepix eval` computes on the saved test images.
func ImagesFromCHW(chw [][]float32, c, h, w int) ([]*data.Image, error) {
	out := make([]*data.Image, len(chw))
	for i, x := range chw {
		m, err := data.ImageFromCHW(x, c, h, w)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

// PairedCHW is Paired on network tensors: real[i] and fake[i] are CHW
// float32 arrays in [-1, 1] of c×h×w, quantised to 8 bits first as
// ImagesFromCHW does.
func PairedCHW(real, fake [][]float32, c, h, w int) (Scores, error) {
	r, err := ImagesFromCHW(real, c, h, w)
	if err != nil {
		return Scores{}, fmt.Errorf("real: %w", err)
	}
	f, err := ImagesFromCHW(fake, c, h, w)
	if err != nil {
		return Scores{}, fmt.Errorf("fake: %w", err)
	}
	return Paired(r, f)
}
