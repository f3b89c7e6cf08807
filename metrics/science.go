package metrics

import (
	"fmt"
	"math"
	"strconv"
)

// Scientific images (microscopy counts, CT in Hounsfield units,
// multispectral bands) are scored on the data's own scale, channel by
// channel, with the data range the user declares, and optionally inside a
// mask. The definitions are those of scikit-image 0.19.3 and SciPy 1.10 on
// float64 arrays, so that the numbers equal the ones a Python pipeline
// reports for the same data:
//
//   - MSE: skimage.metrics.mean_squared_error; MAE: the mean absolute
//     difference (SynthRAD2023's Σ|gt·m − pred·m| / Σm when masked);
//   - PSNR: skimage.metrics.peak_signal_noise_ratio(data_range=R);
//   - SSIM: skimage.metrics.structural_similarity(data_range=R) with its
//     defaults: a 7×7 box window (scipy.ndimage.uniform_filter, mode
//     'reflect'), K1 0.01, K2 0.03, sample covariances (×49/48), the map
//     averaged after cropping 3 pixels from every side;
//   - Pearson: scipy.stats.pearsonr(truth.ravel(), pred.ravel())[0].
//
// Everything is computed in float64, and in the same order of operations
// (SSIM's box filter included), so that the results agree with
// scikit-image given float64 or integer (uint8, uint16, int16) arrays to a
// few ulps. Given float32 arrays, scikit-image 0.19 computes SSIM and MSE
// in float32, whose cancellation moves SSIM by up to 1e-4 for values far
// from 0 (counts of 30000 ± 5: 0.99958 instead of 0.99945); pass float64
// there to compare.

// The SSIM window of scikit-image's default (uniform) structural
// similarity and the crop applied before averaging its map.
const (
	scienceWin = 7
	sciencePad = (scienceWin - 1) / 2
)

// ScienceMetrics is one set of the five scores a scientific evaluation
// reports: of one channel of one image, or a mean over channels and/or
// images (see Science). Error scores are on the data's scale (HU, counts,
// …), so that they read like the physical error users reason about.
type ScienceMetrics struct {
	// MAE is the mean absolute error, in data units.
	MAE float64
	// MSE is the mean squared error, in data units squared.
	MSE float64
	// PSNR is 10·log10(R²/MSE) in dB, R the declared data range. One
	// channel of one image whose MSE is 0 has PSNR +Inf; means leave such
	// values out (see InfPSNR) and are +Inf only when every value is.
	PSNR float64
	// SSIM is scikit-image's default structural similarity; masked, the
	// mean of its map over the mask (see ScienceScores).
	SSIM float64
	// Pearson is the Pearson correlation coefficient r. It is NaN where
	// scipy.stats.pearsonr gives NaN (a constant truth or prediction over
	// the scored pixels) and where it refuses (a single scored pixel);
	// means leave NaN out (see NaNPearson) and are NaN only when every
	// value is.
	Pearson float64
	// InfPSNR counts the PSNR values that were +Inf (prediction equal to
	// the truth): 0 or 1 for one channel of one image, otherwise how many
	// (image, channel) values the PSNR mean left out. A mean that hid
	// perfect channels would overstate nothing but would silently average
	// fewer values; the count says so.
	InfPSNR int
	// NaNPearson counts the Pearson values that were NaN, as InfPSNR does.
	NaNPearson int
}

// Science holds the scores of one image pair (from ScienceScores) or of a
// set of pairs (from ScienceSet.Result), per channel and averaged, because
// multi-channel scientific data is judged channel by channel (a good DAPI
// channel must not hide a poor GFP one) and reported as a single figure
// too.
//
// Averaging rule: every score of one channel of one image counts once.
// Channel k of a set is the mean over images of that channel's per-image
// scores (each image counts equally, whatever its size or mask area, as a
// Python loop collecting one score per image does). Mean is the mean over
// channels (of one image) or over all (image, channel) scores (of a set);
// since every image has the same channels, that is also the mean over
// images of each image's channel means, except where +Inf PSNR or NaN
// Pearson values are left out. The mean PSNR is the mean of per-channel dB
// values, not the PSNR of the MSE pooled over channels (which is what
// peak_signal_noise_ratio on a whole C×H×W array gives); MAE and MSE means
// do equal the pooled values, since every channel has the same pixels.
type Science struct {
	// Images is how many image pairs were scored (1 from ScienceScores).
	Images int
	// Pixels is how many pixels of each channel were scored (the mask's
	// count, or H·W), summed over the images of a set.
	Pixels int
	// Channels holds channel k's scores at index k.
	Channels []ScienceMetrics
	// Mean holds the scores averaged over channels (and images).
	Mean ScienceMetrics
}

