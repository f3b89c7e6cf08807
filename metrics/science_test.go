package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

// sciAB returns the arrays of scientific-formats.md §3's verified numbers:
// a[i,j] = 16i + j (16×16, 0..255) and b = clip(a + 3·((k mod 5) − 2), 0,
// 255), k the row-major index.
func sciAB() (a, b []float32) {
	a, b = make([]float32, 256), make([]float32, 256)
	for k := range a {
		a[k] = float32(k) // 16i + j is the row-major index itself
		b[k] = float32(min(max(k+3*(k%5-2), 0), 255))
	}
	return a, b
}

func sciMap(v []float32, f func(float32) float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

// sciValue looks a score up by its Values name, which the tests use so
// that the names are checked too.
func sciValue(t *testing.T, s Science, name string) float64 {
	t.Helper()
	for _, v := range s.Values() {
		if v.Name == name {
			return v.Value
		}
	}
	t.Fatalf("no value named %q in %v", name, s.Values())
	return 0
}

// TestScienceVerifiedNumbers checks the numbers of scientific-formats.md
// §3, which were computed with scikit-image 0.19.3 and SciPy 1.10, without
// Python. Each expected value is given to the digits the document gives,
// and the tolerance is half a unit of its last digit.
//
// §4's SynthRAD-style 16×16 check (MAE 35.5556, PSNR 39.0898, masked SSIM
// 0.9992915) is not here: the document gives its mask (rows 5–11, columns
// 4–12) but not the two images, and none of the obvious constructions
// from a and b reproduces it. The SynthRAD procedure itself is checked
// against a Python transcription of it in TestScienceAgainstPython.
func TestScienceVerifiedNumbers(t *testing.T) {
	a, b := sciAB()
	over255 := func(x float32) float32 { return x / 255 }
	inv := func(x float32) float32 { return 255 - x }
	half := func(x float32) float32 { return float32(int(x) / 2) }
	stack := func(fs ...func(float32) float32) (ta, tb []float32) {
		for _, f := range fs {
			ta = append(ta, sciMap(a, f)...)
			tb = append(tb, sciMap(b, f)...)
		}
		return ta, tb
	}
	id := func(x float32) float32 { return x }
	rgbA, rgbB := stack(id, inv, half)
	type want struct {
		name  string
		value float64
		tol   float64
	}
	cases := []struct {
		name        string
		truth, pred []float32
		c           int
		dataRange   []float64
		want        []want
	}{
		{"uint8 a,b R=255", a, b, 1, []float64{255}, []want{
			{"MSE", 17.69921875, 0}, // exactly 4531/256
			{"MAE", 3.55078125, 0},  // exactly 909/256 (NumPy gives the same)
			{"PSNR", 35.651263, 5e-7},
			{"SSIM", 0.9915873, 5e-8},
			{"Pearson", 0.99838121, 5e-9},
			{"PSNR.inf", 0, 0},
			{"Pearson.nan", 0, 0},
		}},
		// The same values as uint16: only R matters here. R = 65535 is
		// skimage's default for uint16, the document's warning case.
		{"uint16 R=255", a, b, 1, []float64{255}, []want{
			{"SSIM[c0]", 0.9915873, 5e-8},
		}},
		{"uint16 R=65535", a, b, 1, []float64{65535}, []want{
			{"SSIM", 0.9999952, 5e-8},
			{"PSNR", 83.850, 5e-4},
		}},
		// a/255 in float32 differs from the document's float64 a/255 by
		// up to 3e-8 per value, which moves PSNR by about 1.2e-7 dB and
		// SSIM by 5e-10: still within the digits the document gives.
		{"float a/255 R=1", sciMap(a, over255), sciMap(b, over255), 1, []float64{1}, []want{
			{"SSIM", 0.9915873, 5e-8},
			{"PSNR", 35.651263, 5e-7},
		}},
		{"float a/255 R=2", sciMap(a, over255), sciMap(b, over255), 1, []float64{2}, []want{
			{"SSIM", 0.9922154, 5e-8},
			{"PSNR", 41.671863, 5e-7},
		}},
		// (a, 255−a, a//2) with channel_axis: the per-channel SSIMs and
		// their plain mean. 255−x keeps the squared differences and
		// negates both images, so PSNR and r of channel 1 equal channel 0's.
		{"RGB stack R=255", rgbA, rgbB, 3, []float64{255}, []want{
			{"SSIM[c0]", 0.99158726, 5e-9},
			{"SSIM[c1]", 0.99158731, 5e-9},
			{"SSIM[c2]", 0.99204998, 5e-9},
			{"SSIM", 0.99174152, 5e-9},
			{"PSNR[c0]", 35.651263, 5e-7},
			{"PSNR[c1]", 35.651263, 5e-7},
			{"Pearson[c1]", 0.99838121, 5e-9},
		}},
		// Per-channel ranges: channel 1 with R = 255 as above, channel 0
		// with 65535.
		{"per-channel ranges", append(append([]float32{}, a...), a...), append(append([]float32{}, b...), b...), 2, []float64{65535, 255}, []want{
			{"SSIM[c0]", 0.9999952, 5e-8},
			{"SSIM[c1]", 0.9915873, 5e-8},
			{"PSNR[c1]", 35.651263, 5e-7},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ScienceScores(tc.truth, tc.pred, tc.c, 16, 16, tc.dataRange, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if got := sciValue(t, s, w.name); math.Abs(got-w.value) > w.tol {
					t.Errorf("%s = %.10g, want %.10g ± %g", w.name, got, w.value, w.tol)
				}
			}
		})
	}
	// pearsonr([1,2,3,4],[1,3,2,5]) = 0.8315218406 (images need 7×7, so
	// on the helper directly).
	if r := pearsonR([]float64{1, 2, 3, 4}, []float64{1, 3, 2, 5}); math.Abs(r-0.8315218406) > 5e-11 {
		t.Errorf("pearsonR of the 4-value example = %.12g, want 0.8315218406", r)
	}
}

// sciCase is one image pair of the cross-check against Python.
type sciCase struct {
	name        string
	c, h, w     int
	dataRange   []float64
	truth, pred []float32
	mask        []bool
	// synthRAD: Python scores the pair as SynthRAD2023's final revision
	// does (MAE raw; PSNR and SSIM after clipping to −1024..3000, R
	// 4024), and Go reproduces it with ScienceScores on prepared arrays.
	synthRAD bool
}

// sciCases draws the cross-check's pairs: several channel counts, data
// ranges and odd sizes, masks, constant and identical channels, the
// smallest allowed image, two- and one-pixel masks, and large values with
// small differences (where SSIM's variances cancel most).
func sciCases() []sciCase {
	rng := rand.New(rand.NewPCG(7, 11))
	field := func(h, w int, lo, hi float64) []float32 {
		// smooth structure plus texture, on [lo, hi]
		v := make([]float32, h*w)
		fx, fy, ph := 1+rng.Float64()*3, 1+rng.Float64()*3, rng.Float64()*6
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				s := 0.5 + 0.3*math.Sin(fx*float64(x)/float64(w)*math.Pi+ph)*math.Cos(fy*float64(y)/float64(h)*math.Pi)
				s += 0.15 * rng.Float64()
				if (x/4+y/3)%3 == 0 {
					s += 0.1
				}
				v[y*w+x] = float32(lo + (hi-lo)*s)
			}
		}
		return v
	}
	noisy := func(v []float32, sigma, bias float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(float64(x) + bias + sigma*rng.NormFloat64())
		}
		return out
	}
	constant := func(n int, v float32) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	ellipse := func(h, w int) []bool {
		m := make([]bool, h*w)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dy, dx := (float64(y)-float64(h)/2)/(float64(h)*0.4), (float64(x)-float64(w)/2)/(float64(w)*0.35)
				m[y*w+x] = dx*dx+dy*dy < 1
			}
		}
		return m
	}
	cat := func(vs ...[]float32) []float32 {
		var out []float32
		for _, v := range vs {
			out = append(out, v...)
		}
		return out
	}
	var cs []sciCase

	// CT, counts and reflectance in one 3-channel 23×31 image, masked.
	{
		h, w := 23, 31
		t0, t1, t2 := field(h, w, -1000, 1500), field(h, w, 0, 1000), field(h, w, 0, 1)
		cs = append(cs, sciCase{name: "3ch 23x31 masked", c: 3, h: h, w: w,
			dataRange: []float64{4024, 1000, 1},
			truth:     cat(t0, t1, t2),
			pred:      cat(noisy(t0, 40, 5), noisy(t1, 30, -2), noisy(t2, 0.02, 0)),
			mask:      ellipse(h, w)})
		cs = append(cs, sciCase{name: "3ch 23x31 unmasked", c: 3, h: h, w: w,
			dataRange: []float64{4024, 1000, 1},
			truth:     cat(t0, t1, t2),
			pred:      cat(noisy(t0, 60, 0), noisy(t1, 10, 0), noisy(t2, 0.05, 0.01))})
	}
	// Constant and identical channels, one range for all, 17×9.
	{
		h, w := 17, 9
		n := h * w
		t0 := field(h, w, -50, 300)
		t2 := field(h, w, 0, 500)
		// noisy; constant truth; identical; both constant and equal
		cs = append(cs, sciCase{name: "4ch 17x9 constant and identical", c: 4, h: h, w: w,
			dataRange: []float64{500},
			truth:     cat(t0, constant(n, 42), t2, constant(n, 7)),
			pred:      cat(noisy(t0, 20, 0), field(h, w, 0, 100), t2, constant(n, 7))})
		cs = append(cs, sciCase{name: "1ch 17x9 both constant, different", c: 1, h: h, w: w,
			dataRange: []float64{500},
			truth:     constant(n, 100), pred: constant(n, 90)})
	}
	// The smallest image SSIM accepts.
	{
		t0 := field(7, 7, 0, 10)
		cs = append(cs, sciCase{name: "1ch 7x7", c: 1, h: 7, w: 7,
			dataRange: []float64{10}, truth: t0, pred: noisy(t0, 0.5, 0)})
	}
	// Two- and one-pixel masks (pearsonr's n = 2 rule; n = 1 is an error
	// in SciPy and NaN here).
	{
		h, w := 8, 9
		t0, t1 := field(h, w, 0, 100), field(h, w, -100, 100)
		m2 := make([]bool, h*w)
		m2[3*w+3], m2[4*w+5] = true, true
		cs = append(cs, sciCase{name: "2ch 8x9 two-pixel mask", c: 2, h: h, w: w,
			dataRange: []float64{100, 200}, truth: cat(t0, t1),
			pred: cat(noisy(t0, 5, 0), noisy(t1, 5, 0)), mask: m2})
		m1 := make([]bool, h*w)
		m1[4*w+4] = true
		cs = append(cs, sciCase{name: "1ch 8x9 one-pixel mask", c: 1, h: h, w: w,
			dataRange: []float64{100}, truth: t0, pred: noisy(t0, 5, 0), mask: m1})
	}
	// 12-bit camera counts near the top of uint16 with small
	// differences: the same channel with R = 65535 and R = 4095.
	{
		h, w := 40, 33
		t0 := field(h, w, 30000, 30400)
		p0 := noisy(t0, 3, 0)
		cs = append(cs, sciCase{name: "2ch 40x33 large values", c: 2, h: h, w: w,
			dataRange: []float64{65535, 4095}, truth: cat(t0, t0), pred: cat(p0, p0)})
	}
	// CT beyond SynthRAD's window, with a body mask.
	{
		h, w := 32, 24
		// Integer HU, as CT is stored: synthRADPrepare's +1024 in float32
		// is then exact, as NumPy's in float64 is.
		round := func(v []float32) []float32 {
			return sciMap(v, func(x float32) float32 { return float32(math.Round(float64(x))) })
		}
		t0 := round(field(h, w, -1300, 3400))
		cs = append(cs, sciCase{name: "synthrad 32x24", c: 1, h: h, w: w,
			dataRange: []float64{4024}, truth: t0, pred: round(noisy(t0, 80, 20)),
			mask: ellipse(h, w), synthRAD: true})
	}
	return cs
}

