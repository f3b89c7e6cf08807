package torch

import (
	"fmt"
	"math"
	"testing"
)

// TestFastConvMatchesATen runs each layer shape once through oneDNN
// (Winograd or deconvolution) and once through ATen, comparing the output
// and all three gradients relative to each tensor's largest magnitude.
func TestFastConvMatchesATen(t *testing.T) {
	if SetFastOps(AllFastOps) != AllFastOps {
		t.Skip("binding built without oneDNN")
	}
	defer SetFastOps(AllFastOps)
	cases := []struct {
		name                string
		transposed          bool
		n, cin, cout, h, k  int64
		stride, pad, outPad int64
		bias                bool
		dilation            int64
	}{
		{"resnet block", false, 1, 256, 256, 34, 3, 1, 0, 0, true, 1},
		{"resnet block no bias", false, 1, 64, 64, 18, 3, 1, 0, 0, false, 1},
		{"ngf 8 block", false, 1, 32, 32, 18, 3, 1, 0, 0, true, 1},
		{"padded batch 2", false, 2, 64, 96, 16, 3, 1, 1, 0, true, 1},
		{"upsample 256→128", true, 1, 256, 128, 16, 3, 2, 1, 1, true, 1},
		{"upsample batch 2 no bias", true, 2, 128, 64, 12, 3, 2, 1, 1, false, 1},
		{"unet 4×4", true, 1, 128, 64, 8, 4, 2, 1, 0, false, 1},
		{"dcgan 4→9", true, 16, 256, 128, 4, 3, 2, 0, 0, true, 1},
		{"dcgan 9→15", true, 16, 128, 64, 9, 3, 2, 2, 0, true, 1},
		{"dcgan 15→28, one channel", true, 16, 64, 1, 15, 4, 2, 2, 0, true, 1},
		// The same shape as the last but dilated: a plan is per dilation.
		{"dilated", true, 16, 64, 1, 15, 4, 2, 2, 0, true, 2},
		{"ngf 4 up 1", true, 2, 16, 8, 8, 3, 2, 1, 1, true, 1},
		{"ngf 4 up 2", true, 2, 8, 4, 16, 3, 2, 1, 1, true, 1},
		{"ngf 4 up 1 b1", true, 1, 16, 8, 8, 3, 2, 1, 1, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer NewScope().Close()
			ManualSeed(3)
			x, w, b := convInputs(c.transposed, c.n, c.cin, c.cout, c.h, c.k, c.bias)
			run := func(fast bool) []*Tensor {
				if fast {
					SetFastOps(AllFastOps)
				} else {
					SetFastOps(0)
				}
				xs, ws := x.Detach().SetRequiresGrad(true), w.Detach().SetRequiresGrad(true)
				var bs *Tensor
				if b != nil {
					bs = b.Detach().SetRequiresGrad(true)
				}
				var y *Tensor
				if c.transposed {
					y = ConvTranspose2d(xs, ws, bs, c.stride, c.pad, c.outPad, c.dilation, 1)
				} else {
					y = Conv2d(xs, ws, bs, c.stride, c.pad, c.dilation, 1)
				}
				gy := Randn(y.Shape()...)
				y.Mul(gy).Sum().Backward()
				out := []*Tensor{y.Detach(), xs.Grad(), ws.Grad()}
				if bs != nil {
					out = append(out, bs.Grad())
				}
				return out
			}
			ManualSeed(4)
			want := run(false)
			ManualSeed(4)
			got := run(true)
			for i, name := range []string{"output", "grad input", "grad weight", "grad bias"}[:len(want)] {
				// ATen's direct kernels differ from each other at ~1e-7
				// relative; Winograd's transforms at ~1e-6.
				assertClose(t, name, got[i], want[i], 2e-5)
			}
		})
	}
}

