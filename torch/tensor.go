package torch

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// DType is an element type; the values are libtorch's ScalarType codes.
type DType int

// Element types used by cyclepix.
const (
	Uint8    DType = 0
	Int8     DType = 1
	Int16    DType = 2
	Int32    DType = 3
	Int64    DType = 4
	Float16  DType = 5
	Float32  DType = 6
	Float64  DType = 7
	Bool     DType = 11
	BFloat16 DType = 15
)

var dtypeNames = map[DType]string{Uint8: "uint8", Int8: "int8", Int16: "int16", Int32: "int32", Int64: "int64",
	Float16: "float16", Float32: "float32", Float64: "float64", Bool: "bool", BFloat16: "bfloat16"}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Size returns the bytes per element.
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Int16, Float16, BFloat16:
		return 2
	case Int32, Float32:
		return 4
	case Int64, Float64:
		return 8
	}
	panic(fmt.Sprintf("torch: unknown dtype %d", int(d)))
}

// Device says where a tensor lives: CPU, or a CUDA device by index.
type Device int

// CPU is the host device.
const CPU Device = -1

// CUDA returns the CUDA device with the given index.
func CUDA(i int) Device { return Device(i) }

func (d Device) String() string {
	if d < 0 {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", int(d))
}

// ParseDevice reads "cpu", "cuda" or "cuda:N".
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "cpu":
		return CPU, nil
	case s == "cuda":
		return CUDA(0), nil
	case strings.HasPrefix(s, "cuda:"):
		var i int
		if _, err := fmt.Sscanf(s, "cuda:%d", &i); err == nil && i >= 0 {
			return CUDA(i), nil
		}
	}
	return CPU, fmt.Errorf("unknown device %q (want cpu, cuda or cuda:N)", s)
}

// ResolveDevice is ParseDevice that also takes "auto" (the first CUDA
// device if libtorch sees one, else the CPU) and refuses a CUDA device this
// libtorch does not see.
func ResolveDevice(s string) (Device, error) {
	if s == "auto" {
		if CUDADeviceCount() > 0 {
			return CUDA(0), nil
		}
		return CPU, nil
	}
	d, err := ParseDevice(s)
	if err != nil {
		return CPU, err
	}
	if d != CPU && int(d) >= CUDADeviceCount() {
		return CPU, fmt.Errorf("this libtorch sees %d CUDA devices", CUDADeviceCount())
	}
	return d, nil
}

// Tensor is a handle on a libtorch tensor. Tensors made while a Scope is open
// belong to it and are freed when it closes; others are freed by Free or,
// as a safety net only, by the garbage collector.
type Tensor struct {
	h     C.tensor
	owner *Scope
}

// scopes is the stack of open scopes. cyclepix computes on one goroutine at a
// time (data loading produces Go slices, not tensors), so one process-wide
// stack is enough; the mutex only keeps it consistent.
var (
	scopeMu  sync.Mutex
	scopeTop *Scope
)

// Scope owns the tensors created while it is the innermost open scope.
type Scope struct {
	parent  *Scope
	tensors []*Tensor
	closed  bool
}

// NewScope opens a scope; Close it (usually with defer) to free every tensor
// created inside that was not kept.
func NewScope() *Scope {
	scopeMu.Lock()
	defer scopeMu.Unlock()
	s := &Scope{parent: scopeTop}
	scopeTop = s
	return s
}

// WithScope runs fn inside a new scope.
func WithScope(fn func()) {
	s := NewScope()
	defer s.Close()
	fn()
}

