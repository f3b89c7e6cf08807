package torch

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Reduction selects how a loss combines its elements.
type Reduction int

// Loss reductions, as libtorch numbers them.
const (
	ReduceNone Reduction = 0
	ReduceMean Reduction = 1
	ReduceSum  Reduction = 2
)

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func dimsPtr(d []int64) (*C.int64_t, C.int) {
	if len(d) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&d[0])), C.int(len(d))
}

func unary(name string, code C.int, a *Tensor) *Tensor {
	defer runtime.KeepAlive(a)
	var h C.tensor
	check(name, C.cp_unary(code, a.handle(), &h))
	return wrap(h)
}

func binary(name string, code C.int, a, b *Tensor) *Tensor {
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check(name, C.cp_binary(code, a.handle(), b.handle(), &h))
	return wrap(h)
}

func scalarOp(name string, code C.int, a *Tensor, s float64) *Tensor {
	defer runtime.KeepAlive(a)
	var h C.tensor
	check(name, C.cp_scalar(code, a.handle(), C.double(s), &h))
	return wrap(h)
}

// Neg returns -t.
func (t *Tensor) Neg() *Tensor { return unary("neg", C.CP_U_NEG, t) }

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor { return unary("abs", C.CP_U_ABS, t) }

// Sqrt returns the element-wise square root.
func (t *Tensor) Sqrt() *Tensor { return unary("sqrt", C.CP_U_SQRT, t) }

// Exp returns e^t.
func (t *Tensor) Exp() *Tensor { return unary("exp", C.CP_U_EXP, t) }

// Log returns the natural logarithm.
func (t *Tensor) Log() *Tensor { return unary("log", C.CP_U_LOG, t) }

// Relu returns max(t, 0).
func (t *Tensor) Relu() *Tensor { return unary("relu", C.CP_U_RELU, t) }

// Relu_ applies max(t, 0) in place, as nn.ReLU(inplace=True) does, and
// returns t's new handle. Autograd refuses it (with an error, not a wrong
// result) when t's value is needed for another op's backward.
func (t *Tensor) Relu_() *Tensor { return unary("relu_", C.CP_U_RELU_, t) }

// Tanh returns tanh(t).
func (t *Tensor) Tanh() *Tensor { return unary("tanh", C.CP_U_TANH, t) }

// Sigmoid returns 1/(1+e^-t).
func (t *Tensor) Sigmoid() *Tensor { return unary("sigmoid", C.CP_U_SIGMOID, t) }

// Sign returns -1, 0 or 1 per element.
func (t *Tensor) Sign() *Tensor { return unary("sign", C.CP_U_SIGN, t) }

// Square returns t².
func (t *Tensor) Square() *Tensor { return unary("square", C.CP_U_SQUARE, t) }

// Rsqrt returns 1/√t.
func (t *Tensor) Rsqrt() *Tensor { return unary("rsqrt", C.CP_U_RSQRT, t) }

// Floor rounds down.
func (t *Tensor) Floor() *Tensor { return unary("floor", C.CP_U_FLOOR, t) }

// Round rounds half to even.
func (t *Tensor) Round() *Tensor { return unary("round", C.CP_U_ROUND, t) }

// Cos returns cos(t).
func (t *Tensor) Cos() *Tensor { return unary("cos", C.CP_U_COS, t) }

// Sin returns sin(t).
func (t *Tensor) Sin() *Tensor { return unary("sin", C.CP_U_SIN, t) }

// Diag returns the diagonal of a matrix (or the matrix of a vector).
func (t *Tensor) Diag() *Tensor { return unary("diag", C.CP_U_DIAG, t) }

// Add returns t + o (broadcasting).
func (t *Tensor) Add(o *Tensor) *Tensor { return binary("add", C.CP_B_ADD, t, o) }

// Sub returns t - o.
func (t *Tensor) Sub(o *Tensor) *Tensor { return binary("sub", C.CP_B_SUB, t, o) }

// Mul returns t * o element-wise.
func (t *Tensor) Mul(o *Tensor) *Tensor { return binary("mul", C.CP_B_MUL, t, o) }

// Div returns t / o element-wise.
func (t *Tensor) Div(o *Tensor) *Tensor { return binary("div", C.CP_B_DIV, t, o) }

// Pow returns t^o element-wise.
func (t *Tensor) Pow(o *Tensor) *Tensor { return binary("pow", C.CP_B_POW, t, o) }

