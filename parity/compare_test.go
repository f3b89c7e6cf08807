package parity

import (
	"fmt"
	"math"
	"testing"

	"cyclepix/nn"
	"cyclepix/torch"
)

// Every comparison goes through compare: a NaN or an Inf on either side
// fails, except where a deliberate difference (deliberate, below) predicts
// the reference's non-finite values; there the reference must be
// non-finite exactly at the predicted positions, cyclepix must be finite,
// and the remaining values are compared as usual.
type compare struct {
	t *testing.T
	// predicted holds, by comparison label, the positions where a
	// deliberate difference says the reference is NaN or Inf.
	predicted map[string][]bool
	// why names that deliberate difference.
	why string
}

func newCompare(t *testing.T) *compare { return &compare{t: t} }

func bad(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) }

// finiteMax is the largest |v[i]| over the finite values.
func finiteMax(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		if !bad(x) {
			m = math.Max(m, math.Abs(float64(x)))
		}
	}
	return m
}

// finite checks the non-finite values of a comparison: none in got, and
// in want none, or exactly those a deliberate difference predicts for the
// label. It returns whether the check passed.
func (c *compare) finite(label string, got, want []float32) bool {
	t := c.t
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, the reference has %d", label, len(got), len(want))
		return false
	}
	if n := len(got) - finiteCount(got); n > 0 {
		t.Errorf("%s: cyclepix's values hold %d NaN/Inf of %d", label, n, len(got))
		return false
	}
	refBad := len(want) - finiteCount(want)
	pred := c.predicted[label]
	if refBad == 0 && pred == nil {
		return true
	}
	if pred == nil {
		t.Errorf("%s: the reference's values hold %d NaN/Inf of %d, and no deliberate difference predicts them", label, refBad, len(want))
		return false
	}
	for i := range want {
		if bad(want[i]) != pred[i] {
			t.Errorf("%s: the reference is %v at element %d where %s predicts %s", label, want[i], i, c.why,
				map[bool]string{true: "NaN/Inf", false: "a finite value"}[pred[i]])
			return false
		}
	}
	t.Logf("%s: %d NaN/Inf in the reference, where the deliberate difference predicts them; cyclepix's values are finite", label, refBad)
	return true
}

// values compares got with want element by element after finite: element
// i fails when |got[i] − want[i]| > tol(i). It returns whether the values
// passed.
func (c *compare) values(label string, got, want []float32, tol func(i int) float64) bool {
	t := c.t
	t.Helper()
	if !c.finite(label, got, want) {
		return false
	}
	worst, worstTol, worstAt, off := 0.0, 0.0, -1, 0
	for i := range want {
		if bad(want[i]) {
			continue
		}
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if tl := tol(i); !(d <= tl) {
			off++
			if worstAt < 0 || d-tl > worst-worstTol {
				worst, worstTol, worstAt = d, tl, i
			}
		}
	}
	if off > 0 {
		t.Errorf("%s: %d of %d values off; worst at %d: %.9g vs the reference's %.9g (abs err %.3g > %.3g)",
			label, off, len(want), worstAt, got[worstAt], want[worstAt], worst, worstTol)
		return false
	}
	return true
}

// f32 returns a tensor's values as float32 (converted from float64 for a
// replay in double precision).
func f32(t *torch.Tensor) []float32 {
	if t.DType() != torch.Float32 {
		t = t.To(torch.Float32)
	}
	return t.Float32s()
}

// close compares tensors of the same shape within atol.
func (c *compare) close(label string, got, want *torch.Tensor, atol float64) {
	c.t.Helper()
	if got == nil {
		c.t.Errorf("%s: not computed", label)
		return
	}
	if gs, ws := got.Shape(), want.Shape(); fmtShape(gs) != fmtShape(ws) {
		c.t.Errorf("%s: shape %v, the reference's %v", label, gs, ws)
		return
	}
	g, w := f32(got), want.Float32s()
	if c.values(label, g, w, func(int) float64 { return atol }) && testing.Verbose() {
		worst := 0.0
		for i := range w {
			if !bad(w[i]) {
				worst = math.Max(worst, math.Abs(float64(g[i])-float64(w[i])))
			}
		}
		c.t.Logf("%s: max abs err %.3g (atol %.3g, max|ref| %.3g)", label, worst, atol, finiteMax(w))
	}
}

// closeRel compares within atol·max(1, max|ref|): an absolute tolerance
// for values up to 1, relative to the tensor's size beyond.
func (c *compare) closeRel(label string, got, want *torch.Tensor, atol float64) {
	c.t.Helper()
	c.close(label, got, want, atol*math.Max(1, finiteMax(want.Float32s())))
}

