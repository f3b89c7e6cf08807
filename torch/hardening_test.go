package torch

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMisuseIsAnError: what used to reach C++ as a null pointer or to be
// silently wrong is a *Error that Try returns.
func TestMisuseIsAnError(t *testing.T) {
	defer NewScope().Close()
	x := Ones(2, 2)
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"nil operand", func() { x.Add(nil) }, "nil tensor where a tensor is required"},
		{"nil receiver", func() { var n *Tensor; n.Sum() }, "nil tensor"},
		{"nil weight", func() { Conv2d(Ones(1, 1, 4, 4), nil, nil, 1, 0, 1, 1) }, "nil tensor"},
		{"unknown kind", func() { New("zero", Float32, CPU, 2) }, `unknown kind "zero"`},
		{"grad without outputs", func() { Grad(nil, []*Tensor{x}, GradOpts{}) }, "need at least one output and one input (got 0 and 1)"},
		{"grad outputs count", func() {
			Grad([]*Tensor{x}, []*Tensor{x}, GradOpts{GradOutputs: []*Tensor{x, x}})
		}, "2 grad outputs for 1 outputs"},
	}
	for _, c := range cases {
		err := Try(c.fn)
		var te *Error
		if !errors.As(err, &te) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a *Error saying %q", c.name, err, c.want)
		}
	}
	// An absent bias is fine.
	if err := Try(func() { Conv2d(Ones(1, 1, 4, 4), Ones(1, 1, 3, 3), nil, 1, 0, 1, 1) }); err != nil {
		t.Errorf("conv2d without bias: %v", err)
	}
}

// TestFailIsNotATorchError: errors of code between ops come back from
// Try as they are.
func TestFailIsNotATorchError(t *testing.T) {
	cause := errors.New("colour conversion failed")
	err := Try(func() { Fail(cause) })
	if err != cause {
		t.Fatalf("Try returned %v (%T), want the Fail error itself", err, err)
	}
	if _, ok := AsError(err); ok {
		t.Error("a Fail error reads as a libtorch error")
	}
}

// TestAutocastNests: an inner Autocast restores the outer one's mode.
func TestAutocastNests(t *testing.T) {
	if _, on := AutocastType(); on {
		t.Fatal("autocast on before any Autocast")
	}
	Autocast(BFloat16, func() {
		Autocast(Float16, func() {
			if d, on := AutocastType(); !on || d != Float16 {
				t.Errorf("inner autocast %v %v", d, on)
			}
		})
		if d, on := AutocastType(); !on || d != BFloat16 {
			t.Errorf("after the inner Autocast: %v %v, want bf16 again", d, on)
		}
	})
	if _, on := AutocastType(); on {
		t.Error("autocast still on after the outer Autocast")
	}
}

// TestAdamFailedStepNotCounted: a step that fails (here, a gradient sync
// that reports an error) leaves the step count, and so the next step's
// bias corrections, as they were.
func TestAdamFailedStepNotCounted(t *testing.T) {
	defer NewScope().Close()
	p := Ones(3).Persist().SetRequiresGrad(true)
	p.MulScalar(2).Sum().Backward()
	a := NewAdam([]*Tensor{p}, 0.1, 0.5, 0.999)
	a.GradSync = func([]*Tensor) error { return errors.New("peer gone") }
	if err := Try(a.Step); err == nil || !strings.Contains(err.Error(), "peer gone") {
		t.Fatalf("step with a failing sync: %v", err)
	}
	if a.StepCount != 0 {
		t.Errorf("StepCount %d after a failed step, want 0", a.StepCount)
	}
	a.GradSync = nil
	a.Step()
	if a.StepCount != 1 {
		t.Errorf("StepCount %d after one step, want 1", a.StepCount)
	}
}

// TestNoUseAfterFinalize: a tensor outside any scope, reachable only
// until its handle is taken, must not be freed by the garbage collector
// while libtorch still reads it. Before runtime.KeepAlive in the ops this
// crashed (SIGSEGV in cp_copy_data) under GC pressure.
func TestNoUseAfterFinalize(t *testing.T) {
	if scopeTop != nil {
		t.Skip("a scope is open")
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			runtime.GC()
		}
	}()
	for i := 0; i < 30; i++ {
		// 40 MB, so that the allocator maps and unmaps it (reading freed
		// memory then faults instead of passing unnoticed) and the copy
		// takes long enough for a collection to happen during it.
		b := Rand(1000, 10000).Bytes()
		if len(b) != 40_000_000 {
			t.Fatalf("%d bytes", len(b))
		}
	}
	stop.Store(true)
	<-done
}