// ScienceValue is one named number of a Science, for printing and JSON.
type ScienceValue struct {
	Name  string
	Value float64
}

// Values lists the scores as (name, value) pairs in a fixed order, so that
// reports and JSON files have the same keys for every run: first the means
// "MAE", "MSE", "PSNR", "SSIM", "Pearson"; then "PSNR.inf" and
// "Pearson.nan", how many values those two means left out; then per channel
// k "MAE[ck]", "MSE[ck]", "PSNR[ck]", "SSIM[ck]", "Pearson[ck]" (k from 0,
// listed even for a single channel). PSNR values may be +Inf and Pearson
// values NaN, which encoding/json refuses: write them as strings or null.
func (s Science) Values() []ScienceValue {
	out := make([]ScienceValue, 0, 7+5*len(s.Channels))
	add := func(suffix string, m ScienceMetrics) {
		out = append(out,
			ScienceValue{"MAE" + suffix, m.MAE},
			ScienceValue{"MSE" + suffix, m.MSE},
			ScienceValue{"PSNR" + suffix, m.PSNR},
			ScienceValue{"SSIM" + suffix, m.SSIM},
			ScienceValue{"Pearson" + suffix, m.Pearson})
	}
	add("", s.Mean)
	out = append(out,
		ScienceValue{"PSNR.inf", float64(s.Mean.InfPSNR)},
		ScienceValue{"Pearson.nan", float64(s.Mean.NaNPearson)})
	for k, m := range s.Channels {
		add("[c"+strconv.Itoa(k)+"]", m)
	}
	return out
}

