package quality

import (
	"fmt"
	"math"

	"cyclepix/data"
)

// evalTexture is labels2scenes' figure besides L1, PSNR and SSIM: whether
// fake_B has the fine texture real_B has (brick, grass blades, leaves,
// road markings), which a label map does not give pixel by pixel. An L1
// loss alone rewards the blurred mean of the plausible textures; pix2pixHD's
// multi-scale discriminator and feature matching are there to restore
// them. The figure is the ratio of the mean absolute Laplacian (4-neighbour,
// on luma) of fake_B to that of real_B: about 1 when the generated
// textures are as busy as the real ones, well below for a blur; above 1
// for noise or artefacts, which the L1 and SSIM figures then penalise.
func evalTexture(res *Results, values map[string]Figure) error {
	real, fake, err := loadPaired(res)
	if err != nil {
		return err
	}
	var ratios []float64
	for i := range real {
		if real[i].W != fake[i].W || real[i].H != fake[i].H {
			return fmt.Errorf("%s: real_B is %dx%d, fake_B %dx%d", res.Path(res.Samples[i], "fake_B"), real[i].W, real[i].H, fake[i].W, fake[i].H)
		}
		r := Laplacian(real[i])
		if r == 0 {
			continue // a flat target has no texture to match
		}
		ratios = append(ratios, Laplacian(fake[i])/r)
	}
	if len(ratios) > 0 {
		values["texture_ratio"] = Figure{Value: mean(ratios), N: len(ratios), Worst: worstOf(res.Samples, ratios, true)}
	}
	return nil
}

// Laplacian is the mean absolute 4-neighbour Laplacian of an 8-bit
// image's luma (Rec. 601 weights), over the interior pixels, in levels.
func Laplacian(m *data.Image) float64 {
	if m.W < 3 || m.H < 3 || m.Pix == nil {
		return 0
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
	sum := 0.0
	for y := 1; y < m.H-1; y++ {
		for x := 1; x < m.W-1; x++ {
			i := y*m.W + x
			sum += math.Abs(4*luma[i] - luma[i-1] - luma[i+1] - luma[i-m.W] - luma[i+m.W])
		}
	}
	return sum / float64((m.W-2)*(m.H-2))
}