// synthRADPrepare does to one CT channel what SynthRAD2023's final
// revision does before PSNR and SSIM, which ScienceScores leaves to the
// caller: clip to −1024..3000, set pixels outside the mask to −1024, add
// 1024 (the shift matters: SSIM's C1 term is not shift-invariant).
func synthRADPrepare(v []float32, mask []bool) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		x = min(max(x, -1024), 3000)
		if !mask[i] {
			x = -1024
		}
		out[i] = x + 1024
	}
	return out
}

// sciPython scores the cases with scikit-image, SciPy and NumPy in
// float64 (the float32 values converted, as ScienceScores converts them)
// and prints, per case, per channel, MAE, MSE, PSNR, SSIM, r as hex floats
// (exact, and inf/nan survive), then for unmasked single-range cases the
// channel_axis SSIM; for SynthRAD cases its MAE, PSNR and SSIM.
const sciPython = `
import json, sys, warnings
import numpy as np
from skimage.metrics import structural_similarity, peak_signal_noise_ratio, mean_squared_error
from scipy.stats import pearsonr
warnings.simplefilter("ignore")
d = sys.argv[1]
cases = json.load(open(d + "/cases.json"))
out = []
for i, cs in enumerate(cases):
    c, h, w = cs["c"], cs["h"], cs["w"]
    T = np.fromfile("%s/truth%d.f32" % (d, i), dtype="<f4").astype(np.float64).reshape(c, h, w)
    P = np.fromfile("%s/pred%d.f32" % (d, i), dtype="<f4").astype(np.float64).reshape(c, h, w)
    m = None
    if cs["mask"]:
        m = np.fromfile("%s/mask%d.u8" % (d, i), dtype=np.uint8).reshape(h, w)
    R = cs["ranges"]
    res = []
    if cs["synthrad"]:
        gt, pr = T[0], P[0]
        mae = np.sum(np.abs(gt * m - pr * m)) / m.sum()
        g, p = np.clip(gt, -1024, 3000), np.clip(pr, -1024, 3000)
        psnr = peak_signal_noise_ratio(g[m > 0], p[m > 0], data_range=4024)
        g2 = np.where(m > 0, g, -1024) + 1024
        p2 = np.where(m > 0, p, -1024) + 1024
        _, S = structural_similarity(g2, p2, data_range=4024, full=True)
        ssim = S[3:-3, 3:-3][m[3:-3, 3:-3] > 0].mean()
        out.append([[mae.hex(), float(psnr).hex(), float(ssim).hex()]])
        continue
    for k in range(c):
        r = R[0] if len(R) == 1 else R[k]
        t, p = T[k], P[k]
        if m is None:
            tm, pm = t.ravel(), p.ravel()
            mae = np.mean(np.abs(pm - tm))
            ssim = structural_similarity(t, p, data_range=r)
        else:
            tm, pm = t[m > 0], p[m > 0]
            mae = np.sum(np.abs(t * m - p * m)) / m.sum()
            mssim, S = structural_similarity(t, p, data_range=r, full=True)
            assert mssim == S[3:-3, 3:-3].mean()
            ssim = S[3:-3, 3:-3][m[3:-3, 3:-3] > 0].mean()
        mse = mean_squared_error(tm, pm)
        psnr = peak_signal_noise_ratio(tm, pm, data_range=r)
        try:
            pr = pearsonr(tm, pm)[0]
        except ValueError:  # fewer than 2 values
            pr = float("nan")
        res.append([float(v).hex() for v in (mae, mse, psnr, ssim, pr)])
    if m is None and len(R) == 1:
        res.append([float(structural_similarity(T, P, data_range=R[0], channel_axis=0)).hex()])
    out.append(res)
print(json.dumps(out))
`