// Maximum returns the element-wise maximum.
func (t *Tensor) Maximum(o *Tensor) *Tensor { return binary("maximum", C.CP_B_MAXIMUM, t, o) }

// Minimum returns the element-wise minimum.
func (t *Tensor) Minimum(o *Tensor) *Tensor { return binary("minimum", C.CP_B_MINIMUM, t, o) }

// Eq returns t == o as a bool tensor.
func (t *Tensor) Eq(o *Tensor) *Tensor { return binary("eq", C.CP_B_EQ, t, o) }

// Gt returns t > o as a bool tensor.
func (t *Tensor) Gt(o *Tensor) *Tensor { return binary("gt", C.CP_B_GT, t, o) }

// AddScalar returns t + s.
func (t *Tensor) AddScalar(s float64) *Tensor { return scalarOp("add", C.CP_S_ADD, t, s) }

// SubScalar returns t - s.
func (t *Tensor) SubScalar(s float64) *Tensor { return scalarOp("sub", C.CP_S_SUB, t, s) }

// MulScalar returns t * s.
func (t *Tensor) MulScalar(s float64) *Tensor { return scalarOp("mul", C.CP_S_MUL, t, s) }

// DivScalar returns t / s.
func (t *Tensor) DivScalar(s float64) *Tensor { return scalarOp("div", C.CP_S_DIV, t, s) }

// PowScalar returns t^s.
func (t *Tensor) PowScalar(s float64) *Tensor { return scalarOp("pow", C.CP_S_POW, t, s) }

// RSubScalar returns s - t.
func (t *Tensor) RSubScalar(s float64) *Tensor { return scalarOp("rsub", C.CP_S_RSUB, t, s) }

// EqScalar returns t == s as a bool tensor.
func (t *Tensor) EqScalar(s float64) *Tensor { return scalarOp("eq", C.CP_S_EQ, t, s) }

// GtScalar returns t > s as a bool tensor.
func (t *Tensor) GtScalar(s float64) *Tensor { return scalarOp("gt", C.CP_S_GT, t, s) }

// LtScalar returns t < s as a bool tensor.
func (t *Tensor) LtScalar(s float64) *Tensor { return scalarOp("lt", C.CP_S_LT, t, s) }

// LeakyRelu returns max(t, slope·t).
func (t *Tensor) LeakyRelu(slope float64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("leaky_relu", C.cp_leaky_relu(t.handle(), C.double(slope), &h))
	return wrap(h)
}

// Clamp limits t to [lo, hi].
func (t *Tensor) Clamp(lo, hi float64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("clamp", C.cp_clamp(t.handle(), C.double(lo), C.double(hi), &h))
	return wrap(h)
}

// Where picks a where cond is true, b elsewhere.
func Where(cond, a, b *Tensor) *Tensor {
	defer runtime.KeepAlive(cond)
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("where", C.cp_where(cond.handle(), a.handle(), b.handle(), &h))
	return wrap(h)
}

func reduce(name string, code C.int, t *Tensor, keepdim bool, dims []int64) *Tensor {
	defer runtime.KeepAlive(t)
	p, n := dimsPtr(dims)
	var h C.tensor
	check(name, C.cp_reduce(code, t.handle(), p, n, b2i(keepdim), &h))
	return wrap(h)
}

// Sum adds all elements (a 0-d tensor).
func (t *Tensor) Sum() *Tensor { return reduce("sum", C.CP_R_SUM, t, false, nil) }

// Mean averages all elements (a 0-d tensor).
func (t *Tensor) Mean() *Tensor { return reduce("mean", C.CP_R_MEAN, t, false, nil) }

// Max returns the largest element (a 0-d tensor).
func (t *Tensor) Max() *Tensor { return reduce("max", C.CP_R_MAX, t, false, nil) }

// Min returns the smallest element (a 0-d tensor).
func (t *Tensor) Min() *Tensor { return reduce("min", C.CP_R_MIN, t, false, nil) }

// SumDims adds over dims.
func (t *Tensor) SumDims(keepdim bool, dims ...int64) *Tensor {
	return reduce("sum", C.CP_R_SUM, t, keepdim, dims)
}

// MeanDims averages over dims.
func (t *Tensor) MeanDims(keepdim bool, dims ...int64) *Tensor {
	return reduce("mean", C.CP_R_MEAN, t, keepdim, dims)
}

