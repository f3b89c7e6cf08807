// Package torch is cyclepix's binding to libtorch (PyTorch's C++ library).
//
// A small C ABI shim (shim.h, shim.cpp) wraps ATen and autograd; this package
// puts Go types on top: Tensor, DType, Device, ops, autograd, Adam and
// memory scopes. Nothing above this package uses cgo.
//
// Build modes: by default cgo compiles the shim into the binary and links
// libtorch (link_static.go). With -tags sharedshim the shim is a separate
// library, lib/libcyclepix_torch.so (make shim), and the binary links only
// that (link_shared.go), so a CUDA libtorch can be swapped in without
// rebuilding Go code.
//
// Errors: libtorch reports misuse (a shape mismatch, say) with C++
// exceptions. The shim turns each into a message and the Go op panics with a
// *Error carrying it, so that network code reads like maths. Entry points that
// take user input recover it with Try and return an ordinary error; a *Error
// never escapes to the user as a panic trace.
package torch

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Error is an op that libtorch refused (a shape mismatch, say), or that
// the binding refused before calling it (a nil or freed tensor, a wrong
// argument count). Failures of other code go through Fail.
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

// failure carries an error that is not libtorch's through network code
// that reports errors by panicking (see Fail).
type failure struct{ err error }

// Fail panics with err so that the enclosing Try returns it as it is, not
// as a *Error: for the failures of code that runs between ops (a colour
// conversion, say) where returning an error is not an option.
func Fail(err error) { panic(failure{err}) }

// Try runs fn and returns the libtorch error (*Error) or the Fail error it
// panicked with, if any. Other panics propagate unchanged.
func Try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case *Error:
				err = e
			case failure:
				err = e.err
			default:
				panic(r)
			}
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

// SetCuDNNBenchmark turns cuDNN's autotuner on or off, like
// torch.backends.cudnn.benchmark: each new convolution shape is timed with
// several algorithms and the fastest kept (faster for fixed sizes, not
// bit-reproducible). No effect on the CPU.
func SetCuDNNBenchmark(on bool) { C.cp_set_cudnn_benchmark(b2i(on)) }

// Synchronize waits until the work queued on a CUDA device is done, like
// torch.cuda.synchronize(dev); a no-op for the CPU. CUDA ops return before
// their kernels finish, so timings must call it before reading the clock.
func Synchronize(dev Device) {
	if dev != CPU {
		check("synchronize", C.cp_synchronize(C.int(dev)))
	}
}

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
func SetRNGState(state *Tensor) {
	defer runtime.KeepAlive(state)
	check("set_rng_state", C.cp_set_rng_state(state.handle()))
}

// NoGrad runs fn with gradient recording off, like torch.no_grad().
func NoGrad(fn func()) {
	prev := C.cp_grad_enabled()
	C.cp_set_grad_enabled(0)
	defer C.cp_set_grad_enabled(prev)
	fn()
}

// GradEnabled reports whether ops currently record gradients.
func GradEnabled() bool { return C.cp_grad_enabled() != 0 }

// Autocast runs fn with autocast to dtype, like torch.autocast("cpu", dtype)
// together with torch.autocast("cuda", dtype): BFloat16 on the CPU and on
// CUDA devices, Float16 on CUDA devices only (CPU ops then stay float32).
// Nested calls restore the enclosing mode, as NoGrad does.
func Autocast(dtype DType, fn func()) {
	prev := C.cp_get_autocast()
	C.cp_set_autocast(C.int(dtype))
	defer C.cp_set_autocast(prev)
	fn()
}

// AutocastType returns the dtype autocast is on to, and whether it is on.
func AutocastType() (DType, bool) {
	d := C.cp_get_autocast()
	return DType(d), d >= 0
}
