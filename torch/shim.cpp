//go:build !sharedshim

// libtorch side of the binding. One translation unit on purpose: the ATen
// headers take most of the compile time, so every op lives here.
#include "shim.h"
#include "shim_guard.h"
#include "shim_fastops.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

namespace cpshim {
std::atomic<int> g_threads{0};
std::atomic<bool> g_grad{true};
std::atomic<int> g_autocast{-1};
std::atomic<bool> g_autocast_cuda{false};
thread_local int tl_threads = -1;
}  // namespace cpshim

using namespace cpshim;

namespace {

at::TensorOptions opts(int dtype, int device) {
  auto o = at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype));
  if (device >= 0) o = o.device(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
  return o;
}

at::Device dev(int device) {
  return device >= 0 ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)) : at::Device(at::kCPU);
}

// torch::cuda::device_count (the C++ frontend's, in libtorch_cpu) asks the
// CUDA hooks that libtorch_cuda registers when it is loaded; 0 without it.
int cuda_count() {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

// Context::setUserEnabledMkldnn was renamed in some 2.x releases
// (setuserEnabledOnednn); call whichever this libtorch has.
template <class C>
auto set_mkldnn(C &ctx, bool on, int) -> decltype(ctx.setUserEnabledMkldnn(on), void()) {
  ctx.setUserEnabledMkldnn(on);
}
template <class C>
auto set_mkldnn(C &ctx, bool on, long) -> decltype(ctx.setuserEnabledOnednn(on), void()) {
  ctx.setuserEnabledOnednn(on);
}
template <class C>
void set_mkldnn(C &, bool, ...) {}

}  // namespace