// MaxDims takes the maximum over dims.
func (t *Tensor) MaxDims(keepdim bool, dims ...int64) *Tensor {
	return reduce("max", C.CP_R_MAX, t, keepdim, dims)
}

// Norm returns the p-norm over dims (all elements when dims is empty).
func (t *Tensor) Norm(p float64, keepdim bool, dims ...int64) *Tensor {
	defer runtime.KeepAlive(t)
	dp, n := dimsPtr(dims)
	var h C.tensor
	check("norm", C.cp_norm(t.handle(), C.double(p), dp, n, b2i(keepdim), &h))
	return wrap(h)
}

// Var returns the variance over dims (all elements when dims is empty).
func (t *Tensor) Var(unbiased, keepdim bool, dims ...int64) *Tensor {
	defer runtime.KeepAlive(t)
	dp, n := dimsPtr(dims)
	var h C.tensor
	check("var", C.cp_var(t.handle(), dp, n, b2i(unbiased), b2i(keepdim), &h))
	return wrap(h)
}

// Argmax returns the index of the maximum along dim.
func (t *Tensor) Argmax(dim int64, keepdim bool) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("argmax", C.cp_argmax(t.handle(), C.int64_t(dim), b2i(keepdim), &h))
	return wrap(h)
}

// Softmax along dim.
func (t *Tensor) Softmax(dim int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("softmax", C.cp_softmax(t.handle(), C.int64_t(dim), 0, &h))
	return wrap(h)
}

// LogSoftmax along dim.
func (t *Tensor) LogSoftmax(dim int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("log_softmax", C.cp_softmax(t.handle(), C.int64_t(dim), 1, &h))
	return wrap(h)
}

// Reshape returns t with a new shape (-1 infers one size).
func (t *Tensor) Reshape(shape ...int64) *Tensor {
	defer runtime.KeepAlive(t)
	p, n := dimsPtr(shape)
	var h C.tensor
	check("reshape", C.cp_reshape(t.handle(), p, n, &h))
	return wrap(h)
}

// Permute reorders dimensions.
func (t *Tensor) Permute(dims ...int64) *Tensor {
	defer runtime.KeepAlive(t)
	p, n := dimsPtr(dims)
	var h C.tensor
	check("permute", C.cp_permute(t.handle(), p, n, &h))
	return wrap(h)
}

// Expand broadcasts t to shape without copying.
func (t *Tensor) Expand(shape ...int64) *Tensor {
	defer runtime.KeepAlive(t)
	p, n := dimsPtr(shape)
	var h C.tensor
	check("expand", C.cp_expand(t.handle(), p, n, &h))
	return wrap(h)
}

// Slice returns elements start ≤ i < end (step apart) along dim.
func (t *Tensor) Slice(dim, start, end, step int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("slice", C.cp_slice(t.handle(), C.int64_t(dim), C.int64_t(start), C.int64_t(end), C.int64_t(step), &h))
	return wrap(h)
}

// Narrow returns length elements from start along dim.
func (t *Tensor) Narrow(dim, start, length int64) *Tensor {
	return t.Slice(dim, start, start+length, 1)
}

// Select returns the index-th slice along dim, dropping dim.
func (t *Tensor) Select(dim, index int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("select", C.cp_select(t.handle(), C.int64_t(dim), C.int64_t(index), &h))
	return wrap(h)
}

// IndexSelect gathers the entries of index along dim.
func (t *Tensor) IndexSelect(dim int64, index *Tensor) *Tensor {
	defer runtime.KeepAlive(t)
	defer runtime.KeepAlive(index)
	var h C.tensor
	check("index_select", C.cp_index_select(t.handle(), C.int64_t(dim), index.handle(), &h))
	return wrap(h)
}

// Flip reverses the given dims.
func (t *Tensor) Flip(dims ...int64) *Tensor {
	defer runtime.KeepAlive(t)
	p, n := dimsPtr(dims)
	var h C.tensor
	check("flip", C.cp_flip(t.handle(), p, n, &h))
	return wrap(h)
}

// Transpose swaps two dims.
func (t *Tensor) Transpose(d0, d1 int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("transpose", C.cp_transpose(t.handle(), C.int64_t(d0), C.int64_t(d1), &h))
	return wrap(h)
}

