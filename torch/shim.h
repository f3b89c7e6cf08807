// C ABI over libtorch (ATen + autograd) for the Go binding.
//
// Conventions: a tensor is an opaque handle owning one at::Tensor reference.
// Every function that can fail returns NULL on success or a malloc'd error
// message (libtorch's text) that the caller frees; results come back through
// out-parameters. An absent optional tensor is passed as NULL.
#ifndef CYCLEPIX_SHIM_H
#define CYCLEPIX_SHIM_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *tensor;
typedef char *cerr;

// ---- op codes: the one list both sides use ----------------------------------
// The Go side names these as C.CP_…; shim.cpp switches on them.
enum cp_new_kind { CP_NEW_ZEROS, CP_NEW_ONES, CP_NEW_FULL, CP_NEW_EMPTY, CP_NEW_RANDN, CP_NEW_RAND };
enum cp_unary_op {
  CP_U_NEG, CP_U_ABS, CP_U_SQRT, CP_U_EXP, CP_U_LOG, CP_U_RELU, CP_U_TANH, CP_U_SIGMOID, CP_U_SIGN,
  CP_U_SQUARE, CP_U_RSQRT, CP_U_FLOOR, CP_U_ROUND, CP_U_COS, CP_U_SIN, CP_U_DIAG, CP_U_RELU_
};
enum cp_binary_op {
  CP_B_ADD, CP_B_SUB, CP_B_MUL, CP_B_DIV, CP_B_POW, CP_B_MAXIMUM, CP_B_MINIMUM, CP_B_EQ, CP_B_GT, CP_B_LT,
  CP_B_GE, CP_B_LE
};
// Scalar ops: a op s, except CP_S_RSUB = s - a.
enum cp_scalar_op {
  CP_S_ADD, CP_S_SUB, CP_S_MUL, CP_S_DIV, CP_S_POW, CP_S_RSUB, CP_S_EQ, CP_S_GT, CP_S_LT, CP_S_GE, CP_S_LE
};
enum cp_reduce_op { CP_R_SUM, CP_R_MEAN, CP_R_MAX, CP_R_MIN, CP_R_PROD };
// In-place ops (never recorded by autograd): fill(a), zero, normal(a=mean,
// b=std), uniform(a, b), add scalar(a), mul scalar(a).
enum cp_inplace_op { CP_I_FILL, CP_I_ZERO, CP_I_NORMAL, CP_I_UNIFORM, CP_I_ADD, CP_I_MUL };
enum cp_pad_mode { CP_PAD_REFLECT, CP_PAD_REPLICATE, CP_PAD_CONSTANT };
enum cp_memory_format { CP_CONTIGUOUS, CP_CHANNELS_LAST };

// ---- runtime -------------------------------------------------------------
void cp_set_num_threads(int n);
int cp_get_num_threads(void);
void cp_manual_seed(uint64_t seed);
cerr cp_rng_state(tensor *out);           // CPU generator state (uint8 tensor)
cerr cp_set_rng_state(tensor state);
void cp_set_grad_enabled(int on);
int cp_grad_enabled(void);
void cp_set_autocast(int dtype);          // <0 disables, else autocast to that ScalarType (CPU unless Half; CUDA)
int cp_get_autocast(void);                // what cp_set_autocast last set
int cp_cuda_device_count(void);
void cp_set_cudnn_benchmark(int on);      // torch.backends.cudnn.benchmark
cerr cp_synchronize(int device);          // torch.cuda.synchronize(device); no-op for device < 0
int cp_has_mkldnn(void);
void cp_set_mkldnn(int on);            // use oneDNN kernels where libtorch would
const char *cp_version(void);             // static string
cerr cp_parallel_info(char **out);