// ScienceScores scores a prediction against its ground truth on the data's
// own scale, so that the numbers match what the user's Python pipeline
// (scikit-image 0.19.3, SciPy 1.10) reports for the same arrays in float64.
//
// truth and pred are c×h×w planar (channel after channel, each row-major)
// values in data units, unscaled: HU, photon counts, reflectance. dataRange
// holds R for PSNR and SSIM (the declared HI − LO of the data, such as
// 4024 for CT clipped to −1024..3000 or 4095 for a 12-bit camera): one
// value for every channel, or one per channel. R is never guessed from the
// data or a dtype, because that guess (65535 for uint16, 2 for floats) is
// how PSNR and SSIM end up incomparable between papers.
//
// mask is nil (score every pixel) or h×w, true inside, and the same for
// every channel. With a mask, MAE, MSE, PSNR and Pearson use the pixels
// inside it only; SSIM is computed on the whole images as given (pixels
// outside the mask do enter the windows near its edge) and its map,
// cropped by 3 pixels from every side as scikit-image does, is averaged
// over the mask pixels inside the crop: SynthRAD2023's masked SSIM. The
// values are not clipped and pixels outside the mask are not changed:
// SynthRAD's final revision clips both images to −1024..3000, sets pixels
// outside the mask to −1024 and adds 1024 before SSIM (and clips before
// PSNR); do that to the arrays first, with R = 4024, to get its numbers.
// SynthRAD scores 3-D volumes with 7×7×7 windows; this SSIM is 2-D, so a
// volume scored slice by slice gives a different number.
//
// Errors, rather than a meaningless number: lengths that do not match
// c×h×w (or h×w for the mask), h or w below 7 (scikit-image: "win_size
// exceeds image extent"), a data range that is not finite and positive, a
// NaN or ±Inf value anywhere in either image (SSIM windows read the
// pixels outside a mask too: replace them first), a mask with no pixel, or
// with none at least 3 pixels from the border (where SSIM is averaged).
func ScienceScores(truth, pred []float32, c, h, w int, dataRange []float64, mask []bool) (Science, error) {
	if c < 1 || h < 1 || w < 1 {
		return Science{}, fmt.Errorf("image of %d channels of %dx%d (height x width): nothing to score", c, h, w)
	}
	n := h * w
	if len(truth) != c*n || len(pred) != c*n {
		return Science{}, fmt.Errorf("truth has %d values and pred %d, but %d channels of %dx%d (height x width) need %d each", len(truth), len(pred), c, h, w, c*n)
	}
	if h < scienceWin || w < scienceWin {
		return Science{}, fmt.Errorf("image of %dx%d (height x width) is smaller than SSIM's %dx%d window (scikit-image: win_size exceeds image extent)", h, w, scienceWin, scienceWin)
	}
	if len(dataRange) != 1 && len(dataRange) != c {
		return Science{}, fmt.Errorf("%d data ranges for %d channels: give one for all channels or one per channel", len(dataRange), c)
	}
	for k, r := range dataRange {
		if !(r > 0) || math.IsInf(r, 0) {
			return Science{}, fmt.Errorf("data range %d is %v: it must be a finite HI − LO above 0", k, r)
		}
	}
	pixels := n
	if mask != nil {
		if len(mask) != n {
			return Science{}, fmt.Errorf("mask has %d values, but images of %dx%d (height x width) need %d", len(mask), h, w, n)
		}
		pixels = 0
		inCrop := 0
		for i, in := range mask {
			if in {
				pixels++
				y, x := i/w, i%w
				if y >= sciencePad && y < h-sciencePad && x >= sciencePad && x < w-sciencePad {
					inCrop++
				}
			}
		}
		if pixels == 0 {
			return Science{}, fmt.Errorf("mask has no pixel inside: nothing to score")
		}
		if inCrop == 0 {
			return Science{}, fmt.Errorf("mask has no pixel at least %d pixels from the border, where SSIM's map is averaged", sciencePad)
		}
	}
	for _, im := range []struct {
		name string
		v    []float32
	}{{"truth", truth}, {"pred", pred}} {
		for i, v := range im.v {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				k, y, x := i/n, i%n/w, i%w
				return Science{}, fmt.Errorf("%s has %v at channel %d, row %d, column %d: metrics need finite values (replace them first, outside a mask too: SSIM windows read them)", im.name, v, k, y, x)
			}
		}
	}

	s := Science{Images: 1, Pixels: pixels, Channels: make([]ScienceMetrics, c)}
	x := make([]float64, n)
	y := make([]float64, n)
	xs := make([]float64, 0, pixels)
	ys := make([]float64, 0, pixels)
	for k := range s.Channels {
		r := dataRange[0]
		if len(dataRange) == c {
			r = dataRange[k]
		}
		for i := range x {
			x[i] = float64(truth[k*n+i])
			y[i] = float64(pred[k*n+i])
		}
		xs, ys = xs[:0], ys[:0]
		for i := range x {
			if mask == nil || mask[i] {
				xs = append(xs, x[i])
				ys = append(ys, y[i])
			}
		}
		m := &s.Channels[k]
		var abs, sq scienceSum
		for i, a := range xs {
			d := ys[i] - a
			abs.add(math.Abs(d))
			sq.add(d * d)
		}
		m.MAE = abs.value() / float64(len(xs))
		m.MSE = sq.value() / float64(len(xs))
		m.PSNR = PSNR(m.MSE, r)
		m.SSIM = ssimUniform(x, y, h, w, r, mask)
		m.Pearson = pearsonR(xs, ys)
		if math.IsInf(m.PSNR, 1) {
			m.InfPSNR = 1
		}
		if math.IsNaN(m.Pearson) {
			m.NaNPearson = 1
		}
	}
	var acc scienceAcc
	for _, m := range s.Channels {
		acc.add(m)
	}
	s.Mean = acc.mean()
	return s, nil
}

// ScienceSet accumulates per-image scores over a set of images (a test
// folder), giving per-channel and overall means by the rule Science
// describes. Images may differ in size and mask but must have the same
// channels. It is not safe for concurrent use: score images concurrently
// with ScienceScores and add the results with AddScores from one
// goroutine.
type ScienceSet struct {
	images, pixels int
	channels       []scienceAcc
	all            scienceAcc
}

// Add scores one image pair with ScienceScores (same arguments and
// errors) and adds it to the set, returning the image's own scores for a
// per-image report. An image that fails is not added.
func (s *ScienceSet) Add(truth, pred []float32, c, h, w int, dataRange []float64, mask []bool) (Science, error) {
	sc, err := ScienceScores(truth, pred, c, h, w, dataRange, mask)
	if err != nil {
		return Science{}, err
	}
	if err := s.AddScores(sc); err != nil {
		return Science{}, err
	}
	return sc, nil
}

