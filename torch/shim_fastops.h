// Ops where libtorch 1.13's own CPU kernels leave speed on the table.
//
// Convolutions run on oneDNN directly (shim_dnnl.cpp): Winograd for 3×3
// stride-1 convolutions (ATen always asks oneDNN for the direct algorithm)
// and oneDNN deconvolution for transposed convolutions (ATen 1.13 sends fp32
// ones to its im2col+GEMM path). Both are autograd functions with their own
// backward.
#ifndef CYCLEPIX_SHIM_FASTOPS_H
#define CYCLEPIX_SHIM_FASTOPS_H

#include <ATen/ATen.h>

namespace cpshim {

// The process-wide switches, set by cp_set_fast_ops (shim_fastops.cpp);
// the bits are torch.FastOps'. Compiled without oneDNN (CYCLEPIX_DNNL
// undefined) Winograd, Deconv and Prepack are always off.
enum FastOp : int {
  kFastWinograd = 1,
  kFastDeconv = 2,
  kFastPad = 4,
  kFastAdam = 8,
  kFastPrepack = 16,
  kFastKeepBlocks = 32,  // shim_alloc.cpp
};
bool fast_op_on(FastOp op);

// Each returns true and sets out when it took the convolution; false means
// the caller runs ATen's own.
bool dnnl_conv2d(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t stride, int64_t pad,
                 int64_t dilation, int64_t groups, at::Tensor &out);
bool dnnl_conv_transpose2d(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t stride, int64_t pad,
                           int64_t out_pad, int64_t dilation, int64_t groups, at::Tensor &out);

// Winograd F(4×4, 3×3) for a 3×3 stride-1 convolution outside autograd on
// an AVX2 CPU (shim_wino.cpp), for CPUs where oneDNN has no Winograd.
// Returns false for what it does not take: no AVX2 and FMA, channel counts
// not multiples of 8.
bool wino_conv2d_infer(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t pad, at::Tensor &out);

// How many convolutions the two above have taken in this process (tests
// check that a path they mean to exercise is taken).
int64_t dnnl_calls();

// Reflection padding of fp32 CPU tensors (shim_pad.cpp): row copies
// instead of ATen 1.13's per-element index arithmetic, forward and
// backward. Returns false for what it does not take (ATen then reports any
// error, such as padding wider than the image).
bool fast_reflection_pad2d(const at::Tensor &x, int64_t left, int64_t right, int64_t top, int64_t bottom,
                           at::Tensor &out);

// Adam's update of one float32 CPU parameter in a single pass over p, g, m
// and v (shim_adam.cpp) instead of the seven tensor ops, and temporaries,
// of torch.optim.adam's single-tensor path: Adam is memory-bound, and
// pix2pix's 54 M parameters made it a quarter of an iteration. Results
// agree with the op-by-op update to a few float32 ulps (fused
// multiply-adds in ATen's vector kernels round differently). Returns false
// for what it does not take.
bool fast_adam_update(at::Tensor &p, const at::Tensor &g, at::Tensor &m, at::Tensor &v, double step_size,
                      double bc2_sqrt, double beta1, double beta2, double eps, double weight_decay);

}  // namespace cpshim

#endif