// ---- lifecycle and data --------------------------------------------------
void cp_free(tensor t);
cerr cp_from_data(const void *data, const int64_t *shape, int ndim, int dtype, int device, tensor *out);
cerr cp_copy_data(tensor t, void *dst, int64_t nbytes);
int cp_ndim(tensor t);
void cp_shape(tensor t, int64_t *dims);
int cp_dtype(tensor t);
int cp_device(tensor t);                  // -1 CPU, >=0 CUDA index
int64_t cp_numel(tensor t);
cerr cp_item(tensor t, double *out);
int cp_defined(tensor t);
int cp_same(tensor a, tensor b);

// ---- creation ------------------------------------------------------------
// kind: enum cp_new_kind (value is CP_NEW_FULL's); an unknown kind is an error
cerr cp_new(int kind, const int64_t *shape, int ndim, int dtype, int device, double value, tensor *out);
cerr cp_arange(double start, double end, double step, int dtype, int device, tensor *out);

// ---- autograd ------------------------------------------------------------
cerr cp_set_requires_grad(tensor t, int on);
int cp_requires_grad(tensor t);
cerr cp_grad(tensor t, tensor *out);      // *out NULL when no gradient
cerr cp_zero_grad(tensor t);              // sets .grad to None
cerr cp_backward(tensor loss, tensor grad_out, int retain_graph);
cerr cp_autograd_grad(tensor *outputs, tensor *grad_outputs, int nout, tensor *inputs, int nin,
                      int retain_graph, int create_graph, int allow_unused, tensor *results);

// ---- element-wise --------------------------------------------------------
// op: enum cp_unary_op
cerr cp_unary(int op, tensor a, tensor *out);
// op: enum cp_binary_op
cerr cp_binary(int op, tensor a, tensor b, tensor *out);
// op: enum cp_scalar_op
cerr cp_scalar(int op, tensor a, double s, tensor *out);
cerr cp_leaky_relu(tensor a, double slope, tensor *out);
cerr cp_clamp(tensor a, double lo, double hi, tensor *out);
cerr cp_where(tensor cond, tensor a, tensor b, tensor *out);
cerr cp_addcmul(tensor a, tensor b, tensor c, double value, tensor *out);

// ---- reductions ----------------------------------------------------------
// op: enum cp_reduce_op; ndims == 0 reduces over everything
cerr cp_reduce(int op, tensor a, const int64_t *dims, int ndims, int keepdim, tensor *out);
cerr cp_norm(tensor a, double p, const int64_t *dims, int ndims, int keepdim, tensor *out);
cerr cp_var(tensor a, const int64_t *dims, int ndims, int unbiased, int keepdim, tensor *out);
cerr cp_argmax(tensor a, int64_t dim, int keepdim, tensor *out);
cerr cp_softmax(tensor a, int64_t dim, int log, tensor *out);

// ---- shape ---------------------------------------------------------------
cerr cp_reshape(tensor a, const int64_t *shape, int ndim, tensor *out);
cerr cp_permute(tensor a, const int64_t *dims, int ndim, tensor *out);
cerr cp_expand(tensor a, const int64_t *shape, int ndim, tensor *out);
cerr cp_slice(tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, tensor *out);
cerr cp_select(tensor a, int64_t dim, int64_t index, tensor *out);
cerr cp_index_select(tensor a, int64_t dim, tensor index, tensor *out);
cerr cp_flip(tensor a, const int64_t *dims, int ndim, tensor *out);
cerr cp_transpose(tensor a, int64_t d0, int64_t d1, tensor *out);
cerr cp_squeeze(tensor a, int64_t dim, tensor *out);
cerr cp_unsqueeze(tensor a, int64_t dim, tensor *out);
cerr cp_cat(tensor *ts, int n, int64_t dim, int stack, tensor *out);
// memory_format: enum cp_memory_format
cerr cp_contiguous(tensor a, int memory_format, tensor *out);
cerr cp_to(tensor a, int dtype, int device, tensor *out);
cerr cp_clone(tensor a, tensor *out);
cerr cp_detach(tensor a, tensor *out);
cerr cp_one_hot(tensor a, int64_t classes, tensor *out);