// AddScores adds one image's scores, as ScienceScores returns them, to the
// set. It refuses a Science of several images (a set's means cannot be
// re-weighted into per-image scores) and one whose channel count differs
// from the images added before.
func (s *ScienceSet) AddScores(sc Science) error {
	if sc.Images != 1 {
		return fmt.Errorf("scores of %d images: add the scores of one image at a time", sc.Images)
	}
	if len(sc.Channels) == 0 {
		return fmt.Errorf("scores with no channel")
	}
	if s.images > 0 && len(sc.Channels) != len(s.channels) {
		return fmt.Errorf("image has %d channels but the set's first image had %d: per-channel means need the same channels", len(sc.Channels), len(s.channels))
	}
	if s.channels == nil {
		s.channels = make([]scienceAcc, len(sc.Channels))
	}
	for k, m := range sc.Channels {
		s.channels[k].add(m)
		s.all.add(m)
	}
	s.images++
	s.pixels += sc.Pixels
	return nil
}

// Result returns the set's scores: channel k averaged over the images, and
// the mean over every (image, channel) score, with +Inf PSNR and NaN
// Pearson values left out of the means and counted. It is an error to ask
// before any image was added, rather than report zeros that look like
// perfect scores.
func (s *ScienceSet) Result() (Science, error) {
	if s.images == 0 {
		return Science{}, fmt.Errorf("no image scored")
	}
	out := Science{Images: s.images, Pixels: s.pixels, Channels: make([]ScienceMetrics, len(s.channels))}
	for k := range s.channels {
		out.Channels[k] = s.channels[k].mean()
	}
	out.Mean = s.all.mean()
	return out, nil
}

// scienceAcc sums ScienceMetrics for a mean, leaving +Inf PSNR and NaN
// Pearson values out and counting them (a value that is itself a mean
// brings its counts along).
type scienceAcc struct {
	n                   int
	mae, mse, ssim      scienceSum
	psnr, pearson       scienceSum
	nPSNR, nPearson     int
	infPSNR, nanPearson int
}

func (a *scienceAcc) add(m ScienceMetrics) {
	a.n++
	a.mae.add(m.MAE)
	a.mse.add(m.MSE)
	a.ssim.add(m.SSIM)
	if math.IsInf(m.PSNR, 1) {
		a.infPSNR += max(m.InfPSNR, 1)
	} else {
		a.psnr.add(m.PSNR)
		a.nPSNR++
		a.infPSNR += m.InfPSNR
	}
	if math.IsNaN(m.Pearson) {
		a.nanPearson += max(m.NaNPearson, 1)
	} else {
		a.pearson.add(m.Pearson)
		a.nPearson++
		a.nanPearson += m.NaNPearson
	}
}

func (a *scienceAcc) mean() ScienceMetrics {
	n := float64(a.n)
	m := ScienceMetrics{
		MAE:        a.mae.value() / n,
		MSE:        a.mse.value() / n,
		SSIM:       a.ssim.value() / n,
		PSNR:       math.Inf(1),
		Pearson:    math.NaN(),
		InfPSNR:    a.infPSNR,
		NaNPearson: a.nanPearson,
	}
	if a.nPSNR > 0 {
		m.PSNR = a.psnr.value() / float64(a.nPSNR)
	}
	if a.nPearson > 0 {
		m.Pearson = a.pearson.value() / float64(a.nPearson)
	}
	return m
}

// scienceSum is Neumaier's compensated sum: NumPy's pairwise sums are
// accurate to a few ulps, and a plain running sum over a large image would
// not be.
type scienceSum struct{ s, c float64 }

func (a *scienceSum) add(v float64) {
	t := a.s + v
	if math.Abs(a.s) >= math.Abs(v) {
		a.c += (a.s - t) + v
	} else {
		a.c += (v - t) + a.s
	}
	a.s = t
}

func (a *scienceSum) value() float64 { return a.s + a.c }