// TestFastReflectionPadIsExact: the padding kernel gives ATen's output and
// input gradient bit for bit.
func TestFastReflectionPadIsExact(t *testing.T) {
	defer SetFastOps(AllFastOps)
	cases := []struct {
		name       string
		shape      []int64
		l, r, t, b int64
	}{
		{"resnet 1", []int64{1, 8, 6, 7}, 1, 1, 1, 1},
		{"resnet 3", []int64{2, 3, 9, 8}, 3, 3, 3, 3},
		{"asymmetric", []int64{1, 2, 5, 6}, 0, 2, 3, 1},
		{"3-d", []int64{4, 5, 5}, 2, 1, 1, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer NewScope().Close()
			x := Randn(c.shape...)
			run := func(f FastOps) (*Tensor, *Tensor) {
				SetFastOps(f)
				xs := x.Detach().SetRequiresGrad(true)
				y := Pad2d(xs, PadReflect, c.l, c.r, c.t, c.b, 0)
				ManualSeed(9)
				y.Mul(Randn(y.Shape()...)).Sum().Backward()
				return y.Detach(), xs.Grad()
			}
			wy, wg := run(0)
			gy, gg := run(FastPad)
			if !sameShape(gy.Shape(), wy.Shape()) {
				t.Fatalf("shape %v, want %v", gy.Shape(), wy.Shape())
			}
			if d := gy.Sub(wy).Abs().Max().Item(); d != 0 {
				t.Errorf("output differs by %g", d)
			}
			if d := gg.Sub(wg).Abs().Max().Item(); d != 0 {
				t.Errorf("input gradient differs by %g", d)
			}
		})
	}
}

// TestFastAdamMatchesOpByOp: five steps of the one-pass update against
// torch.optim.adam's op-by-op arithmetic, with and without weight decay.
func TestFastAdamMatchesOpByOp(t *testing.T) {
	defer SetFastOps(AllFastOps)
	for _, wd := range []float64{0, 0.01} {
		defer NewScope().Close()
		ManualSeed(5)
		init := []*Tensor{Randn(300, 7).Persist(), Randn(65537).Persist()}
		run := func(f FastOps) []*Tensor {
			var ps []*Tensor
			for _, p := range init {
				ps = append(ps, p.Detach().Clone().SetRequiresGrad(true).Persist())
			}
			opt := NewAdam(ps, 2e-4, 0.5, 0.999)
			opt.WeightDecay = wd
			ManualSeed(6)
			for step := 0; step < 5; step++ {
				func() {
					defer NewScope().Close()
					opt.ZeroGrad()
					loss := Scalar(0)
					for _, p := range ps {
						loss = loss.Add(p.Mul(Randn(p.Shape()...)).Sum()).Add(p.Mul(p).Sum().MulScalar(0.1))
					}
					loss.Backward()
					SetFastOps(f)
					opt.Step()
				}()
			}
			return ps
		}
		want, got := run(AllFastOps&^FastAdam), run(AllFastOps)
		for i := range want {
			diff := got[i].Sub(want[i]).Abs().Max().Item()
			scale := want[i].Abs().Max().Item()
			if diff > 1e-6*scale {
				t.Errorf("weight decay %g, parameter %d: max |diff| %.3g vs max |value| %.3g", wd, i, diff, scale)
			}
		}
	}
}

