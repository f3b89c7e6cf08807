package torch

// #include "shim.h"
import "C"

import (
	"fmt"
	"strings"
)

// FastOps selects the ops that bypass libtorch 1.13's CPU kernels for
// faster ones with the same maths (shim_fastops.h). CUDA tensors, autocast
// and dtypes other than float32 always take ATen's path.
type FastOps int

const (
	// FastWinograd runs 3×3 stride-1 convolutions with at least 32
	// channels (the ResNet blocks) as oneDNN Winograd F(4×4, 3×3): about
	// twice as fast forward and backward on AVX-512 CPUs, with rounding
	// about 10× ATen's direct kernels' (≤ 3e-6 of the largest value),
	// well inside the parity tolerances. On CPUs whose oneDNN has no
	// Winograd (AVX2 without AVX-512), calls outside autograd (inference)
	// run on the shim's own F(4×4, 3×3) (shim_wino.cpp): ResNet-9 at 256
	// 1.76× faster on an AVX2 EPYC, rounding ≤ 1e-5 of the largest value.
	FastWinograd FastOps = 1 << iota
	// FastDeconv runs transposed convolutions as oneDNN deconvolutions;
	// ATen 1.13 sends fp32 ones through im2col+GEMM.
	FastDeconv
	// FastPad runs reflection padding as row copies, forward and backward
	// (bit-identical to ATen's).
	FastPad
	// FastAdam updates each float32 CPU parameter in one pass over
	// parameter, gradient and moments instead of torch.optim.adam's seven
	// tensor ops (Adam is memory-bound: a quarter of a pix2pix iteration);
	// it agrees with them to a few float32 ulps.
	FastAdam
	// FastPrepack runs the convolutions of calls that build no autograd
	// graph (translate, test, serve, evaluations during training) on oneDNN
	// with their weights kept in oneDNN's blocked layout from call to call
	// instead of re-laid-out on every call (40 % of U-Net inference's
	// oneDNN time). The copy costs one more copy of the convolution weights
	// in memory; it is redone when a weight changes (its version counter).
	// It also runs depthwise convolutions and transposed convolutions of
	// such calls (CUT's anti-aliasing filters) on oneDNN's depthwise
	// kernels, where ATen 1.13 goes channel by channel.
	FastPrepack
	// FastKeepBlocks keeps freed blocks of 32 MiB and more for reuse
	// (shim_alloc.cpp) instead of glibc's unmapping them, whose next use
	// page-faults its whole size in again: a quarter of a pix2pixHD
	// iteration at 512×256. What is kept never takes the big blocks past
	// the most the process has had in use at once, so peak RSS stays the
	// same; ReleaseCachedMemory gives them back.
	FastKeepBlocks

	// AllFastOps is the default.
	AllFastOps = FastWinograd | FastDeconv | FastPad | FastAdam | FastPrepack | FastKeepBlocks
)

// DnnlCalls counts the convolutions the fast ops have run on oneDNN in
// this process (the rest went to ATen): tests use it to check that the
// path they exercise is the one taken.
func DnnlCalls() int64 { return int64(C.cp_dnnl_calls()) }

// ReleaseCachedMemory unmaps the big blocks FastKeepBlocks kept and
// returns their bytes; a long-lived process calls it after a large job.
func ReleaseCachedMemory() int64 { return int64(C.cp_release_cached_memory()) }

// SetFastOps switches the fast ops and returns those in effect: without
// oneDNN at build time (a CUDA libtorch's shim, say) Winograd,
// deconvolution and prepacking stay off.
func SetFastOps(f FastOps) FastOps { return FastOps(C.cp_set_fast_ops(C.int(f))) }

// ParseFastOps reads "all", "off" (or "none", "0"), or a comma-separated
// list of winograd, deconv, pad, adam, prepack and keep. Init applies $CYCLEPIX_FAST_OPS
// with it: "off" runs every op through ATen, as PyTorch would, and a list
// such as "winograd,pad" keeps only those. It is the escape hatch should a
// oneDNN build misbehave, and the A/B switch of bench.
func ParseFastOps(s string) (FastOps, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "all", "on", "1":
		return AllFastOps, nil
	case "off", "none", "0":
		return 0, nil
	}
	var f FastOps
	for _, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "winograd":
			f |= FastWinograd
		case "deconv":
			f |= FastDeconv
		case "pad":
			f |= FastPad
		case "adam":
			f |= FastAdam
		case "prepack":
			f |= FastPrepack
		case "keep":
			f |= FastKeepBlocks
		default:
			return 0, fmt.Errorf("fast ops %q: want all, off, or a list of winograd, deconv, pad, adam, prepack, keep", s)
		}
	}
	return f, nil
}