// ssimUniform is skimage.metrics.structural_similarity(x, y,
// data_range=r) on one h×w channel with its defaults, in the same order of
// float64 operations (explicit conversions keep Go from fusing a multiply
// and an add, which NumPy does not do), averaged over the cropped map, or
// over the mask pixels of the cropped map.
func ssimUniform(x, y []float64, h, w int, r float64, mask []bool) float64 {
	const covNorm = float64(scienceWin*scienceWin) / float64(scienceWin*scienceWin-1)
	n := h * w
	xx, yy, xy := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range x {
		xx[i] = x[i] * x[i]
		yy[i] = y[i] * y[i]
		xy[i] = x[i] * y[i]
	}
	ux, uy := reflectBox7(x, h, w), reflectBox7(y, h, w)
	uxx, uyy, uxy := reflectBox7(xx, h, w), reflectBox7(yy, h, w), reflectBox7(xy, h, w)
	k1, k2 := 0.01*r, 0.03*r
	c1, c2 := k1*k1, k2*k2
	var s scienceSum
	count := 0
	for row := sciencePad; row < h-sciencePad; row++ {
		for col := sciencePad; col < w-sciencePad; col++ {
			i := row*w + col
			if mask != nil && !mask[i] {
				continue
			}
			mx, my := ux[i], uy[i]
			mx2, my2 := float64(mx*mx), float64(my*my)
			vx := covNorm * (uxx[i] - mx2)
			vy := covNorm * (uyy[i] - my2)
			vxy := covNorm * (uxy[i] - float64(mx*my))
			a1 := float64(float64(2*mx)*my) + c1
			a2 := float64(2*vxy) + c2
			b1 := float64(mx2+my2) + c1
			b2 := float64(vx+vy) + c2
			d := float64(b1 * b2)
			s.add(float64(a1*a2) / d)
			count++
		}
	}
	return s.value() / float64(count)
}

// reflectBox7 is scipy.ndimage.uniform_filter(v, size=7) on an h×w
// image (mode 'reflect': d c b a | a b c d), reproduced operation for
// operation: down the columns (axis 0) first, then along the rows (axis
// 1), each line a running sum over the extended line divided by 7 at every
// step, as SciPy's NI_UniformFilter1D does.
func reflectBox7(v []float64, h, w int) []float64 {
	tmp := make([]float64, h*w)
	out := make([]float64, h*w)
	line := make([]float64, max(h, w)+scienceWin-1)
	res := make([]float64, max(h, w))
	for col := 0; col < w; col++ {
		for i := 0; i < h; i++ {
			line[i+sciencePad] = v[i*w+col]
		}
		reflectBox7Line(line, res, h)
		for i := 0; i < h; i++ {
			tmp[i*w+col] = res[i]
		}
	}
	for row := 0; row < h; row++ {
		copy(line[sciencePad:], tmp[row*w:(row+1)*w])
		reflectBox7Line(line, out[row*w:(row+1)*w], w)
	}
	return out
}

// reflectBox7Line filters the n values at line[3:3+n] into out, extending them
// by reflection into line's first and last 3 places (n ≥ 3).
func reflectBox7Line(line, out []float64, n int) {
	for j := 1; j <= sciencePad; j++ {
		line[sciencePad-j] = line[sciencePad+j-1]
		line[sciencePad+n-1+j] = line[sciencePad+n-j]
	}
	var t float64
	for j := 0; j < scienceWin; j++ {
		t += line[j]
	}
	out[0] = t / scienceWin
	for j := 1; j < n; j++ {
		t += line[j+scienceWin-1] - line[j-1]
		out[j] = t / scienceWin
	}
}

// pearsonR is scipy.stats.pearsonr(x, y)[0]: NaN when either input is
// constant (SciPy warns and returns NaN) or has fewer than 2 values (SciPy
// raises); ±1 from the signs for 2 values; otherwise the centred dot
// product over the product of the norms, clipped to [−1, 1].
func pearsonR(x, y []float64) float64 {
	n := len(x)
	if n < 2 || allEqual(x) || allEqual(y) {
		return math.NaN()
	}
	if n == 2 {
		return signum(x[1]-x[0]) * signum(y[1]-y[0])
	}
	var sx, sy scienceSum
	for i := range x {
		sx.add(x[i])
		sy.add(y[i])
	}
	mx, my := sx.value()/float64(n), sy.value()/float64(n)
	var sxx, syy, sxy scienceSum
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx.add(dx * dx)
		syy.add(dy * dy)
		sxy.add(dx * dy)
	}
	r := sxy.value() / (math.Sqrt(sxx.value()) * math.Sqrt(syy.value()))
	return max(min(r, 1), -1)
}

func allEqual(v []float64) bool {
	for _, x := range v[1:] {
		if x != v[0] {
			return false
		}
	}
	return true
}

func signum(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