// Squeeze drops dim if its size is 1.
func (t *Tensor) Squeeze(dim int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("squeeze", C.cp_squeeze(t.handle(), C.int64_t(dim), &h))
	return wrap(h)
}

// Unsqueeze inserts a size-1 dim.
func (t *Tensor) Unsqueeze(dim int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("unsqueeze", C.cp_unsqueeze(t.handle(), C.int64_t(dim), &h))
	return wrap(h)
}

func catOrStack(name string, ts []*Tensor, dim int64, stack bool) *Tensor {
	defer runtime.KeepAlive(ts)
	hs := make([]C.tensor, len(ts))
	for i, t := range ts {
		hs[i] = t.handle()
	}
	var p *C.tensor
	if len(hs) > 0 {
		p = &hs[0]
	}
	var h C.tensor
	check(name, C.cp_cat(p, C.int(len(hs)), C.int64_t(dim), b2i(stack), &h))
	return wrap(h)
}

// Cat concatenates tensors along dim.
func Cat(dim int64, ts ...*Tensor) *Tensor { return catOrStack("cat", ts, dim, false) }

// Stack joins tensors along a new dim.
func Stack(dim int64, ts ...*Tensor) *Tensor { return catOrStack("stack", ts, dim, true) }

// Contiguous returns t laid out contiguously (row-major).
func (t *Tensor) Contiguous() *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("contiguous", C.cp_contiguous(t.handle(), C.CP_CONTIGUOUS, &h))
	return wrap(h)
}

// ChannelsLast returns a 4-d t in NHWC memory layout (same logical shape).
func (t *Tensor) ChannelsLast() *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("channels_last", C.cp_contiguous(t.handle(), C.CP_CHANNELS_LAST, &h))
	return wrap(h)
}

// To converts the element type (on the same device).
func (t *Tensor) To(dtype DType) *Tensor { return t.ToDevice(t.Device(), dtype) }

// ToDevice moves t to dev with element type dtype.
func (t *Tensor) ToDevice(dev Device, dtype DType) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("to", C.cp_to(t.handle(), C.int(dtype), C.int(dev), &h))
	return wrap(h)
}

// Clone copies t (differentiably).
func (t *Tensor) Clone() *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("clone", C.cp_clone(t.handle(), &h))
	return wrap(h)
}

// Detach returns t cut from the autograd graph (sharing storage).
func (t *Tensor) Detach() *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("detach", C.cp_detach(t.handle(), &h))
	return wrap(h)
}

// OneHot turns int64 class indices into a one-hot int64 tensor.
func (t *Tensor) OneHot(classes int64) *Tensor {
	defer runtime.KeepAlive(t)
	var h C.tensor
	check("one_hot", C.cp_one_hot(t.handle(), C.int64_t(classes), &h))
	return wrap(h)
}

func inplace(name string, code C.int, t *Tensor, a, b float64) {
	defer runtime.KeepAlive(t)
	check(name, C.cp_inplace(code, t.handle(), C.double(a), C.double(b)))
}

// Fill_ sets every element to v, outside autograd.
func (t *Tensor) Fill_(v float64) { inplace("fill_", C.CP_I_FILL, t, v, 0) }

// Zero_ sets every element to 0, outside autograd.
func (t *Tensor) Zero_() { inplace("zero_", C.CP_I_ZERO, t, 0, 0) }

// Normal_ fills t with N(mean, std) samples from the default generator.
func (t *Tensor) Normal_(mean, std float64) { inplace("normal_", C.CP_I_NORMAL, t, mean, std) }

// Uniform_ fills t with U(a, b) samples from the default generator.
func (t *Tensor) Uniform_(a, b float64) { inplace("uniform_", C.CP_I_UNIFORM, t, a, b) }

// AddScalar_ adds s in place, outside autograd.
func (t *Tensor) AddScalar_(s float64) { inplace("add_", C.CP_I_ADD, t, s, 0) }

// MulScalar_ multiplies by s in place, outside autograd.
func (t *Tensor) MulScalar_(s float64) { inplace("mul_", C.CP_I_MUL, t, s, 0) }

// Copy_ copies src's values into t (broadcasting, converting), outside
// autograd.
func (t *Tensor) Copy_(src *Tensor) {
	defer runtime.KeepAlive(t)
	defer runtime.KeepAlive(src)
	check("copy_", C.cp_copy_(t.handle(), src.handle()))
}