// ---- in-place (never recorded by autograd) -------------------------------
// op: enum cp_inplace_op
cerr cp_inplace(int op, tensor t, double a, double b);
cerr cp_copy_(tensor dst, tensor src);

// ---- neural network ------------------------------------------------------
cerr cp_conv2d(tensor x, tensor w, tensor b, int64_t stride, int64_t pad, int64_t dilation, int64_t groups, tensor *out);
cerr cp_conv_transpose2d(tensor x, tensor w, tensor b, int64_t stride, int64_t pad, int64_t out_pad,
                         int64_t dilation, int64_t groups, tensor *out);
// Which ops take cyclepix's own CPU paths (shim_fastops.h): bit 0 Winograd
// for 3x3 stride-1 convolutions, bit 1 oneDNN transposed convolutions, bit 2
// reflection padding, bit 3 one-pass Adam, bit 4 prepacked inference
// weights, bit 5 keeping big freed blocks. Returns the bits in effect
// (without oneDNN at build time, bits 0 and 1 are always off).
int cp_set_fast_ops(int flags);
// Keeping freed blocks of 32 MiB and more for reuse (shim_alloc.cpp; fast
// op bit 5); the first call installs the allocator.
void cp_keep_big_blocks(int on);
// How many convolutions oneDNN has taken through the fast ops.
int64_t cp_dnnl_calls(void);
// Unmaps the blocks kept; returns their bytes.
size_t cp_release_cached_memory(void);
cerr cp_linear(tensor x, tensor w, tensor b, tensor *out);
cerr cp_matmul(tensor a, tensor b, tensor *out);
cerr cp_bmm(tensor a, tensor b, tensor *out);
// out = a with value where mask (bool, broadcast to a) is true
cerr cp_masked_fill(tensor a, tensor mask, double value, tensor *out);
// mode: enum cp_pad_mode (value is CP_PAD_CONSTANT's)
cerr cp_pad2d(tensor x, int mode, int64_t left, int64_t right, int64_t top, int64_t bottom, double value, tensor *out);
cerr cp_batch_norm(tensor x, tensor w, tensor b, tensor rmean, tensor rvar, int training, double momentum,
                   double eps, tensor *out);
cerr cp_instance_norm(tensor x, tensor w, tensor b, tensor rmean, tensor rvar, int use_input_stats,
                      double momentum, double eps, tensor *out);
cerr cp_dropout(tensor x, double p, int train, tensor *out);
cerr cp_max_pool2d(tensor x, int64_t k, int64_t stride, int64_t pad, int ceil_mode, tensor *out);
cerr cp_avg_pool2d(tensor x, int64_t k, int64_t stride, int64_t pad, int ceil_mode, int count_include_pad, tensor *out);
cerr cp_adaptive_avg_pool2d(tensor x, int64_t h, int64_t w, tensor *out);
// mode: 0 nearest 1 bilinear
cerr cp_interpolate(tensor x, int64_t h, int64_t w, int mode, int align_corners, tensor *out);

// ---- losses (reduction: 0 none 1 mean 2 sum) -----------------------------
cerr cp_mse_loss(tensor a, tensor b, int reduction, tensor *out);
cerr cp_l1_loss(tensor a, tensor b, int reduction, tensor *out);
cerr cp_bce_with_logits(tensor a, tensor b, int reduction, tensor *out);
cerr cp_bce(tensor a, tensor b, int reduction, tensor *out);
cerr cp_cross_entropy(tensor logits, tensor target, int reduction, tensor *out);

// ---- linear algebra ------------------------------------------------------
cerr cp_qr(tensor a, tensor *q, tensor *r);

// ---- optimizer -----------------------------------------------------------
// One torch.optim.Adam step (single-tensor path, amsgrad off) over n parameters
// whose moments live in m and v. step is the step number after increment.
cerr cp_adam_step(tensor *params, tensor *m, tensor *v, int n, int64_t step, double lr, double beta1,
                  double beta2, double eps, double weight_decay);

#ifdef __cplusplus
}
#endif

#endif