// Keep moves tensors out of s into the enclosing scope (or out of any scope
// when s is the outermost), so they survive s.Close. It returns its first
// argument for chaining.
func (s *Scope) Keep(ts ...*Tensor) *Tensor {
	scopeMu.Lock()
	defer scopeMu.Unlock()
	for _, t := range ts {
		if t == nil || t.owner != s {
			continue
		}
		t.owner = s.parent
		if s.parent != nil {
			s.parent.tensors = append(s.parent.tensors, t)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	return ts[0]
}

// Close frees the scope's tensors and pops it. Scopes must close in reverse
// order of opening.
func (s *Scope) Close() {
	scopeMu.Lock()
	if s.closed {
		scopeMu.Unlock()
		return
	}
	if scopeTop != s {
		scopeMu.Unlock()
		panic("torch: scopes closed out of order")
	}
	s.closed = true
	scopeTop = s.parent
	ts := s.tensors
	s.tensors = nil
	scopeMu.Unlock()
	for _, t := range ts {
		if t.owner == s {
			t.free()
		}
	}
}

// Len returns how many tensors the scope holds (for tests and leak checks).
func (s *Scope) Len() int {
	scopeMu.Lock()
	defer scopeMu.Unlock()
	n := 0
	for _, t := range s.tensors {
		if t.owner == s && t.h != nil {
			n++
		}
	}
	return n
}

// live counts tensor handles not yet freed, for leak tests.
var live struct {
	sync.Mutex
	n int64
}

// LiveTensors returns the number of tensor handles not yet freed.
func LiveTensors() int64 {
	live.Lock()
	defer live.Unlock()
	return live.n
}

// wrap gives a handle from the shim its Go tensor. Every tensor is made
// here, so this is where a missing Init is caught.
func wrap(h C.tensor) *Tensor {
	if h == nil {
		return nil
	}
	if !initDone.Load() {
		C.cp_free(h)
		panic(errNoInit)
	}
	t := &Tensor{h: h}
	scopeMu.Lock()
	if scopeTop != nil {
		t.owner = scopeTop
		scopeTop.tensors = append(scopeTop.tensors, t)
	}
	scopeMu.Unlock()
	live.Lock()
	live.n++
	live.Unlock()
	runtime.SetFinalizer(t, (*Tensor).free)
	return t
}

func (t *Tensor) free() {
	if t.h != nil {
		C.cp_free(t.h)
		t.h = nil
		live.Lock()
		live.n--
		live.Unlock()
	}
}

// Free releases the tensor now. Using it afterwards panics.
func (t *Tensor) Free() {
	if t == nil {
		return
	}
	scopeMu.Lock()
	t.owner = nil
	scopeMu.Unlock()
	t.free()
}

// Detach from every scope: the tensor lives until Free or garbage collection.
// Parameters, buffers and optimizer state are made persistent this way.
func (t *Tensor) Persist() *Tensor {
	scopeMu.Lock()
	t.owner = nil
	scopeMu.Unlock()
	return t
}

// handle returns the libtorch handle of a tensor an op requires: a nil
// tensor is a *Error, not a null pointer for C++ to dereference. The
// caller must keep t reachable (runtime.KeepAlive) until the C call
// returns, or the finalizer could free the handle while libtorch reads it.
func (t *Tensor) handle() C.tensor {
	if t == nil {
		panic(&Error{Op: "use", Msg: "nil tensor where a tensor is required"})
	}
	if t.h == nil {
		panic(&Error{Op: "use", Msg: "tensor used after it was freed"})
	}
	return t.h
}

// optHandle is handle for an optional argument (a bias, say): nil is
// passed on as absent.
func (t *Tensor) optHandle() C.tensor {
	if t == nil {
		return nil
	}
	return t.handle()
}

// Dim returns the number of dimensions.
func (t *Tensor) Dim() int {
	defer runtime.KeepAlive(t)
	return int(C.cp_ndim(t.handle()))
}

// Shape returns the sizes of every dimension.
func (t *Tensor) Shape() []int64 {
	defer runtime.KeepAlive(t)
	n := t.Dim()
	s := make([]int64, n)
	if n > 0 {
		C.cp_shape(t.handle(), (*C.int64_t)(unsafe.Pointer(&s[0])))
	}
	return s
}

// Size returns the size of dimension d (negative d counts from the end).
func (t *Tensor) Size(d int) int64 {
	s := t.Shape()
	if d < 0 {
		d += len(s)
	}
	return s[d]
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int64 {
	defer runtime.KeepAlive(t)
	return int64(C.cp_numel(t.handle()))
}

// DType returns the element type.
func (t *Tensor) DType() DType {
	defer runtime.KeepAlive(t)
	return DType(C.cp_dtype(t.handle()))
}

// Device returns where the tensor lives.
func (t *Tensor) Device() Device {
	defer runtime.KeepAlive(t)
	return Device(C.cp_device(t.handle()))
}

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() float64 {
	defer runtime.KeepAlive(t)
	var v C.double
	check("item", C.cp_item(t.handle(), &v))
	return float64(v)
}

func (t *Tensor) String() string {
	if t == nil || t.h == nil {
		return "Tensor(freed)"
	}
	return fmt.Sprintf("Tensor(%v, %v, %v)", t.Shape(), t.DType(), t.Device())
}

func shapePtr(shape []int64) *C.int64_t {
	if len(shape) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0]))
}

