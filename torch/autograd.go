package torch

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// SetRequiresGrad marks a leaf tensor as needing gradients and returns it.
func (t *Tensor) SetRequiresGrad(on bool) *Tensor {
	defer runtime.KeepAlive(t)
	check("set_requires_grad", C.cp_set_requires_grad(t.handle(), b2i(on)))
	return t
}

// RequiresGrad reports whether autograd tracks t.
func (t *Tensor) RequiresGrad() bool {
	defer runtime.KeepAlive(t)
	return C.cp_requires_grad(t.handle()) != 0
}

// Grad returns the accumulated gradient of a leaf, or nil if none. The
// returned handle shares storage with the gradient.
func (t *Tensor) Grad() *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("grad", C.cp_grad(t.handle(), &h))
	return wrap(h)
}

// ZeroGrad drops the accumulated gradient (grad becomes None).
func (t *Tensor) ZeroGrad() {
	defer runtime.KeepAlive(t)
	check("zero_grad", C.cp_zero_grad(t.handle()))
}

// Backward accumulates d t / d leaves into the leaves' gradients; t must be a
// scalar.
func (t *Tensor) Backward() {
	defer runtime.KeepAlive(t)
	check("backward", C.cp_backward(t.handle(), nil, 0))
}

// BackwardRetain is Backward keeping the graph for another pass.
func (t *Tensor) BackwardRetain() {
	defer runtime.KeepAlive(t)
	check("backward", C.cp_backward(t.handle(), nil, 1))
}

// GradOpts are the options of Grad.
type GradOpts struct {
	GradOutputs []*Tensor // one per output, or nil for ones
	RetainGraph bool
	CreateGraph bool // record the gradient computation for higher-order derivatives
	AllowUnused bool // return nil for inputs the outputs do not depend on
}

// Grad is torch.autograd.grad: the gradients of outputs with respect to
// inputs, without touching the leaves' .grad.
func Grad(outputs, inputs []*Tensor, o GradOpts) []*Tensor {
	defer runtime.KeepAlive(outputs)
	defer runtime.KeepAlive(inputs)
	defer runtime.KeepAlive(o)
	if len(outputs) == 0 || len(inputs) == 0 {
		panic(&Error{Op: "grad", Msg: fmt.Sprintf("need at least one output and one input (got %d and %d)", len(outputs), len(inputs))})
	}
	if o.GradOutputs != nil && len(o.GradOutputs) != len(outputs) {
		panic(&Error{Op: "grad", Msg: fmt.Sprintf("%d grad outputs for %d outputs", len(o.GradOutputs), len(outputs))})
	}
	outs := make([]C.tensor, len(outputs))
	for i, t := range outputs {
		outs[i] = t.handle()
	}
	var gos *C.tensor
	if o.GradOutputs != nil {
		g := make([]C.tensor, len(outputs))
		for i := range outputs {
			g[i] = o.GradOutputs[i].optHandle()
		}
		gos = &g[0]
	}
	ins := make([]C.tensor, len(inputs))
	for i, t := range inputs {
		ins[i] = t.handle()
	}
	res := make([]C.tensor, len(inputs))
	check("autograd_grad", C.cp_autograd_grad(&outs[0], gos, C.int(len(outs)), &ins[0], C.int(len(ins)),
		b2i(o.RetainGraph || o.CreateGraph), b2i(o.CreateGraph), b2i(o.AllowUnused), &res[0]))
	r := make([]*Tensor, len(inputs))
	for i, h := range res {
		r[i] = wrap(h)
	}
	return r
}