// Conv2d is torch.nn.functional.conv2d with square stride/padding/dilation;
// b may be nil.
func Conv2d(x, w, b *Tensor, stride, padding, dilation, groups int64) *Tensor {
	defer runtime.KeepAlive(x)
	defer runtime.KeepAlive(w)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("conv2d", C.cp_conv2d(x.handle(), w.handle(), b.optHandle(), C.int64_t(stride), C.int64_t(padding),
		C.int64_t(dilation), C.int64_t(groups), &h))
	return wrap(h)
}

// ConvTranspose2d is torch.nn.functional.conv_transpose2d; b may be nil.
func ConvTranspose2d(x, w, b *Tensor, stride, padding, outputPadding, dilation, groups int64) *Tensor {
	defer runtime.KeepAlive(x)
	defer runtime.KeepAlive(w)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("conv_transpose2d", C.cp_conv_transpose2d(x.handle(), w.handle(), b.optHandle(), C.int64_t(stride),
		C.int64_t(padding), C.int64_t(outputPadding), C.int64_t(dilation), C.int64_t(groups), &h))
	return wrap(h)
}

// Linear returns x·wᵀ + b; b may be nil.
func Linear(x, w, b *Tensor) *Tensor {
	defer runtime.KeepAlive(x)
	defer runtime.KeepAlive(w)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("linear", C.cp_linear(x.handle(), w.handle(), b.optHandle(), &h))
	return wrap(h)
}

// Matmul is torch.matmul.
func Matmul(a, b *Tensor) *Tensor {
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("matmul", C.cp_matmul(a.handle(), b.handle(), &h))
	return wrap(h)
}

// Bmm is torch.bmm: batched [B, n, m] × [B, m, p] matrix products.
func Bmm(a, b *Tensor) *Tensor {
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("bmm", C.cp_bmm(a.handle(), b.handle(), &h))
	return wrap(h)
}

// MaskedFill returns t with value wherever the bool mask (broadcast to t's
// shape) is true, like Tensor.masked_fill; the gradient is zero there.
func (t *Tensor) MaskedFill(mask *Tensor, value float64) *Tensor {
	defer runtime.KeepAlive(t)
	defer runtime.KeepAlive(mask)
	var h C.tensor
	check("masked_fill", C.cp_masked_fill(t.handle(), mask.handle(), C.double(value), &h))
	return wrap(h)
}

// PadMode selects how Pad2d fills the border.
type PadMode int

// Padding modes.
const (
	PadReflect   PadMode = C.CP_PAD_REFLECT
	PadReplicate PadMode = C.CP_PAD_REPLICATE
	PadConstant  PadMode = C.CP_PAD_CONSTANT
)

// Pad2d pads the last two dims (left, right, top, bottom).
func Pad2d(x *Tensor, mode PadMode, left, right, top, bottom int64, value float64) *Tensor {
	defer runtime.KeepAlive(x)
	var h C.tensor
	check("pad2d", C.cp_pad2d(x.handle(), C.int(mode), C.int64_t(left), C.int64_t(right), C.int64_t(top),
		C.int64_t(bottom), C.double(value), &h))
	return wrap(h)
}

// BatchNorm is torch.nn.functional.batch_norm. In training it normalises
// with batch statistics and updates the running ones in place.
func BatchNorm(x, w, b, runMean, runVar *Tensor, training bool, momentum, eps float64) *Tensor {
	defer runtime.KeepAlive(x)
	defer runtime.KeepAlive(w)
	defer runtime.KeepAlive(b)
	defer runtime.KeepAlive(runMean)
	defer runtime.KeepAlive(runVar)
	var h C.tensor
	check("batch_norm", C.cp_batch_norm(x.handle(), w.optHandle(), b.optHandle(), runMean.optHandle(), runVar.optHandle(),
		b2i(training), C.double(momentum), C.double(eps), &h))
	return wrap(h)
}

// InstanceNorm is torch.nn.functional.instance_norm.
func InstanceNorm(x, w, b, runMean, runVar *Tensor, useInputStats bool, momentum, eps float64) *Tensor {
	defer runtime.KeepAlive(x)
	defer runtime.KeepAlive(w)
	defer runtime.KeepAlive(b)
	defer runtime.KeepAlive(runMean)
	defer runtime.KeepAlive(runVar)
	var h C.tensor
	check("instance_norm", C.cp_instance_norm(x.handle(), w.optHandle(), b.optHandle(), runMean.optHandle(), runVar.optHandle(),
		b2i(useInputStats), C.double(momentum), C.double(eps), &h))
	return wrap(h)
}