// scalar compares with relative tolerance rtol.
func (c *compare) scalar(label string, got, want, rtol float64) {
	t := c.t
	t.Helper()
	if math.IsNaN(got) || math.IsInf(got, 0) || math.IsNaN(want) || math.IsInf(want, 0) {
		t.Errorf("%s = %v, the reference's %v: a NaN or Inf never matches", label, got, want)
		return
	}
	rel := math.Abs(got-want) / math.Max(math.Abs(want), 1e-30)
	if rel > rtol {
		t.Errorf("%s = %.9g, the reference's %.9g (rel err %.3g > %.3g)", label, got, want, rel, rtol)
	} else if testing.Verbose() {
		t.Logf("%s: rel err %.3g", label, rel)
	}
}

// gradRule is how one fixture family bounds parameter gradients.
type gradRule struct {
	// NetFloor: the tolerance is 1e-3·max(max|ref| of the tensor,
	// NetFloor·max|ref| of the network). 0 for the reference's cases;
	// CUT's README adds 0.05 for the last discriminator bias.
	NetFloor float64
}

// grads compares a network's parameter gradients with a gradient file
// (key → tensor) under the README's rule: per tensor atol 1e-3·max|ref|,
// and parameters whose exact gradient is 0 (zero) compared with 0 within
// 1e-4 of the network's largest gradient, not with the stored rounding
// noise. Every parameter must have an entry and every entry a parameter.
func (c *compare) grads(label string, m nn.Module, wantPath string, zero []string, rule gradRule) {
	t := c.t
	t.Helper()
	want, keys := readPTH(t, wantPath)
	got := paramGrads(m)
	isZero := map[string]bool{}
	for _, k := range zero {
		isZero[k] = true
	}
	for k := range got {
		if want[k] == nil {
			t.Errorf("%s: parameter %s has no gradient in %s", label, k, wantPath)
		}
	}
	netMax := 0.0
	for _, k := range keys {
		netMax = math.Max(netMax, finiteMax(want[k].Float32s()))
	}
	for _, k := range keys {
		g, ok := got[k]
		name := label + " " + k
		switch {
		case !ok:
			t.Errorf("%s: the reference has a gradient, cyclepix no such parameter", name)
		case g == nil && isZero[k]:
			// No gradient at all is the exact 0.
		case g == nil:
			t.Errorf("%s: no gradient", name)
		case isZero[k]:
			gv := f32(g)
			if c.finite(name, gv, want[k].Float32s()) {
				c.values(name+" (exactly 0)", gv, make([]float32, len(gv)), func(int) float64 { return 1e-4 * netMax })
			}
		default:
			w := want[k].Float32s()
			c.close(name, g, want[k], 1e-3*math.Max(finiteMax(w), rule.NetFloor*netMax))
		}
	}
}

// afterStep applies the README's rule to the weights after one Adam step:
// within 1e-3·lr where |g_ref| ≥ 1e-3·max|g_ref| of the tensor, within
// 2·lr elsewhere and for every element of a parameter whose true gradient
// is 0 (gradients at float32 noise can flip the first step's sign);
// buffers within 1e-6, counters exactly.
func (c *compare) afterStep(label string, m nn.Module, afterPath, gradPath string, lr float64, noise []string) {
	t := c.t
	t.Helper()
	isNoise := map[string]bool{}
	for _, k := range noise {
		isNoise[k] = true
	}
	after, _ := readPTH(t, afterPath)
	grads, _ := readPTH(t, gradPath)
	for _, e := range nn.StateDict(m) {
		name := label + " after " + e.Name
		want := after[e.Name]
		if want == nil {
			t.Errorf("%s: missing from %s", name, afterPath)
			continue
		}
		if !e.Param {
			if e.Tensor.DType() == torch.Int64 {
				if g, w := e.Tensor.Int64s(), want.Int64s(); fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("%s = %v, the reference's %v", name, g, w)
				}
				continue
			}
			c.close(name, e.Tensor, want, 1e-6)
			continue
		}
		gt := grads[e.Name]
		if gt == nil {
			t.Errorf("%s: %s has no gradient for it", name, gradPath)
			continue
		}
		g := gt.Float32s()
		gmax := finiteMax(g)
		c.values(name, f32(e.Tensor), want.Float32s(), func(i int) float64 {
			if isNoise[e.Name] || !(math.Abs(float64(g[i])) >= 1e-3*gmax) {
				return 2 * lr
			}
			return 1e-3 * lr
		})
	}
}
