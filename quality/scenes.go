package quality

import (
	"fmt"
	"math"

	"cyclepix/data"
)

// evalTexture is labels2scenes' figure besides L1, PSNR and SSIM: whether
// fake_B has the fine texture real_B has (brick, grass blades, leaves,
// road markings) where real_B has it. A label map does not give texture
// pixel by pixel, and an L1 loss alone rewards the blurred mean of the
// plausible textures; pix2pixHD's multi-scale discriminator and feature
// matching are there to restore them. The figure compares texture
// strength block by block: the mean absolute Laplacian (4-neighbour, on
// luma) of each 16×16 block of fake_B against that of real_B's block, the
// mean absolute difference over the blocks relative to real_B's mean. 0
// is real_B's own texture everywhere; a blur scores about 1 (the texture
// missing); texture where there is none (noise, a deconvolution's
// checkerboard on the sky) or too strong adds to it.
func evalTexture(res *Results, values map[string]Figure) error {
	real, fake, err := loadPaired(res)
	if err != nil {
		return err
	}
	var errs []float64
	var names []string
	for i := range real {
		if real[i].W != fake[i].W || real[i].H != fake[i].H {
			return fmt.Errorf("%s: real_B is %dx%d, fake_B %dx%d", res.Path(res.Samples[i], "fake_B"), real[i].W, real[i].H, fake[i].W, fake[i].H)
		}
		if e, ok := TextureError(real[i], fake[i], 16); ok {
			errs, names = append(errs, e), append(names, res.Samples[i])
		}
	}
	if len(errs) > 0 {
		values["texture_error"] = Figure{Value: mean(errs), N: len(errs), Worst: worstOf(names, errs, false)}
	}
	return nil
}

// TextureError is evalTexture's figure for one pair: the mean over the
// block×block blocks of |texture(fake) − texture(real)|, over the mean
// texture of real, where texture is the block's mean absolute Laplacian.
// ok is false for a flat real image (no texture to compare with).
func TextureError(real, fake *data.Image, block int) (float64, bool) {
	lr, lf := laplacianMap(real), laplacianMap(fake)
	if lr == nil || lf == nil {
		return 0, false
	}
	w, h := real.W, real.H
	sumDiff, sumReal, n := 0.0, 0.0, 0
	for by := 1; by+block <= h-1; by += block {
		for bx := 1; bx+block <= w-1; bx += block {
			er, ef := 0.0, 0.0
			for y := by; y < by+block; y++ {
				for x := bx; x < bx+block; x++ {
					er += lr[y*w+x]
					ef += lf[y*w+x]
				}
			}
			k := float64(block * block)
			sumDiff += math.Abs(ef-er) / k
			sumReal += er / k
			n++
		}
	}
	if n == 0 || sumReal == 0 {
		return 0, false
	}
	return sumDiff / sumReal, true
}

// laplacianMap is the absolute 4-neighbour Laplacian of an 8-bit image's
// luma (Rec. 601 weights) at each interior pixel (0 on the border), nil
// for an image too small or not 8-bit.
func laplacianMap(m *data.Image) []float64 {
	if m.W < 3 || m.H < 3 || m.Pix == nil {
		return nil
	}
	luma := make([]float64, m.W*m.H)
	for i := range luma {
		switch m.C {
		case 1:
			luma[i] = float64(m.Pix[i])
		default:
			p := m.Pix[m.C*i:]
			luma[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
		}
	}
	out := make([]float64, m.W*m.H)
	for y := 1; y < m.H-1; y++ {
		for x := 1; x < m.W-1; x++ {
			i := y*m.W + x
			out[i] = math.Abs(4*luma[i] - luma[i-1] - luma[i+1] - luma[i-m.W] - luma[i+m.W])
		}
	}
	return out
}
