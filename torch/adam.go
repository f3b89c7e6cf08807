package torch

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// Adam is torch.optim.Adam (amsgrad off) over a fixed list of parameters.
// Its moments are persistent tensors so that a checkpoint can save and
// restore them exactly.
type Adam struct {
	Params      []*Tensor
	LR          float64
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64
	StepCount   int64     // steps taken so far (PyTorch's state["step"])
	ExpAvg      []*Tensor // first moments, one per parameter
	ExpAvgSq    []*Tensor // second moments
	// GradSync, when set, runs at the start of every Step, before the
	// update: data-parallel training averages the gradients across
	// processes there, so that every model gets it without changes. An
	// error aborts the step with a *Error panic, as a failed op does.
	GradSync func(params []*Tensor) error
}

// NewAdam makes an optimizer with PyTorch's defaults for eps and weight decay.
func NewAdam(params []*Tensor, lr, beta1, beta2 float64) *Adam {
	a := &Adam{Params: params, LR: lr, Beta1: beta1, Beta2: beta2, Eps: 1e-8}
	for _, p := range params {
		a.ExpAvg = append(a.ExpAvg, ZerosLike(p).Persist())
		a.ExpAvgSq = append(a.ExpAvgSq, ZerosLike(p).Persist())
	}
	return a
}

// ZeroGrad drops the gradients of every parameter.
func (a *Adam) ZeroGrad() {
	for _, p := range a.Params {
		p.ZeroGrad()
	}
}

// Step applies one update with the current learning rate.
func (a *Adam) Step() {
	defer runtime.KeepAlive(a)
	n := len(a.Params)
	if n == 0 {
		return
	}
	if a.GradSync != nil {
		if err := a.GradSync(a.Params); err != nil {
			Fail(fmt.Errorf("adam: gradient sync: %w", err))
		}
	}
	ps := make([]C.tensor, n)
	ms := make([]C.tensor, n)
	vs := make([]C.tensor, n)
	for i := range a.Params {
		ps[i], ms[i], vs[i] = a.Params[i].handle(), a.ExpAvg[i].handle(), a.ExpAvgSq[i].handle()
	}
	check("adam_step", C.cp_adam_step(&ps[0], &ms[0], &vs[0], C.int(n), C.int64_t(a.StepCount+1), C.double(a.LR),
		C.double(a.Beta1), C.double(a.Beta2), C.double(a.Eps), C.double(a.WeightDecay)))
	// Counted once it happened: a step that failed leaves the count (and
	// so the bias corrections of the next one) as it was.
	a.StepCount++
}

// LoadState replaces the moments and step count (from a checkpoint),
// checking that every shape matches its parameter.
func (a *Adam) LoadState(step int64, expAvg, expAvgSq []*Tensor) error {
	if len(expAvg) != len(a.Params) || len(expAvgSq) != len(a.Params) {
		return fmt.Errorf("optimizer state has %d/%d moments for %d parameters", len(expAvg), len(expAvgSq), len(a.Params))
	}
	for i, p := range a.Params {
		if !sameShape(p.Shape(), expAvg[i].Shape()) || !sameShape(p.Shape(), expAvgSq[i].Shape()) {
			return fmt.Errorf("optimizer moment %d has shape %v, parameter has %v", i, expAvg[i].Shape(), p.Shape())
		}
	}
	for i := range a.Params {
		a.ExpAvg[i].Copy_(expAvg[i])
		a.ExpAvgSq[i].Copy_(expAvgSq[i])
	}
	a.StepCount = step
	return nil
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