// FromBytes makes a tensor of the given dtype and shape from raw
// little-endian bytes (copied).
func FromBytes(data []byte, dtype DType, shape []int64, dev Device) (*Tensor, error) {
	n := int64(1)
	for _, s := range shape {
		if s < 0 {
			return nil, fmt.Errorf("negative size in shape %v", shape)
		}
		n *= s
	}
	if int64(len(data)) != n*int64(dtype.Size()) {
		return nil, fmt.Errorf("%d bytes do not make a %v tensor of shape %v (%d bytes)", len(data), dtype, shape, n*int64(dtype.Size()))
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var h C.tensor
	if err := Try(func() {
		check("from_data", C.cp_from_data(p, shapePtr(shape), C.int(len(shape)), C.int(dtype), C.int(dev), &h))
	}); err != nil {
		return nil, err
	}
	return wrap(h), nil
}

// FromFloat32 makes a float32 tensor on the CPU from data (copied).
func FromFloat32(data []float32, shape ...int64) *Tensor {
	var b []byte
	if len(data) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), len(data)*4)
	}
	t, err := FromBytes(b, Float32, shape, CPU)
	if err != nil {
		panic(&Error{Op: "from_float32", Msg: err.Error()})
	}
	return t
}

// FromInt64 makes an int64 tensor on the CPU from data (copied).
func FromInt64(data []int64, shape ...int64) *Tensor {
	var b []byte
	if len(data) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), len(data)*8)
	}
	t, err := FromBytes(b, Int64, shape, CPU)
	if err != nil {
		panic(&Error{Op: "from_int64", Msg: err.Error()})
	}
	return t
}

// Scalar makes a 0-d float32 tensor.
func Scalar(v float32) *Tensor { return FromFloat32([]float32{v}) }

// Bytes copies the tensor's elements (contiguous, little-endian) to Go.
func (t *Tensor) Bytes() []byte {
	defer runtime.KeepAlive(t)
	n := t.Numel() * int64(t.DType().Size())
	b := make([]byte, n)
	var p unsafe.Pointer
	if n > 0 {
		p = unsafe.Pointer(&b[0])
	}
	check("bytes", C.cp_copy_data(t.handle(), p, C.int64_t(n)))
	return b
}

// Float32s copies the elements of a tensor to a []float32, converting the
// dtype if needed.
func (t *Tensor) Float32s() []float32 {
	defer runtime.KeepAlive(t)
	src := t
	if t.DType() != Float32 {
		src = t.To(Float32)
		defer src.Free()
	}
	n := src.Numel()
	out := make([]float32, n)
	if n > 0 {
		check("float32s", C.cp_copy_data(src.handle(), unsafe.Pointer(&out[0]), C.int64_t(n*4)))
	}
	return out
}

// Int64s copies the elements of an integer tensor to a []int64.
func (t *Tensor) Int64s() []int64 {
	defer runtime.KeepAlive(t)
	src := t
	if t.DType() != Int64 {
		src = t.To(Int64)
		defer src.Free()
	}
	n := src.Numel()
	out := make([]int64, n)
	if n > 0 {
		check("int64s", C.cp_copy_data(src.handle(), unsafe.Pointer(&out[0]), C.int64_t(n*8)))
	}
	return out
}