extern "C" {

// ---- runtime -------------------------------------------------------------
void cp_set_num_threads(int n) {
  g_threads.store(n);
  tl_threads = -1;
  try {
    at::set_num_threads(n);
    tl_threads = n;
  } catch (...) {
  }
}
int cp_get_num_threads(void) {
  int n = g_threads.load();
  return n > 0 ? n : at::get_num_threads();
}
void cp_manual_seed(uint64_t seed) { at::manual_seed(seed); }
cerr cp_rng_state(tensor *out) {
  GUARD({
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = H(gen.get_state());
  })
}
cerr cp_set_rng_state(tensor state) {
  GUARD({
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(T(state));
  })
}
void cp_set_grad_enabled(int on) { g_grad.store(on != 0); }
int cp_grad_enabled(void) { return g_grad.load() ? 1 : 0; }
void cp_set_autocast(int dtype) {
  g_autocast_cuda.store(dtype >= 0 && cuda_count() > 0);
  g_autocast.store(dtype);
  if (dtype < 0) {
    try {
      at::autocast::clear_cache();
    } catch (...) {
    }
  }
}
int cp_get_autocast(void) { return g_autocast.load(); }
int cp_cuda_device_count(void) { return cuda_count(); }
void cp_set_cudnn_benchmark(int on) { at::globalContext().setBenchmarkCuDNN(on != 0); }
cerr cp_synchronize(int device) {
  GUARD({
    if (device >= 0) torch::cuda::synchronize(device);
  })
}
int cp_has_mkldnn(void) { return at::hasMKLDNN() ? 1 : 0; }
void cp_set_mkldnn(int on) { set_mkldnn(at::globalContext(), on != 0, 0); }
const char *cp_version(void) { return TORCH_VERSION; }
cerr cp_parallel_info(char **out) { GUARD({ *out = dup(at::get_parallel_info().c_str()); }) }

// ---- lifecycle and data --------------------------------------------------
void cp_free(tensor t) { delete static_cast<at::Tensor *>(t); }

cerr cp_from_data(const void *data, const int64_t *shape, int ndim, int dtype, int device, tensor *out) {
  GUARD({
    auto cpu = at::empty(A(shape, ndim), opts(dtype, -1));
    if (cpu.numel() > 0) std::memcpy(cpu.data_ptr(), data, cpu.numel() * cpu.element_size());
    *out = H(device >= 0 ? cpu.to(dev(device)) : cpu);
  })
}

cerr cp_copy_data(tensor t, void *dst, int64_t nbytes) {
  GUARD({
    auto c = T(t).detach().to(at::kCPU).contiguous();
    int64_t have = c.numel() * c.element_size();
    if (have != nbytes) throw std::runtime_error("copy_data: tensor has " + std::to_string(have) +
                                                 " bytes, destination " + std::to_string(nbytes));
    if (have > 0) std::memcpy(dst, c.data_ptr(), have);
  })
}

int cp_ndim(tensor t) { return static_cast<int>(T(t).dim()); }
void cp_shape(tensor t, int64_t *dims) {
  auto s = T(t).sizes();
  for (size_t i = 0; i < s.size(); i++) dims[i] = s[i];
}
int cp_dtype(tensor t) { return static_cast<int>(T(t).scalar_type()); }
int cp_device(tensor t) { return T(t).is_cuda() ? T(t).device().index() : -1; }
int64_t cp_numel(tensor t) { return T(t).numel(); }
cerr cp_item(tensor t, double *out) { GUARD({ *out = T(t).item<double>(); }) }
int cp_defined(tensor t) { return t && T(t).defined() ? 1 : 0; }
int cp_same(tensor a, tensor b) { return T(a).is_same(T(b)) ? 1 : 0; }

// ---- creation ------------------------------------------------------------
cerr cp_new(int kind, const int64_t *shape, int ndim, int dtype, int device, double value, tensor *out) {
  GUARD({
    auto s = A(shape, ndim);
    auto o = opts(dtype, device);
    switch (kind) {
      case CP_NEW_ZEROS: *out = H(at::zeros(s, o)); break;
      case CP_NEW_ONES: *out = H(at::ones(s, o)); break;
      case CP_NEW_FULL: *out = H(at::full(s, value, o)); break;
      case CP_NEW_EMPTY: *out = H(at::empty(s, o)); break;
      case CP_NEW_RANDN: *out = H(at::randn(s, o)); break;
      case CP_NEW_RAND: *out = H(at::rand(s, o)); break;
      default: throw std::runtime_error("cp_new: bad kind");
    }
  })
}

cerr cp_arange(double start, double end, double step, int dtype, int device, tensor *out) {
  GUARD({ *out = H(at::arange(start, end, step, opts(dtype, device))); })
}

// ---- autograd ------------------------------------------------------------
cerr cp_set_requires_grad(tensor t, int on) { GUARD({ T(t).set_requires_grad(on != 0); }) }
int cp_requires_grad(tensor t) { return T(t).requires_grad() ? 1 : 0; }
cerr cp_grad(tensor t, tensor *out) {
  GUARD({
    const auto &g = T(t).grad();
    *out = g.defined() ? H(g) : nullptr;
  })
}
cerr cp_zero_grad(tensor t) { GUARD({ T(t).mutable_grad().reset(); }) }
cerr cp_backward(tensor loss, tensor grad_out, int retain_graph) {
  GUARD({
    std::vector<at::Tensor> go;
    if (grad_out) go.push_back(T(grad_out));
    // retain_graph is c10::optional (1.x) or std::optional (2.x): `true`
    // and `{}` convert to either.
    if (retain_graph) torch::autograd::backward({T(loss)}, go, true, false);
    else torch::autograd::backward({T(loss)}, go, {}, false);
  })
}
cerr cp_autograd_grad(tensor *outputs, tensor *grad_outputs, int nout, tensor *inputs, int nin, int retain_graph,
                      int create_graph, int allow_unused, tensor *results) {
  GUARD({
    std::vector<at::Tensor> outs, gos, ins;
    for (int i = 0; i < nout; i++) {
      outs.push_back(T(outputs[i]));
      gos.push_back(grad_outputs ? O(grad_outputs[i]) : at::Tensor());
    }
    for (int i = 0; i < nin; i++) ins.push_back(T(inputs[i]));
    auto r = retain_graph ? torch::autograd::grad(outs, ins, gos, true, create_graph != 0, allow_unused != 0)
                          : torch::autograd::grad(outs, ins, gos, {}, create_graph != 0, allow_unused != 0);
    for (int i = 0; i < nin; i++) results[i] = r[i].defined() ? H(r[i]) : nullptr;
  })
}

// ---- element-wise --------------------------------------------------------
cerr cp_unary(int op, tensor a, tensor *out) {
  GUARD({
    auto &x = T(a);
    switch (op) {
      case CP_U_NEG: *out = H(at::neg(x)); break;
      case CP_U_ABS: *out = H(at::abs(x)); break;
      case CP_U_SQRT: *out = H(at::sqrt(x)); break;
      case CP_U_EXP: *out = H(at::exp(x)); break;
      case CP_U_LOG: *out = H(at::log(x)); break;
      case CP_U_RELU: *out = H(at::relu(x)); break;
      case CP_U_TANH: *out = H(at::tanh(x)); break;
      case CP_U_SIGMOID: *out = H(at::sigmoid(x)); break;
      case CP_U_SIGN: *out = H(at::sign(x)); break;
      case CP_U_SQUARE: *out = H(at::square(x)); break;
      case CP_U_RSQRT: *out = H(at::rsqrt(x)); break;
      case CP_U_FLOOR: *out = H(at::floor(x)); break;
      case CP_U_ROUND: *out = H(at::round(x)); break;
      case CP_U_COS: *out = H(at::cos(x)); break;
      case CP_U_SIN: *out = H(at::sin(x)); break;
      case CP_U_DIAG: *out = H(at::diag(x)); break;
      case CP_U_RELU_: *out = H(at::relu_(x)); break;
      default: throw std::runtime_error("cp_unary: bad op");
    }
  })
}

cerr cp_binary(int op, tensor a, tensor b, tensor *out) {
  GUARD({
    auto &x = T(a);
    auto &y = T(b);
    switch (op) {
      case CP_B_ADD: *out = H(at::add(x, y)); break;
      case CP_B_SUB: *out = H(at::sub(x, y)); break;
      case CP_B_MUL: *out = H(at::mul(x, y)); break;
      case CP_B_DIV: *out = H(at::div(x, y)); break;
      case CP_B_POW: *out = H(at::pow(x, y)); break;
      case CP_B_MAXIMUM: *out = H(at::maximum(x, y)); break;
      case CP_B_MINIMUM: *out = H(at::minimum(x, y)); break;
      case CP_B_EQ: *out = H(at::eq(x, y)); break;
      case CP_B_GT: *out = H(at::gt(x, y)); break;
      case CP_B_LT: *out = H(at::lt(x, y)); break;
      case CP_B_GE: *out = H(at::ge(x, y)); break;
      case CP_B_LE: *out = H(at::le(x, y)); break;
      default: throw std::runtime_error("cp_binary: bad op");
    }
  })
}

cerr cp_scalar(int op, tensor a, double s, tensor *out) {
  GUARD({
    auto &x = T(a);
    switch (op) {
      case CP_S_ADD: *out = H(at::add(x, s)); break;
      case CP_S_SUB: *out = H(at::sub(x, s)); break;
      case CP_S_MUL: *out = H(at::mul(x, s)); break;
      case CP_S_DIV: *out = H(at::div(x, s)); break;
      case CP_S_POW: *out = H(at::pow(x, s)); break;
      case CP_S_RSUB: *out = H(at::rsub(x, s)); break;
      case CP_S_EQ: *out = H(at::eq(x, s)); break;
      case CP_S_GT: *out = H(at::gt(x, s)); break;
      case CP_S_LT: *out = H(at::lt(x, s)); break;
      case CP_S_GE: *out = H(at::ge(x, s)); break;
      case CP_S_LE: *out = H(at::le(x, s)); break;
      default: throw std::runtime_error("cp_scalar: bad op");
    }
  })
}

cerr cp_leaky_relu(tensor a, double slope, tensor *out) { GUARD({ *out = H(at::leaky_relu(T(a), slope)); }) }
cerr cp_clamp(tensor a, double lo, double hi, tensor *out) { GUARD({ *out = H(at::clamp(T(a), lo, hi)); }) }
cerr cp_where(tensor cond, tensor a, tensor b, tensor *out) { GUARD({ *out = H(at::where(T(cond), T(a), T(b))); }) }
cerr cp_addcmul(tensor a, tensor b, tensor c, double value, tensor *out) {
  GUARD({ *out = H(at::addcmul(T(a), T(b), T(c), value)); })
}

// ---- reductions ----------------------------------------------------------
cerr cp_reduce(int op, tensor a, const int64_t *dims, int ndims, int keepdim, tensor *out) {
  GUARD({
    auto &x = T(a);
    bool all = ndims == 0;
    auto d = A(dims, ndims);
    switch (op) {
      case CP_R_SUM: *out = H(all ? at::sum(x) : at::sum(x, d, keepdim != 0)); break;
      case CP_R_MEAN: *out = H(all ? at::mean(x) : at::mean(x, d, keepdim != 0)); break;
      case CP_R_MAX:
        if (all) *out = H(at::max(x));
        else if (ndims == 1) *out = H(std::get<0>(at::max(x, dims[0], keepdim != 0)));
        else *out = H(at::amax(x, d, keepdim != 0));
        break;
      case CP_R_MIN:
        if (all) *out = H(at::min(x));
        else if (ndims == 1) *out = H(std::get<0>(at::min(x, dims[0], keepdim != 0)));
        else *out = H(at::amin(x, d, keepdim != 0));
        break;
      case CP_R_PROD:
        if (all) *out = H(at::prod(x));
        else if (ndims == 1) *out = H(at::prod(x, dims[0], keepdim != 0));
        else throw std::runtime_error("prod over several dims is not supported");
        break;
      default: throw std::runtime_error("cp_reduce: bad op");
    }
  })
}

cerr cp_norm(tensor a, double p, const int64_t *dims, int ndims, int keepdim, tensor *out) {
  GUARD({
    if (ndims == 0) *out = H(at::norm(T(a), p));
    else *out = H(at::norm(T(a), p, A(dims, ndims), keepdim != 0));
  })
}

cerr cp_var(tensor a, const int64_t *dims, int ndims, int unbiased, int keepdim, tensor *out) {
  GUARD({
    if (ndims == 0) *out = H(at::var(T(a), unbiased != 0));
    else *out = H(at::var(T(a), A(dims, ndims), unbiased != 0, keepdim != 0));
  })
}

cerr cp_argmax(tensor a, int64_t dim, int keepdim, tensor *out) { GUARD({ *out = H(at::argmax(T(a), dim, keepdim != 0)); }) }
cerr cp_softmax(tensor a, int64_t dim, int log, tensor *out) {
  GUARD({ *out = H(log ? at::log_softmax(T(a), dim) : at::softmax(T(a), dim)); })
}

// ---- shape ---------------------------------------------------------------
cerr cp_reshape(tensor a, const int64_t *shape, int ndim, tensor *out) { GUARD({ *out = H(at::reshape(T(a), A(shape, ndim))); }) }
cerr cp_permute(tensor a, const int64_t *dims, int ndim, tensor *out) { GUARD({ *out = H(T(a).permute(A(dims, ndim))); }) }
cerr cp_expand(tensor a, const int64_t *shape, int ndim, tensor *out) { GUARD({ *out = H(T(a).expand(A(shape, ndim))); }) }
cerr cp_slice(tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, tensor *out) {
  GUARD({ *out = H(at::slice(T(a), dim, start, end, step)); })
}
cerr cp_select(tensor a, int64_t dim, int64_t index, tensor *out) { GUARD({ *out = H(at::select(T(a), dim, index)); }) }
cerr cp_index_select(tensor a, int64_t dim, tensor index, tensor *out) {
  GUARD({ *out = H(at::index_select(T(a), dim, T(index))); })
}
cerr cp_flip(tensor a, const int64_t *dims, int ndim, tensor *out) { GUARD({ *out = H(at::flip(T(a), A(dims, ndim))); }) }
cerr cp_transpose(tensor a, int64_t d0, int64_t d1, tensor *out) { GUARD({ *out = H(at::transpose(T(a), d0, d1)); }) }
cerr cp_squeeze(tensor a, int64_t dim, tensor *out) { GUARD({ *out = H(at::squeeze(T(a), dim)); }) }
cerr cp_unsqueeze(tensor a, int64_t dim, tensor *out) { GUARD({ *out = H(at::unsqueeze(T(a), dim)); }) }
cerr cp_cat(tensor *ts, int n, int64_t dim, int stack, tensor *out) {
  GUARD({
    std::vector<at::Tensor> v;
    v.reserve(n);
    for (int i = 0; i < n; i++) v.push_back(T(ts[i]));
    *out = H(stack ? at::stack(v, dim) : at::cat(v, dim));
  })
}
cerr cp_contiguous(tensor a, int memory_format, tensor *out) {
  GUARD({ *out = H(T(a).contiguous(memory_format == 1 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous)); })
}
cerr cp_to(tensor a, int dtype, int device, tensor *out) {
  GUARD({ *out = H(T(a).to(dev(device), static_cast<at::ScalarType>(dtype))); })
}
cerr cp_clone(tensor a, tensor *out) { GUARD({ *out = H(T(a).clone()); }) }
cerr cp_detach(tensor a, tensor *out) { GUARD({ *out = H(T(a).detach()); }) }
cerr cp_one_hot(tensor a, int64_t classes, tensor *out) { GUARD({ *out = H(at::one_hot(T(a), classes)); }) }

// ---- in-place ------------------------------------------------------------
cerr cp_inplace(int op, tensor t, double a, double b) {
  GUARD({
    at::NoGradGuard ng;
    auto &x = T(t);
    switch (op) {
      case CP_I_FILL: x.fill_(a); break;
      case CP_I_ZERO: x.zero_(); break;
      case CP_I_NORMAL: x.normal_(a, b); break;
      case CP_I_UNIFORM: x.uniform_(a, b); break;
      case CP_I_ADD:
        if (at::isIntegralType(x.scalar_type(), true)) x.add_(static_cast<int64_t>(a));
        else x.add_(a);
        break;
      case CP_I_MUL: x.mul_(a); break;
      default: throw std::runtime_error("cp_inplace: bad op");
    }
  })
}
cerr cp_copy_(tensor dst, tensor src) {
  GUARD({
    at::NoGradGuard ng;
    T(dst).copy_(T(src));
  })
}

// ---- neural network ------------------------------------------------------
cerr cp_conv2d(tensor x, tensor w, tensor b, int64_t stride, int64_t pad, int64_t dilation, int64_t groups, tensor *out) {
  GUARD({
    at::Tensor y;
    if (!cpshim::dnnl_conv2d(T(x), T(w), O(b), stride, pad, dilation, groups, y))
      y = at::conv2d(T(x), T(w), O(b), {stride, stride}, {pad, pad}, {dilation, dilation}, groups);
    *out = H(std::move(y));
  })
}
cerr cp_conv_transpose2d(tensor x, tensor w, tensor b, int64_t stride, int64_t pad, int64_t out_pad, int64_t dilation,
                         int64_t groups, tensor *out) {
  GUARD({
    at::Tensor y;
    if (!cpshim::dnnl_conv_transpose2d(T(x), T(w), O(b), stride, pad, out_pad, dilation, groups, y))
      y = at::conv_transpose2d(T(x), T(w), O(b), {stride, stride}, {pad, pad}, {out_pad, out_pad}, groups,
                               {dilation, dilation});
    *out = H(std::move(y));
  })
}
cerr cp_linear(tensor x, tensor w, tensor b, tensor *out) { GUARD({ *out = H(at::linear(T(x), T(w), O(b))); }) }
cerr cp_matmul(tensor a, tensor b, tensor *out) { GUARD({ *out = H(at::matmul(T(a), T(b))); }) }
cerr cp_bmm(tensor a, tensor b, tensor *out) { GUARD({ *out = H(at::bmm(T(a), T(b))); }) }
cerr cp_masked_fill(tensor a, tensor mask, double value, tensor *out) {
  GUARD({ *out = H(at::masked_fill(T(a), T(mask), value)); })
}
cerr cp_pad2d(tensor x, int mode, int64_t left, int64_t right, int64_t top, int64_t bottom, double value, tensor *out) {
  GUARD({
    int64_t p[4] = {left, right, top, bottom};
    switch (mode) {
      case CP_PAD_REFLECT: {
        at::Tensor y;
        if (!cpshim::fast_reflection_pad2d(T(x), left, right, top, bottom, y)) y = at::reflection_pad2d(T(x), p);
        *out = H(std::move(y));
        break;
      }
      case CP_PAD_REPLICATE: *out = H(at::replication_pad2d(T(x), p)); break;
      case CP_PAD_CONSTANT: *out = H(at::constant_pad_nd(T(x), p, value)); break;
      default: throw std::runtime_error("cp_pad2d: bad mode");
    }
  })
}
cerr cp_batch_norm(tensor x, tensor w, tensor b, tensor rmean, tensor rvar, int training, double momentum, double eps,
                   tensor *out) {
  // cudnn_enabled as F.batch_norm passes it (torch.backends.cudnn.enabled);
  // it only matters for CUDA tensors.
  GUARD({
    *out = H(at::batch_norm(T(x), O(w), O(b), O(rmean), O(rvar), training != 0, momentum, eps,
                            at::globalContext().userEnabledCuDNN()));
  })
}
cerr cp_instance_norm(tensor x, tensor w, tensor b, tensor rmean, tensor rvar, int use_input_stats, double momentum,
                      double eps, tensor *out) {
  GUARD({
    *out = H(at::instance_norm(T(x), O(w), O(b), O(rmean), O(rvar), use_input_stats != 0, momentum, eps,
                               at::globalContext().userEnabledCuDNN()));
  })
}
cerr cp_dropout(tensor x, double p, int train, tensor *out) { GUARD({ *out = H(at::dropout(T(x), p, train != 0)); }) }
cerr cp_max_pool2d(tensor x, int64_t k, int64_t stride, int64_t pad, int ceil_mode, tensor *out) {
  GUARD({ *out = H(at::max_pool2d(T(x), {k, k}, {stride, stride}, {pad, pad}, {1, 1}, ceil_mode != 0)); })
}
cerr cp_avg_pool2d(tensor x, int64_t k, int64_t stride, int64_t pad, int ceil_mode, int count_include_pad, tensor *out) {
  GUARD({
    *out = H(at::avg_pool2d(T(x), {k, k}, {stride, stride}, {pad, pad}, ceil_mode != 0, count_include_pad != 0));
  })
}
cerr cp_adaptive_avg_pool2d(tensor x, int64_t h, int64_t w, tensor *out) {
  GUARD({ *out = H(at::adaptive_avg_pool2d(T(x), {h, w})); })
}
cerr cp_interpolate(tensor x, int64_t h, int64_t w, int mode, int align_corners, tensor *out) {
  GUARD({
    if (mode == 0) *out = H(at::upsample_nearest2d(T(x), {h, w}));
    else *out = H(at::upsample_bilinear2d(T(x), {h, w}, align_corners != 0));
  })
}

// ---- losses --------------------------------------------------------------
cerr cp_mse_loss(tensor a, tensor b, int reduction, tensor *out) { GUARD({ *out = H(at::mse_loss(T(a), T(b), reduction)); }) }
cerr cp_l1_loss(tensor a, tensor b, int reduction, tensor *out) { GUARD({ *out = H(at::l1_loss(T(a), T(b), reduction)); }) }
cerr cp_bce_with_logits(tensor a, tensor b, int reduction, tensor *out) {
  GUARD({ *out = H(at::binary_cross_entropy_with_logits(T(a), T(b), at::Tensor(), at::Tensor(), reduction)); })
}
cerr cp_bce(tensor a, tensor b, int reduction, tensor *out) {
  GUARD({ *out = H(at::binary_cross_entropy(T(a), T(b), at::Tensor(), reduction)); })
}
cerr cp_cross_entropy(tensor logits, tensor target, int reduction, tensor *out) {
  GUARD({ *out = H(at::cross_entropy_loss(T(logits), T(target), at::Tensor(), reduction, -100, 0.0)); })
}

// ---- linear algebra ------------------------------------------------------
cerr cp_qr(tensor a, tensor *q, tensor *r) {
  GUARD({
    auto res = at::linalg_qr(T(a), "reduced");
    *q = H(std::get<0>(res));
    *r = H(std::get<1>(res));
  })
}

// ---- optimizer -----------------------------------------------------------
cerr cp_adam_step(tensor *params, tensor *m, tensor *v, int n, int64_t step, double lr, double beta1, double beta2,
                  double eps, double weight_decay) {
  GUARD({
    at::NoGradGuard ng;
    // Same arithmetic and order as torch.optim.adam._single_tensor_adam (1.13).
    double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
    double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
    double step_size = lr / bc1;
    double bc2_sqrt = std::sqrt(bc2);
    for (int i = 0; i < n; i++) {
      auto &p = T(params[i]);
      const auto &g0 = p.grad();
      if (!g0.defined()) continue;
      at::Tensor g = weight_decay != 0 ? g0.add(p, weight_decay) : g0;
      auto &ea = T(m[i]);
      auto &eas = T(v[i]);
      if (cpshim::fast_adam_update(p, g0, ea, eas, step_size, bc2_sqrt, beta1, beta2, eps, weight_decay)) continue;
      ea.mul_(beta1).add_(g, 1 - beta1);
      eas.mul_(beta2).addcmul_(g, g, 1 - beta2);
      auto denom = (eas.sqrt() / bc2_sqrt).add_(eps);
      p.addcdiv_(ea, denom, -step_size);
    }
  })
}

}  // extern "C"
