package quality

import (
	"fmt"
	"math"

	"cyclepix/data/raster"
)

// evalNuclei is fluo2he's stain-specific figure: whether fake_B stains
// the nuclei as real_B does. Nuclei are a small share of a section, so a
// model can reach a fair L1 with pink tissue and no nuclei, which is
// useless to a pathologist; here only the nuclear pixels count. They are
// found in the input, not the target: real_A's channel 0 (the DAPI-like
// nuclear stain) read from the data file `cyclepix test` wrote, above
// its Otsu threshold.
func evalNuclei(res *Results, values map[string]Figure) error {
	if !res.Has("real_A") {
		return nil // skipped, and said why
	}
	in, err := res.LoadData("real_A")
	if err != nil {
		return err
	}
	real, fake, err := loadPaired(res)
	if err != nil {
		return err
	}
	var errs []float64
	var names []string
	for i, a := range in {
		if a.W != real[i].W || a.H != real[i].H || a.W != fake[i].W || a.H != fake[i].H {
			return fmt.Errorf("%s: real_A is %dx%d, real_B %dx%d, fake_B %dx%d: a sample's images must have one size",
				res.Path(res.Samples[i], "real_A"), a.W, a.H, real[i].W, real[i].H, fake[i].W, fake[i].H)
		}
		mask := NuclearMask(a)
		sum, n := 0.0, 0
		for j, in := range mask {
			if !in {
				continue
			}
			for c := 0; c < 3; c++ {
				sum += math.Abs(float64(fake[i].Pix[3*j+c]) - float64(real[i].Pix[3*j+c]))
			}
			n += 3
		}
		if n == 0 {
			continue // no nuclei in view
		}
		errs, names = append(errs, sum/float64(n)), append(names, res.Samples[i])
	}
	if len(errs) > 0 {
		values["nuclei_error"] = Figure{Value: mean(errs), N: len(errs), Worst: worstOf(names, errs, false)}
	}
	return nil
}

// NuclearMask marks the pixels of a fluorescence image whose channel 0
// (the nuclear stain) is above the channel's Otsu threshold: nuclei,
// whatever the exposure, since Otsu's method adapts to each image. A
// channel of one value has no nuclei.
func NuclearMask(r *raster.Raster) []bool {
	p := r.Plane(0)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range p {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	mask := make([]bool, len(p))
	if !(hi > lo) {
		return mask
	}
	const bins = 256
	var hist [bins]float64
	bin := func(v float32) int { return min(int((float64(v)-lo)/(hi-lo)*bins), bins-1) }
	for _, v := range p {
		hist[bin(v)]++
	}
	// Otsu: the split that maximises the between-class variance.
	total, sumAll := float64(len(p)), 0.0
	for k, h := range hist {
		sumAll += float64(k) * h
	}
	best, split, w0, sum0 := -1.0, 0, 0.0, 0.0
	for k := 0; k < bins-1; k++ {
		w0 += hist[k]
		sum0 += float64(k) * hist[k]
		w1 := total - w0
		if w0 == 0 || w1 == 0 {
			continue
		}
		m0, m1 := sum0/w0, (sumAll-sum0)/w1
		if v := w0 * w1 * (m0 - m1) * (m0 - m1); v > best {
			best, split = v, k
		}
	}
	for j, v := range p {
		mask[j] = bin(v) > split
	}
	return mask
}