func newKind(kind C.int, shape []int64, dtype DType, dev Device, v float64) *Tensor {
	var h C.tensor
	check("new", C.cp_new(kind, shapePtr(shape), C.int(len(shape)), C.int(dtype), C.int(dev), C.double(v), &h))
	return wrap(h)
}

// Zeros makes a float32 CPU tensor of zeros.
func Zeros(shape ...int64) *Tensor { return newKind(C.CP_NEW_ZEROS, shape, Float32, CPU, 0) }

// Ones makes a float32 CPU tensor of ones.
func Ones(shape ...int64) *Tensor { return newKind(C.CP_NEW_ONES, shape, Float32, CPU, 0) }

// Full makes a float32 CPU tensor filled with v.
func Full(v float64, shape ...int64) *Tensor { return newKind(C.CP_NEW_FULL, shape, Float32, CPU, v) }

// Randn makes a float32 CPU tensor of standard normal samples.
func Randn(shape ...int64) *Tensor { return newKind(C.CP_NEW_RANDN, shape, Float32, CPU, 0) }

// Rand makes a float32 CPU tensor of uniform [0, 1) samples.
func Rand(shape ...int64) *Tensor { return newKind(C.CP_NEW_RAND, shape, Float32, CPU, 0) }

// New makes a tensor of the given kind ("zeros", "ones", "empty", "randn",
// "rand") with an explicit dtype and device.
// An unknown kind is a *Error.
func New(kind string, dtype DType, dev Device, shape ...int64) *Tensor {
	k, ok := newKinds[kind]
	if !ok {
		panic(&Error{Op: "new", Msg: fmt.Sprintf("unknown kind %q (zeros, ones, empty, randn or rand)", kind)})
	}
	return newKind(k, shape, dtype, dev, 0)
}

var newKinds = map[string]C.int{"zeros": C.CP_NEW_ZEROS, "ones": C.CP_NEW_ONES, "empty": C.CP_NEW_EMPTY,
	"randn": C.CP_NEW_RANDN, "rand": C.CP_NEW_RAND}

// FullLike makes a tensor with t's shape, dtype and device filled with v.
func FullLike(t *Tensor, v float64) *Tensor {
	return newKind(C.CP_NEW_FULL, t.Shape(), t.DType(), t.Device(), v)
}

// ZerosLike makes a tensor of zeros like t.
func ZerosLike(t *Tensor) *Tensor {
	return newKind(C.CP_NEW_ZEROS, t.Shape(), t.DType(), t.Device(), 0)
}

// Arange returns [start, end) in steps of step.
func Arange(start, end, step float64, dtype DType) *Tensor {
	var h C.tensor
	check("arange", C.cp_arange(C.double(start), C.double(end), C.double(step), C.int(dtype), C.int(CPU), &h))
	return wrap(h)
}

// MoveTo_ moves t's data to dev in place of the handle, keeping t's
// identity (so optimizers and modules holding t see the move) and its
// requires-grad flag. For parameters and buffers, before training starts.
func (t *Tensor) MoveTo_(dev Device) {
	if t.Device() == dev {
		return
	}
	t.retype(t.DType(), dev)
}

// SetDType_ converts t in place to dtype dt (keeping its device and
// whether it requires grad), as Module.to(dtype) does for parameters.
func (t *Tensor) SetDType_(dt DType) {
	if t.DType() == dt {
		return
	}
	t.retype(dt, t.Device())
}

func (t *Tensor) retype(dt DType, dev Device) {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("to", C.cp_to(t.handle(), C.int(dt), C.int(dev), &h))
	moved := &Tensor{h: h}
	if t.RequiresGrad() {
		var d C.tensor
		check("detach", C.cp_detach(h, &d))
		C.cp_free(h)
		moved.h = d
		moved.SetRequiresGrad(true)
	}
	C.cp_free(t.h)
	t.h = moved.h
}