// TestScienceAgainstPython compares ScienceScores with scikit-image
// 0.19.3, SciPy and NumPy on float64 copies of the same values: every
// score within 1e-9 relative (1e-12 absolute near 0), Inf and NaN where
// they give Inf and NaN.
func TestScienceAgainstPython(t *testing.T) {
	testsupport.NeedPythonLong(t, "numpy, scipy.stats, skimage.metrics")
	cases := sciCases()
	dir := t.TempDir()
	type spec struct {
		C        int       `json:"c"`
		H        int       `json:"h"`
		W        int       `json:"w"`
		Ranges   []float64 `json:"ranges"`
		Mask     bool      `json:"mask"`
		SynthRAD bool      `json:"synthrad"`
	}
	var specs []spec
	for i, cs := range cases {
		testsupport.WriteFloat32s(t, filepath.Join(dir, fmt.Sprintf("truth%d.f32", i)), cs.truth)
		testsupport.WriteFloat32s(t, filepath.Join(dir, fmt.Sprintf("pred%d.f32", i)), cs.pred)
		if cs.mask != nil {
			b := make([]byte, len(cs.mask))
			for j, in := range cs.mask {
				if in {
					b[j] = 1
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("mask%d.u8", i)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		specs = append(specs, spec{cs.c, cs.h, cs.w, cs.dataRange, cs.mask != nil, cs.synthRAD})
	}
	js, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cases.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	var ref [][][]string
	if err := json.Unmarshal(testsupport.RunPython(t, sciPython, dir), &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref) != len(cases) {
		t.Fatalf("python scored %d cases, want %d", len(ref), len(cases))
	}
	var worst float64
	check := func(t *testing.T, what string, got float64, hex string) {
		t.Helper()
		want, err := strconv.ParseFloat(hex, 64)
		if err != nil {
			t.Fatalf("%s: python value %q: %v", what, hex, err)
		}
		switch {
		case math.IsNaN(want) || math.IsInf(want, 0):
			if !(math.IsNaN(want) && math.IsNaN(got)) && got != want {
				t.Errorf("%s = %v, python %v", what, got, want)
			}
		default:
			d := math.Abs(got - want)
			if d > 1e-9*math.Abs(want)+1e-12 {
				t.Errorf("%s = %.17g, python %.17g (relative %.2g)", what, got, want, d/math.Abs(want))
			}
			if want != 0 {
				worst = max(worst, d/math.Abs(want))
			}
		}
	}
	for i, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			if cs.synthRAD {
				raw, err := ScienceScores(cs.truth, cs.pred, cs.c, cs.h, cs.w, cs.dataRange, cs.mask)
				if err != nil {
					t.Fatal(err)
				}
				prep, err := ScienceScores(synthRADPrepare(cs.truth, cs.mask), synthRADPrepare(cs.pred, cs.mask), cs.c, cs.h, cs.w, []float64{4024}, cs.mask)
				if err != nil {
					t.Fatal(err)
				}
				r := ref[i][0]
				check(t, "SynthRAD MAE (raw)", raw.Mean.MAE, r[0])
				check(t, "SynthRAD PSNR (prepared)", prep.Mean.PSNR, r[1])
				check(t, "SynthRAD SSIM (prepared)", prep.Mean.SSIM, r[2])
				return
			}
			s, err := ScienceScores(cs.truth, cs.pred, cs.c, cs.h, cs.w, cs.dataRange, cs.mask)
			if err != nil {
				t.Fatal(err)
			}
			for k, m := range s.Channels {
				r := ref[i][k]
				for j, got := range []float64{m.MAE, m.MSE, m.PSNR, m.SSIM, m.Pearson} {
					check(t, fmt.Sprintf("%s[c%d]", []string{"MAE", "MSE", "PSNR", "SSIM", "Pearson"}[j], k), got, r[j])
				}
			}
			if len(ref[i]) > cs.c {
				check(t, "SSIM (channel_axis mean)", s.Mean.SSIM, ref[i][cs.c][0])
			}
		})
	}
	t.Logf("largest relative difference from Python: %.2g", worst)
}

