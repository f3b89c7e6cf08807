// Package torch is cyclepix's binding to libtorch (PyTorch's C++ library).
//
// A small C ABI shim (shim.h, shim.cpp) wraps ATen and autograd; this package
// puts Go types on top: Tensor, DType, Device, ops, autograd, Adam and
// memory scopes. Nothing above this package uses cgo.
//
// Errors: libtorch reports misuse (a shape mismatch, say) with C++
// exceptions. The shim turns each into a message and the Go op panics with a
// *Error carrying it, so that network code reads like maths. Entry points that
// take user input recover it with Try and return an ordinary error; a *Error
// never escapes to the user as a panic trace.
package torch

/*
#cgo CXXFLAGS: -std=c++17 -O2 -I/usr/include/torch/csrc/api/include -Wno-deprecated-declarations -Wno-unused-parameter
#cgo LDFLAGS: -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed -lstdc++
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Error is a failure reported by libtorch.
type Error struct {
	Op  string // the binding function that failed
	Msg string // libtorch's message, without the C++ backtrace
}

func (e *Error) Error() string { return fmt.Sprintf("torch %s: %s", e.Op, e.Msg) }

// check turns a shim error into a panic with *Error.
func check(op string, e C.cerr) {
	if e != nil {
		msg := C.GoString(e)
		C.free(unsafe.Pointer(e))
		panic(&Error{Op: op, Msg: firstLines(msg)})
	}
}

// firstLines trims libtorch's multi-line messages (which repeat context and
// source locations) to what a user can act on.
func firstLines(s string) string {
	const max = 600
	if len(s) > max {
		s = s[:max] + "…"
	}
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}

// Try runs fn and returns the libtorch error it panicked with, if any. Other
// panics propagate unchanged.
func Try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if te, ok := r.(*Error); ok {
				err = te
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// TryErr is Try for functions that also return an error.
func TryErr(fn func() error) (err error) {
	if e := Try(func() { err = fn() }); e != nil {
		return e
	}
	return err
}

// AsError reports whether err is (or wraps) a libtorch error.
func AsError(err error) (*Error, bool) {
	var te *Error
	ok := errors.As(err, &te)
	return te, ok
}

// Version returns libtorch's version string.
func Version() string { return C.GoString(C.cp_version()) }

// SetNumThreads sets the intra-op thread count used by every libtorch call.
func SetNumThreads(n int) { C.cp_set_num_threads(C.int(n)) }

// NumThreads returns the intra-op thread count.
func NumThreads() int { return int(C.cp_get_num_threads()) }

// ManualSeed seeds libtorch's default CPU generator (randn, dropout, …).
func ManualSeed(seed uint64) { C.cp_manual_seed(C.uint64_t(seed)) }

// CUDADeviceCount returns how many CUDA devices libtorch can use (0 for a
// CPU-only libtorch).
func CUDADeviceCount() int { return int(C.cp_cuda_device_count()) }

// HasMKLDNN reports whether libtorch was built with oneDNN.
func HasMKLDNN() bool { return C.cp_has_mkldnn() != 0 }

// SetMKLDNN turns libtorch's use of oneDNN kernels on or off.
func SetMKLDNN(on bool) { C.cp_set_mkldnn(b2i(on)) }

// ParallelInfo returns libtorch's description of its thread pools.
func ParallelInfo() string {
	var out *C.char
	check("parallel_info", C.cp_parallel_info(&out))
	defer C.free(unsafe.Pointer(out))
	return C.GoString(out)
}

// RNGState returns a copy of the default CPU generator's state.
func RNGState() *Tensor {
	var h C.tensor
	check("rng_state", C.cp_rng_state(&h))
	return wrap(h)
}

// SetRNGState restores a state returned by RNGState.
func SetRNGState(state *Tensor) { check("set_rng_state", C.cp_set_rng_state(state.h)) }

// NoGrad runs fn with gradient recording off, like torch.no_grad().
func NoGrad(fn func()) {
	prev := C.cp_grad_enabled()
	C.cp_set_grad_enabled(0)
	defer C.cp_set_grad_enabled(prev)
	fn()
}

// GradEnabled reports whether ops currently record gradients.
func GradEnabled() bool { return C.cp_grad_enabled() != 0 }

// Autocast runs fn with CPU autocast to dtype (BFloat16), like
// torch.autocast("cpu", dtype).
func Autocast(dtype DType, fn func()) {
	C.cp_set_autocast(C.int(dtype))
	defer C.cp_set_autocast(-1)
	fn()
}
