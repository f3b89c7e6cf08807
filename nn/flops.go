package nn

import (
	"sync/atomic"

	"cyclepix/torch"
)

var (
	countingFLOPs atomic.Bool
	countedFLOPs  atomic.Int64
)

// CountFLOPs runs fn and returns the floating-point operations (a
// multiply-add is 2) of the convolutions it ran, forward plus the backward
// passes autograd will run for them: the input gradient where the input
// requires one, and the weight gradient where the weight does. Other layers
// are cheap next to convolutions and are not counted. It is for benchmarks
// (achieved GFLOP/s), and not safe to run concurrently with itself.
func CountFLOPs(fn func()) int64 {
	countedFLOPs.Store(0)
	countingFLOPs.Store(true)
	defer countingFLOPs.Store(false)
	fn()
	return countedFLOPs.Load()
}

// addConvFLOPs books a convolution of macs multiply-adds forward.
func addConvFLOPs(macs int64, x, w *torch.Tensor) {
	n := 2 * macs
	if torch.GradEnabled() {
		if x.RequiresGrad() {
			n += 2 * macs
		}
		if w.RequiresGrad() {
			n += 2 * macs
		}
	}
	countedFLOPs.Add(n)
}