// TestPrepackedConvMatchesATen: convolutions that build no autograd graph
// on small feature maps take oneDNN with weights laid out once (FastPrepack);
// each must give ATen's output, on the first call (which lays the weights
// out) and the second (which reuses them).
func TestPrepackedConvMatchesATen(t *testing.T) {
	if SetFastOps(AllFastOps) != AllFastOps {
		t.Skip("binding built without oneDNN")
	}
	defer SetFastOps(AllFastOps)
	cases := []struct {
		name                string
		transposed          bool
		n, cin, cout, h, k  int64
		stride, pad, outPad int64
		bias                bool
		// groups > 1: depthwise (cin = cout = groups), which only the
		// inference path takes.
		groups int64
	}{
		{"unet down 16→8", false, 1, 64, 128, 16, 4, 2, 1, 0, false, 1},
		{"unet innermost 2→1", false, 1, 128, 128, 2, 4, 2, 1, 0, false, 1},
		{"patchgan 1-channel head", false, 1, 64, 1, 8, 4, 1, 1, 0, true, 1},
		{"batch 2 with bias", false, 2, 32, 48, 12, 3, 2, 1, 0, true, 1},
		{"unet up 1→2", true, 1, 128, 128, 1, 4, 2, 1, 0, false, 1},
		{"unet up 8→16", true, 1, 256, 64, 8, 4, 2, 1, 0, false, 1},
		{"upsample batch 2 with bias", true, 2, 64, 32, 10, 3, 2, 1, 1, true, 1},
		// CUT's anti-aliasing: a padded 3×3 blur with stride 2, and the
		// 4×4 transposed blur of its upsampling (padding 2).
		{"cut blur 34→16", false, 1, 256, 256, 34, 3, 2, 0, 0, false, 256},
		{"cut blur batch 2 with bias", false, 2, 64, 64, 18, 3, 2, 0, 0, true, 64},
		{"cut upsample 18→34", true, 1, 128, 128, 18, 4, 2, 2, 0, false, 128},
		{"cut upsample batch 2 with bias", true, 2, 32, 32, 10, 4, 2, 2, 0, true, 32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer NewScope().Close()
			ManualSeed(7)
			x, w, b := convInputs(c.transposed, c.n, c.cin, c.cout, c.h, c.k, c.bias)
			if c.groups > 1 {
				w = Randn(c.cin, 1, c.k, c.k).MulScalar(0.05)
			}
			conv := func() *Tensor {
				var y *Tensor
				NoGrad(func() {
					if c.transposed {
						y = ConvTranspose2d(x, w, b, c.stride, c.pad, c.outPad, 1, c.groups)
					} else {
						y = Conv2d(x, w, b, c.stride, c.pad, 1, c.groups)
					}
				})
				return y
			}
			SetFastOps(0)
			want := conv()
			SetFastOps(AllFastOps)
			for call := 1; call <= 2; call++ {
				before := DnnlCalls()
				assertClose(t, fmt.Sprintf("call %d", call), conv(), want, 1e-5)
				if DnnlCalls() != before+1 {
					t.Errorf("call %d did not run on oneDNN", call)
				}
			}
		})
	}
}

// TestPrepackedWeightsFollowTheirTensor: the laid-out copy of a weight is
// redone whenever the weight changes (in-place ops, copy_ from a
// checkpoint, the one-pass Adam step, which writes behind ATen's back) and
// never handed to another tensor, even one that reuses a freed tensor's
// memory.
func TestPrepackedWeightsFollowTheirTensor(t *testing.T) {
	if SetFastOps(AllFastOps) != AllFastOps {
		t.Skip("binding built without oneDNN")
	}
	defer SetFastOps(AllFastOps)
	defer NewScope().Close()
	ManualSeed(8)
	x := Randn(1, 64, 8, 8).Persist()
	w := Randn(128, 64, 4, 4).MulScalar(0.05).SetRequiresGrad(true).Persist()
	conv := func(w *Tensor, f FastOps) *Tensor {
		SetFastOps(f)
		var y *Tensor
		NoGrad(func() { y = Conv2d(x, w, nil, 2, 1, 1, 1) })
		return y
	}
	check := func(what string, w *Tensor) {
		t.Helper()
		assertClose(t, what, conv(w, AllFastOps), conv(w, 0), 1e-5)
	}
	check("first call", w)
	check("second call", w)
	w.MulScalar_(-2)
	check("after mul_", w)
	w.Copy_(Randn(w.Shape()...).MulScalar(0.05))
	check("after copy_", w)
	opt := NewAdam([]*Tensor{w}, 0.1, 0.5, 0.999)
	for step := 0; step < 3; step++ {
		func() {
			defer NewScope().Close()
			opt.ZeroGrad()
			SetFastOps(AllFastOps)
			Conv2d(x, w, nil, 2, 1, 1, 1).Sum().Backward()
			opt.Step()
		}()
		check(fmt.Sprintf("after Adam step %d", step+1), w)
	}
	// Fresh tensors of the same shape, each freed before the next, so the
	// allocator hands out the same addresses again.
	for i := 0; i < 4; i++ {
		func() {
			defer NewScope().Close()
			check(fmt.Sprintf("fresh tensor %d", i), Randn(128, 64, 4, 4).MulScalar(0.05))
		}()
	}
}

// convInputs draws an input, weights (in PyTorch's layout for a transposed
// convolution when transposed) and, when bias, a bias for a square layer.
func convInputs(transposed bool, n, cin, cout, h, k int64, bias bool) (x, w, b *Tensor) {
	x = Randn(n, cin, h, h)
	if transposed {
		w = Randn(cin, cout, k, k).MulScalar(0.05)
	} else {
		w = Randn(cout, cin, k, k).MulScalar(0.05)
	}
	if bias {
		b = Randn(cout)
	}
	return x, w, b
}