// TestScienceSemantics checks what the cross-check cannot see: the
// Inf/NaN bookkeeping, masks equal to no mask, and what lies outside a
// mask reaching SSIM only.
func TestScienceSemantics(t *testing.T) {
	a, b := sciAB()
	n := 256
	c4t := append(append(append(append([]float32{}, a...), a...), sciMap(a, func(float32) float32 { return 5 })...), a...)
	c4p := append(append(append(append([]float32{}, b...), a...), b...), sciMap(a, func(x float32) float32 { return x + 1 })...)
	s, err := ScienceScores(c4t, c4p, 4, 16, 16, []float64{255}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Channels
	if !math.IsInf(ch[1].PSNR, 1) || ch[1].InfPSNR != 1 || ch[1].MAE != 0 || ch[1].SSIM != 1 || ch[1].Pearson != 1 {
		t.Errorf("identical channel: %+v", ch[1])
	}
	if !math.IsNaN(ch[2].Pearson) || ch[2].NaNPearson != 1 {
		t.Errorf("constant truth: Pearson %v, NaNPearson %d", ch[2].Pearson, ch[2].NaNPearson)
	}
	// truth + 1: MSE 1, PSNR 20·log10(255), r exactly 1 after clipping.
	if ch[3].MSE != 1 || math.Abs(ch[3].PSNR-20*math.Log10(255)) > 1e-12 || ch[3].Pearson != 1 {
		t.Errorf("shifted channel: %+v", ch[3])
	}
	wantPSNR := (ch[0].PSNR + ch[2].PSNR + ch[3].PSNR) / 3
	wantR := (ch[0].Pearson + ch[1].Pearson + ch[3].Pearson) / 3
	if m := s.Mean; math.Abs(m.PSNR-wantPSNR) > 1e-12 || m.InfPSNR != 1 || math.Abs(m.Pearson-wantR) > 1e-15 || m.NaNPearson != 1 {
		t.Errorf("channel mean %+v, want PSNR %v over 3 finite, Pearson %v over 3 defined", m, wantPSNR, wantR)
	}
	if got := sciValue(t, s, "PSNR.inf"); got != 1 {
		t.Errorf("PSNR.inf = %v", got)
	}
	if names := s.Values(); len(names) != 7+5*4 || names[0].Name != "MAE" || names[7].Name != "MAE[c0]" || names[len(names)-1].Name != "Pearson[c3]" {
		t.Errorf("Values names: %v", names)
	}

	// An all-true mask is no mask.
	all := make([]bool, n)
	for i := range all {
		all[i] = true
	}
	u, _ := ScienceScores(a, b, 1, 16, 16, []float64{255}, nil)
	m, err := ScienceScores(a, b, 1, 16, 16, []float64{255}, all)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(u.Mean.SSIM-m.Mean.SSIM) > 1e-15 || u.Mean.MSE != m.Mean.MSE || u.Mean.Pearson != m.Mean.Pearson || m.Pixels != n {
		t.Errorf("all-true mask %+v differs from no mask %+v", m.Mean, u.Mean)
	}

	// Changing the prediction outside a mask changes SSIM near the
	// mask's edge only, never the pixel scores.
	mask := make([]bool, n)
	for y := 5; y <= 11; y++ {
		for x := 4; x <= 12; x++ {
			mask[y*16+x] = true
		}
	}
	p2 := append([]float32{}, b...)
	for i := range p2 {
		if !mask[i] {
			p2[i] = 0
		}
	}
	m1, _ := ScienceScores(a, b, 1, 16, 16, []float64{255}, mask)
	m2, _ := ScienceScores(a, p2, 1, 16, 16, []float64{255}, mask)
	if m1.Mean.MAE != m2.Mean.MAE || m1.Mean.MSE != m2.Mean.MSE || m1.Mean.Pearson != m2.Mean.Pearson || m1.Pixels != 63 {
		t.Errorf("pixel scores depend on pixels outside the mask: %+v vs %+v", m1.Mean, m2.Mean)
	}
	if m1.Mean.SSIM == m2.Mean.SSIM {
		t.Errorf("masked SSIM ignores the pixels outside the mask that its windows cover")
	}
}

// TestScienceSet checks the averaging over a set: per channel over
// images, overall over every (image, channel) score, +Inf and NaN left out
// and counted.
func TestScienceSet(t *testing.T) {
	a, b := sciAB()
	two := func(x, y []float32) []float32 { return append(append([]float32{}, x...), y...) }
	flat := sciMap(a, func(float32) float32 { return 3 })
	pairs := [][2][]float32{
		{two(a, a), two(b, a)},       // channel 1 identical: PSNR +Inf
		{two(a, flat), two(b, b)},    // channel 1 constant truth: r NaN
		{two(b, a), two(a, b)},       // ordinary
		{two(a, flat), two(a, flat)}, // both identical, channel 1 constant too
	}
	var set ScienceSet
	if _, err := set.Result(); err == nil {
		t.Error("Result of an empty set: no error")
	}
	var per []Science
	for _, p := range pairs {
		s, err := set.Add(p[0], p[1], 2, 16, 16, []float64{255, 100}, nil)
		if err != nil {
			t.Fatal(err)
		}
		per = append(per, s)
	}
	res, err := set.Result()
	if err != nil {
		t.Fatal(err)
	}
	if res.Images != 4 || res.Pixels != 4*256 || len(res.Channels) != 2 {
		t.Fatalf("result %+v", res)
	}
	type acc struct {
		mae, psnr, r       float64
		nPSNR, nR, inf, nn int
	}
	var chans [2]acc
	var all acc
	for _, s := range per {
		for k, m := range s.Channels {
			for _, x := range []*acc{&chans[k], &all} {
				x.mae += m.MAE
				if math.IsInf(m.PSNR, 1) {
					x.inf++
				} else {
					x.psnr += m.PSNR
					x.nPSNR++
				}
				if math.IsNaN(m.Pearson) {
					x.nn++
				} else {
					x.r += m.Pearson
					x.nR++
				}
			}
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
	checkMean := func(what string, got ScienceMetrics, want acc, count int) {
		if !near(got.MAE, want.mae/float64(count)) || !near(got.PSNR, want.psnr/float64(want.nPSNR)) ||
			!near(got.Pearson, want.r/float64(want.nR)) || got.InfPSNR != want.inf || got.NaNPearson != want.nn {
			t.Errorf("%s: %+v, want sums %+v over %d", what, got, want, count)
		}
	}
	checkMean("channel 0", res.Channels[0], chans[0], 4)
	checkMean("channel 1", res.Channels[1], chans[1], 4)
	checkMean("mean", res.Mean, all, 8)
	if res.Mean.InfPSNR != 3 || res.Mean.NaNPearson != 2 {
		t.Errorf("mean counts: %d Inf PSNR, %d NaN r; want 3 and 2", res.Mean.InfPSNR, res.Mean.NaNPearson)
	}

	// All identical: PSNR +Inf; all constant: r NaN.
	var same ScienceSet
	if _, err := same.Add(flat, flat, 1, 16, 16, []float64{1}, nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := same.Result(); !math.IsInf(r.Mean.PSNR, 1) || !math.IsNaN(r.Mean.Pearson) || r.Mean.InfPSNR != 1 || r.Mean.NaNPearson != 1 {
		t.Errorf("identical constant images: %+v", r.Mean)
	}

	// Refusals.
	if _, err := set.Add(a, b, 1, 16, 16, []float64{255}, nil); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Errorf("adding a 1-channel image to a 2-channel set: %v", err)
	}
	if err := set.AddScores(res); err == nil {
		t.Error("adding a set's result as one image: no error")
	}
	if _, err := set.Add(a, b[:10], 2, 16, 16, []float64{255}, nil); err == nil {
		t.Error("bad image: no error")
	}
	if r, _ := set.Result(); r.Images != 4 {
		t.Errorf("refused images were counted: %d images", r.Images)
	}
}

// TestScienceErrors checks that inputs without a meaningful score are
// refused with a message that says why.
func TestScienceErrors(t *testing.T) {
	a, b := sciAB()
	withAt := func(v []float32, i int, x float32) []float32 {
		out := append([]float32{}, v...)
		out[i] = x
		return out
	}
	none := make([]bool, 256)
	centre := make([]bool, 256)
	centre[8*16+8] = true
	border := make([]bool, 256)
	border[0], border[2*16+7], border[15*16+15] = true, true, true
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name        string
		truth, pred []float32
		c, h, w     int
		dataRange   []float64
		mask        []bool
		want        string
	}{
		{"NaN in truth", withAt(a, 40, nan), b, 1, 16, 16, []float64{255}, nil, "truth has NaN at channel 0, row 2, column 8"},
		{"+Inf in pred", a, withAt(b, 255, inf), 1, 16, 16, []float64{255}, nil, "pred has +Inf at channel 0, row 15, column 15"},
		{"-Inf in pred outside the mask", a, withAt(b, 0, -inf), 1, 16, 16, []float64{255}, centre, "pred has -Inf at channel 0, row 0, column 0"},
		{"NaN in the second channel", append(append([]float32{}, a...), a...), append(append([]float32{}, b...), withAt(b, 17, nan)...), 2, 16, 16, []float64{255}, nil, "pred has NaN at channel 1, row 1, column 1"},
		{"pred shorter", a, b[:255], 1, 16, 16, []float64{255}, nil, "truth has 256 values and pred 255"},
		{"lengths not c×h×w", a, b, 2, 16, 16, []float64{255}, nil, "need 512 each"},
		{"no channel", nil, nil, 0, 16, 16, []float64{255}, nil, "nothing to score"},
		{"too small", a[:6*40], b[:6*40], 1, 6, 40, []float64{255}, nil, "smaller than SSIM's 7x7 window"},
		{"too narrow", a[:40*6], b[:40*6], 1, 40, 6, []float64{255}, nil, "smaller than SSIM's 7x7 window"},
		{"no range", a, b, 1, 16, 16, nil, nil, "0 data ranges for 1 channels"},
		{"ranges for other channels", a, b, 1, 16, 16, []float64{1, 2}, nil, "2 data ranges for 1 channels"},
		{"zero range", a, b, 1, 16, 16, []float64{0}, nil, "data range 0 is 0"},
		{"negative range", a, b, 1, 16, 16, []float64{-255}, nil, "above 0"},
		{"NaN range", a, b, 1, 16, 16, []float64{math.NaN()}, nil, "data range 0 is NaN"},
		{"Inf range", a, b, 1, 16, 16, []float64{math.Inf(1)}, nil, "finite"},
		{"mask length", a, b, 1, 16, 16, []float64{255}, make([]bool, 255), "mask has 255 values"},
		{"empty mask", a, b, 1, 16, 16, []float64{255}, none, "mask has no pixel inside"},
		{"mask only near the border", a, b, 1, 16, 16, []float64{255}, border, "no pixel at least 3 pixels from the border"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ScienceScores(tc.truth, tc.pred, tc.c, tc.h, tc.w, tc.dataRange, tc.mask)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