// Dropout zeroes elements with probability p and rescales (when train).
func Dropout(x *Tensor, p float64, train bool) *Tensor {
	defer runtime.KeepAlive(x)
	var h C.tensor
	check("dropout", C.cp_dropout(x.handle(), C.double(p), b2i(train), &h))
	return wrap(h)
}

// MaxPool2d with a square kernel.
func MaxPool2d(x *Tensor, k, stride, pad int64, ceil bool) *Tensor {
	defer runtime.KeepAlive(x)
	var h C.tensor
	check("max_pool2d", C.cp_max_pool2d(x.handle(), C.int64_t(k), C.int64_t(stride), C.int64_t(pad), b2i(ceil), &h))
	return wrap(h)
}

// AvgPool2d with a square kernel.
func AvgPool2d(x *Tensor, k, stride, pad int64, ceil, countIncludePad bool) *Tensor {
	defer runtime.KeepAlive(x)
	var h C.tensor
	check("avg_pool2d", C.cp_avg_pool2d(x.handle(), C.int64_t(k), C.int64_t(stride), C.int64_t(pad), b2i(ceil),
		b2i(countIncludePad), &h))
	return wrap(h)
}

// AdaptiveAvgPool2d pools to an h×w output.
func AdaptiveAvgPool2d(x *Tensor, h, w int64) *Tensor {
	defer runtime.KeepAlive(x)
	var r C.tensor
	check("adaptive_avg_pool2d", C.cp_adaptive_avg_pool2d(x.handle(), C.int64_t(h), C.int64_t(w), &r))
	return wrap(r)
}

// Interpolate resizes the last two dims (bilinear when bilinear is true,
// else nearest).
func Interpolate(x *Tensor, h, w int64, bilinear, alignCorners bool) *Tensor {
	defer runtime.KeepAlive(x)
	var r C.tensor
	check("interpolate", C.cp_interpolate(x.handle(), C.int64_t(h), C.int64_t(w), b2i(bilinear), b2i(alignCorners), &r))
	return wrap(r)
}

func loss(name string, fn func(a, b C.tensor, r C.int, out *C.tensor) C.cerr, a, b *Tensor, r Reduction) *Tensor {
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check(name, fn(a.handle(), b.handle(), C.int(r), &h))
	return wrap(h)
}

// MSELoss is the mean squared error.
func MSELoss(a, b *Tensor, r Reduction) *Tensor {
	return loss("mse_loss", func(a, b C.tensor, r C.int, o *C.tensor) C.cerr { return C.cp_mse_loss(a, b, r, o) }, a, b, r)
}

// L1Loss is the mean absolute error.
func L1Loss(a, b *Tensor, r Reduction) *Tensor {
	return loss("l1_loss", func(a, b C.tensor, r C.int, o *C.tensor) C.cerr { return C.cp_l1_loss(a, b, r, o) }, a, b, r)
}

// BCEWithLogits is binary cross-entropy on logits.
func BCEWithLogits(logits, target *Tensor, r Reduction) *Tensor {
	return loss("bce_with_logits", func(a, b C.tensor, r C.int, o *C.tensor) C.cerr {
		return C.cp_bce_with_logits(a, b, r, o)
	}, logits, target, r)
}

// BCE is binary cross-entropy on probabilities.
func BCE(p, target *Tensor, r Reduction) *Tensor {
	return loss("bce", func(a, b C.tensor, r C.int, o *C.tensor) C.cerr { return C.cp_bce(a, b, r, o) }, p, target, r)
}

// CrossEntropy takes logits [N, C] and int64 class targets [N].
func CrossEntropy(logits, target *Tensor, r Reduction) *Tensor {
	return loss("cross_entropy", func(a, b C.tensor, r C.int, o *C.tensor) C.cerr {
		return C.cp_cross_entropy(a, b, r, o)
	}, logits, target, r)
}

// QR returns the reduced QR decomposition of a matrix.
func QR(a *Tensor) (q, r *Tensor) {
	defer runtime.KeepAlive(a)
	var hq, hr C.tensor
	check("qr", C.cp_qr(a.handle(), &hq, &hr))
	return wrap(hq), wrap(hr)
}