// assertClose fails t when got differs from want by more than tol of
// want's largest magnitude.
func assertClose(t *testing.T, what string, got, want *Tensor, tol float64) {
	t.Helper()
	if !sameShape(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	scale := want.Abs().Max().Item()
	diff := got.Sub(want).Abs().Max().Item()
	t.Logf("%s: max |diff| / max |value| = %.2g", what, diff/scale)
	if diff > tol*scale || math.IsNaN(diff) {
		t.Errorf("%s: max |diff| %.3g vs max |value| %.3g", what, diff, scale)
	}
}

// TestWinogradInferenceMatchesATen: 3×3 stride-1 convolutions outside
// autograd on a CPU whose oneDNN has no Winograd (AVX2) run on the shim's
// own F(4×4, 3×3) (shim_wino.cpp). Each shape is compared with ATen in
// float64, so that the test measures Winograd's rounding and not ATen's,
// at the tolerance TestFastConvMatchesATen allows oneDNN's Winograd up to
// 256 channels, growing as the square root of the channels beyond;
// sizes that are not multiples of the 4×4 tile, zero padding, batches,
// biases and unequal channel counts each have a case, and so do the
// calls it leaves to ATen.
func TestWinogradInferenceMatchesATen(t *testing.T) {
	if SetFastOps(AllFastOps) != AllFastOps {
		t.Skip("binding built without oneDNN")
	}
	defer SetFastOps(AllFastOps)
	cases := []struct {
		name          string
		n, cin, cout  int64
		h, w, pad     int64
		bias          bool
		wantShimTaken bool // on an AVX2 CPU without AVX-512
	}{
		{"resnet-9 block at 256", 1, 256, 256, 66, 66, 0, true, true},
		{"odd size, no bias", 1, 64, 64, 45, 37, 0, false, true},
		{"zero padding, batch 2", 2, 32, 96, 23, 30, 1, true, true},
		{"pix2pixHD block at 512", 1, 1024, 1024, 34, 34, 0, true, true},
		// Not taken, ATen's: fewer than 64 tiles, where transforming the
		// weights on every call costs more than it saves; channels not
		// multiples of 8.
		{"one tile", 3, 40, 48, 6, 6, 0, true, false},
		{"smaller than a tile", 1, 32, 32, 3, 5, 0, true, false},
		{"pix2pixHD block at 256", 1, 1024, 1024, 18, 18, 0, true, false},
		{"36 channels", 1, 36, 36, 12, 12, 0, true, false},
	}
	feats := CPUFeatures()
	shimCPU := feats["avx2"] && !feats["avx512f"]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer NewScope().Close()
			ManualSeed(11)
			x := Randn(c.n, c.cin, c.h, c.w)
			w := Randn(c.cout, c.cin, 3, 3).MulScalar(1 / math.Sqrt(float64(c.cin*9)))
			var b, b64 *Tensor
			if c.bias {
				b = Randn(c.cout)
				b64 = b.To(Float64)
			}
			var want, got *Tensor
			SetFastOps(0)
			NoGrad(func() { want = Conv2d(x.To(Float64), w.To(Float64), b64, 1, c.pad, 1, 1) })
			SetFastOps(AllFastOps)
			for call := 1; call <= 2; call++ {
				before := DnnlCalls()
				NoGrad(func() { got = Conv2d(x, w, b, 1, c.pad, 1, 1) })
				// Winograd's rounding grows with the C × 9 terms summed:
				// measured 1e-5 of the largest value at 256 channels,
				// 2.2e-5 at 1024 (an 8-bit image's level is 2e-3 of [-1, 1]).
				tol := 2e-5 * math.Sqrt(max(1, float64(c.cin)/256))
				assertClose(t, fmt.Sprintf("call %d", call), got.To(Float64), want, tol)
				if shimCPU && (DnnlCalls() != before) != c.wantShimTaken {
					t.Errorf("call %d: taken by the fast ops %v, want %v", call, DnnlCalls() != before, c.wantShimTaken)
				}
			}
		})
	}
}
