//go:build !sharedshim

// oneDNN convolutions with their own autograd backward (see shim_fastops.h).
// Tensors come and go in PyTorch's plain layouts; oneDNN's blocked layouts
// live only inside one call, in buffers from libtorch's allocator.
#include "shim_fastops.h"

#ifdef CYCLEPIX_DNNL
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/util/intrusive_ptr.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#if DNNL_VERSION_MAJOR != 2
#error "shim_dnnl.cpp is written against the oneDNN 2.x API; build without -DCYCLEPIX_DNNL"
#endif
#endif

namespace cpshim {

#ifndef CYCLEPIX_DNNL

bool dnnl_conv2d(const at::Tensor &, const at::Tensor &, const at::Tensor &, int64_t, int64_t, int64_t, int64_t,
                 at::Tensor &) {
  return false;
}
bool dnnl_conv_transpose2d(const at::Tensor &, const at::Tensor &, const at::Tensor &, int64_t, int64_t, int64_t,
                           int64_t, int64_t, at::Tensor &) {
  return false;
}
int64_t dnnl_calls() { return 0; }

#else

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One layer shape's primitives: forward, backward-data and backward-weights,
// created once (descriptor creation walks oneDNN's implementation list) and
// reused for every call with that shape.
struct Plan {
  memory::desc src, wei, bias, dst;  // plain (PyTorch) layouts
  dnnl::primitive_desc_base fwd_pd, bwd_data_pd, bwd_w_pd;
  dnnl::primitive fwd, bwd_data, bwd_w;
  bool has_bias = false;
};

using Key = std::tuple<bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, bool, bool, int64_t>;  // ..., has_bias, inference, groups

std::mutex g_mu;
std::map<Key, std::shared_ptr<Plan>> g_plans;  // nullptr: oneDNN declined this shape

memory::dims dims(at::IntArrayRef s) { return memory::dims(s.begin(), s.end()); }

memory::desc any(const memory::desc &d) { return memory::desc(d.dims(), dt::f32, tag::any); }

// A plan with the plain (PyTorch) layouts of a call's tensors filled in.
std::shared_ptr<Plan> plain_layouts(bool transposed, const at::Tensor &x, const at::Tensor &w, bool has_bias,
                                    const memory::dims &out, int64_t groups = 1) {
  auto p = std::make_shared<Plan>();
  p->has_bias = has_bias;
  p->src = memory::desc(dims(x.sizes()), dt::f32, tag::nchw);
  p->wei = memory::desc(dims(w.sizes()), dt::f32, tag::oihw);
  p->dst = memory::desc(out, dt::f32, tag::nchw);
  p->bias = memory::desc({out[1]}, dt::f32, tag::x);
  if (groups > 1) {
    // Grouped weights are 5-D for oneDNN, (groups, out/g, in/g, kh, kw).
    // PyTorch's (out, in/g, kh, kw) is the same memory read as goihw; a
    // transposed convolution's (in, out/g, kh, kw) as giohw.
    int64_t kh = w.size(2), kw = w.size(3);
    if (transposed) {
      p->wei = memory::desc({groups, w.size(1), w.size(0) / groups, kh, kw}, dt::f32, tag::giohw);
    } else {
      p->wei = memory::desc({groups, w.size(0) / groups, w.size(1), kh, kw}, dt::f32, tag::goihw);
    }
    return p;
  }
  if (transposed) {
    // PyTorch stores a transposed convolution's weights as (in, out, kh, kw);
    // oneDNN's deconvolution wants (out, in, kh, kw) dims, which is the same
    // memory read as iohw.
    memory::dims wd = dims(w.sizes());
    std::swap(wd[0], wd[1]);
    p->wei = memory::desc(wd, dt::f32, tag::iohw);
  }
  return p;
}

// oneDNN's default "library" scratchpad is a thread-local buffer sized on
// the thread that created the primitive; Go runs calls on whichever OS
// thread is free, so each call brings its own (Call::scratchpad).
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Builds the plan, or returns nullptr where oneDNN does not offer what makes
// it worth taking over from ATen (Winograd for a convolution).
std::shared_ptr<Plan> build(bool transposed, const at::Tensor &x, const at::Tensor &w, bool has_bias,
                            const memory::dims &out, int64_t stride, int64_t pad_l, int64_t pad_r, int64_t dilation) {
  auto p = plain_layouts(transposed, x, w, has_bias, out);
  memory::dims st{stride, stride}, dl{dilation - 1, dilation - 1}, pl{pad_l, pad_l}, pr{pad_r, pad_r};
  auto e = engine();
  auto prop = dnnl::prop_kind::forward_training;
  dnnl::primitive_attr attr = user_scratchpad();
  if (!transposed) {
    auto alg = dnnl::algorithm::convolution_winograd;
    auto fd = has_bias ? dnnl::convolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->bias), any(p->dst),
                                                         st, dl, pl, pr)
                       : dnnl::convolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->dst), st, dl, pl, pr);
    dnnl::convolution_forward::primitive_desc fpd;
    try {
      fpd = dnnl::convolution_forward::primitive_desc(fd, attr, e);
    } catch (const dnnl::error &) {
      return nullptr;  // no Winograd kernel for this shape or CPU
    }
    auto bdd = dnnl::convolution_backward_data::desc(alg, any(p->src), any(p->wei), any(p->dst), st, dl, pl, pr);
    auto bwd = has_bias ? dnnl::convolution_backward_weights::desc(alg, any(p->src), any(p->wei), any(p->bias),
                                                                   any(p->dst), st, dl, pl, pr)
                        : dnnl::convolution_backward_weights::desc(alg, any(p->src), any(p->wei), any(p->dst), st, dl,
                                                                   pl, pr);
    dnnl::convolution_backward_data::primitive_desc bdpd;
    dnnl::convolution_backward_weights::primitive_desc bwpd;
    try {
      bdpd = dnnl::convolution_backward_data::primitive_desc(bdd, attr, e, fpd);
      bwpd = dnnl::convolution_backward_weights::primitive_desc(bwd, attr, e, fpd);
    } catch (const dnnl::error &) {
      return nullptr;
    }
    p->fwd_pd = fpd, p->bwd_data_pd = bdpd, p->bwd_w_pd = bwpd;
    p->fwd = dnnl::convolution_forward(fpd);
    p->bwd_data = dnnl::convolution_backward_data(bdpd);
    p->bwd_w = dnnl::convolution_backward_weights(bwpd);
  } else {
    auto alg = dnnl::algorithm::deconvolution_direct;
    auto fd = has_bias ? dnnl::deconvolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->bias),
                                                           any(p->dst), st, dl, pl, pr)
                       : dnnl::deconvolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->dst), st, dl, pl,
                                                           pr);
    auto bdd = dnnl::deconvolution_backward_data::desc(alg, any(p->src), any(p->wei), any(p->dst), st, dl, pl, pr);
    auto bwd = has_bias ? dnnl::deconvolution_backward_weights::desc(alg, any(p->src), any(p->wei), any(p->bias),
                                                                     any(p->dst), st, dl, pl, pr)
                        : dnnl::deconvolution_backward_weights::desc(alg, any(p->src), any(p->wei), any(p->dst), st,
                                                                     dl, pl, pr);
    try {
      auto fpd = dnnl::deconvolution_forward::primitive_desc(fd, attr, e);
      auto bdpd = dnnl::deconvolution_backward_data::primitive_desc(bdd, attr, e, fpd);
      auto bwpd = dnnl::deconvolution_backward_weights::primitive_desc(bwd, attr, e, fpd);
      p->fwd_pd = fpd, p->bwd_data_pd = bdpd, p->bwd_w_pd = bwpd;
      p->fwd = dnnl::deconvolution_forward(fpd);
      p->bwd_data = dnnl::deconvolution_backward_data(bdpd);
      p->bwd_w = dnnl::deconvolution_backward_weights(bwpd);
    } catch (const dnnl::error &) {
      return nullptr;
    }
  }
  // The reference implementation ("ref:any") is far slower than ATen.
  std::string impl = p->fwd_pd.impl_info_str();
  if (impl.find("ref") != std::string::npos || (!transposed && impl.find("wino") == std::string::npos)) return nullptr;
  return p;
}

// An inference plan: forward only (prop_kind forward_inference), direct
// convolution or deconvolution, for a call that builds no autograd graph.
// Returns nullptr where oneDNN offers only its reference kernels.
std::shared_ptr<Plan> build_infer(bool transposed, const at::Tensor &x, const at::Tensor &w, bool has_bias,
                                  const memory::dims &out, int64_t stride, int64_t pad_l, int64_t pad_r,
                                  int64_t dilation, int64_t groups) {
  auto p = plain_layouts(transposed, x, w, has_bias, out, groups);
  memory::dims st{stride, stride}, dl{dilation - 1, dilation - 1}, pl{pad_l, pad_l}, pr{pad_r, pad_r};
  auto prop = dnnl::prop_kind::forward_inference;
  dnnl::primitive_attr attr = user_scratchpad();
  try {
    if (transposed) {
      auto alg = dnnl::algorithm::deconvolution_direct;
      auto fd = has_bias ? dnnl::deconvolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->bias),
                                                             any(p->dst), st, dl, pl, pr)
                         : dnnl::deconvolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->dst), st, dl,
                                                             pl, pr);
      auto fpd = dnnl::deconvolution_forward::primitive_desc(fd, attr, engine());
      p->fwd_pd = fpd;
      p->fwd = dnnl::deconvolution_forward(fpd);
    } else {
      auto alg = dnnl::algorithm::convolution_direct;
      auto fd = has_bias ? dnnl::convolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->bias),
                                                           any(p->dst), st, dl, pl, pr)
                         : dnnl::convolution_forward::desc(prop, alg, any(p->src), any(p->wei), any(p->dst), st, dl, pl,
                                                           pr);
      auto fpd = dnnl::convolution_forward::primitive_desc(fd, attr, engine());
      p->fwd_pd = fpd;
      p->fwd = dnnl::convolution_forward(fpd);
    }
  } catch (const dnnl::error &) {
    return nullptr;
  }
  std::string impl = p->fwd_pd.impl_info_str();
  if (impl.find("ref") != std::string::npos) return nullptr;
  return p;
}

// An inference plan (build_infer) or a training one (forward, backward-data
// and backward-weights: build).
// Grouped (depthwise) layers take inference plans only.
std::shared_ptr<Plan> plan_for(bool inference, bool transposed, const at::Tensor &x, const at::Tensor &w, bool has_bias,
                               const memory::dims &out, int64_t stride, int64_t pad_l, int64_t pad_r,
                               int64_t dilation, int64_t groups = 1) {
  if (groups != 1 && !inference) return nullptr;
  Key k{transposed, x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(1), w.size(2), w.size(3),
        stride,     pad_l,     pad_r,     dilation,  has_bias,  inference, groups};
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_plans.find(k);
  if (it != g_plans.end()) return it->second;
  auto p = inference ? build_infer(transposed, x, w, has_bias, out, stride, pad_l, pad_r, dilation, groups)
                     : build(transposed, x, w, has_bias, out, stride, pad_l, pad_r, dilation);
  g_plans.emplace(k, p);
  return p;
}

// Buffers for a call's temporaries (blocked copies, scratchpads), kept per
// OS thread across calls: fresh multi-megabyte allocations are fresh mmaps,
// and their page faults made Winograd's weight gradient 3× slower. A call
// runs on one thread from start to wait(), so its thread's buffers are its
// own; the n-th request of a call always gets the n-th buffer.
thread_local std::vector<at::Tensor> tl_buffers;

struct Call {
  dnnl::stream s{engine()};
  size_t used = 0;
  // transient: this call's buffers are its own and freed with it, not the
  // thread's kept ones: for layers whose blocked copies are as large as
  // their activations (the depthwise blurs), keeping them would add a copy
  // of the largest activation to the resident set for good.
  bool transient = false;
  std::vector<at::Tensor> held;

  memory wrap(const memory::desc &d, const at::Tensor &t) {
    return memory(d, engine(), const_cast<void *>(t.data_ptr()));
  }
  memory scratch(const memory::desc &d) {
    int64_t n = static_cast<int64_t>(d.get_size());
    if (transient) {
      held.push_back(at::empty({n}, at::kByte));
      return memory(d, engine(), held.back().data_ptr());
    }
    if (used == tl_buffers.size()) tl_buffers.emplace_back();
    at::Tensor &t = tl_buffers[used++];
    if (!t.defined() || t.numel() < n) t = at::empty({n}, at::kByte);
    return memory(d, engine(), t.data_ptr());
  }
  // `have` in the layout `want`, reordered into a buffer when they differ.
  memory in(const memory::desc &want, memory have) {
    if (have.get_desc() == want) return have;
    memory m = scratch(want);
    dnnl::reorder(have, m).execute(s, have, m);
    return m;
  }
  // Where a primitive writes `want` that must end in `plain`: `plain` itself
  // when the layouts agree, else a buffer that finish() reorders back.
  std::vector<std::pair<memory, memory>> pending;
  memory out(const memory::desc &want, memory plain) {
    if (plain.get_desc() == want) return plain;
    memory m = scratch(want);
    pending.emplace_back(m, plain);
    return m;
  }
  void finish() {
    for (auto &pr : pending) dnnl::reorder(pr.first, pr.second).execute(s, pr.first, pr.second);
    s.wait();
  }
};

struct DnnlConv : public torch::autograd::Function<DnnlConv> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w,
                            const at::Tensor &b, std::shared_ptr<Plan> *plan) {
    Plan &p = **plan;
    at::Tensor xc = x.contiguous(), wc = w.contiguous();
    at::Tensor y = at::empty(at::IntArrayRef(p.dst.dims().data(), p.dst.dims().size()), x.options());
    Call c;
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, c.in(p.fwd_pd.src_desc(), c.wrap(p.src, xc))},
        {DNNL_ARG_WEIGHTS, c.in(p.fwd_pd.weights_desc(), c.wrap(p.wei, wc))},
        {DNNL_ARG_DST, c.out(p.fwd_pd.dst_desc(), c.wrap(p.dst, y))},
    };
    at::Tensor bc;
    if (p.has_bias) {
      bc = b.contiguous();
      args.emplace(DNNL_ARG_BIAS, c.wrap(p.bias, bc));
    }
    args.emplace(DNNL_ARG_SCRATCHPAD, c.scratch(p.fwd_pd.scratchpad_desc()));
    p.fwd.execute(c.s, args);
    c.finish();
    ctx->save_for_backward({xc, wc});
    // Plans live as long as the process (g_plans), so a plain pointer is safe.
    ctx->saved_data["plan"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(plan->get()));
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    Plan &p = *reinterpret_cast<Plan *>(static_cast<intptr_t>(ctx->saved_data["plan"].toInt()));
    auto saved = ctx->get_saved_variables();
    at::Tensor x = saved[0], w = saved[1];
    at::Tensor go = grads[0].contiguous();
    at::Tensor gx, gw, gb;
    Call c;
    if (ctx->needs_input_grad(0)) {
      gx = at::empty_like(x);
      p.bwd_data.execute(c.s, {{DNNL_ARG_DIFF_DST, c.in(p.bwd_data_pd.diff_dst_desc(), c.wrap(p.dst, go))},
                               {DNNL_ARG_WEIGHTS, c.in(p.bwd_data_pd.weights_desc(), c.wrap(p.wei, w))},
                               {DNNL_ARG_DIFF_SRC, c.out(p.bwd_data_pd.diff_src_desc(), c.wrap(p.src, gx))},
                               {DNNL_ARG_SCRATCHPAD, c.scratch(p.bwd_data_pd.scratchpad_desc())}});
    }
    if (ctx->needs_input_grad(1) || (p.has_bias && ctx->needs_input_grad(2))) {
      gw = at::empty_like(w);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, c.in(p.bwd_w_pd.src_desc(), c.wrap(p.src, x))},
          {DNNL_ARG_DIFF_DST, c.in(p.bwd_w_pd.diff_dst_desc(), c.wrap(p.dst, go))},
          {DNNL_ARG_DIFF_WEIGHTS, c.out(p.bwd_w_pd.diff_weights_desc(), c.wrap(p.wei, gw))},
      };
      if (p.has_bias) {
        gb = at::empty({p.bias.dims()[0]}, x.options());
        args.emplace(DNNL_ARG_DIFF_BIAS, c.out(p.bwd_w_pd.diff_weights_desc(1), c.wrap(p.bias, gb)));
      }
      args.emplace(DNNL_ARG_SCRATCHPAD, c.scratch(p.bwd_w_pd.scratchpad_desc()));
      p.bwd_w.execute(c.s, args);
    }
    c.finish();
    return {gx, gw, gb, at::Tensor()};
  }
};

// Weights laid out for an inference plan, kept from call to call: oneDNN's
// kernels want blocked weights (OIhw16i16o and the like) and PyTorch keeps
// them plain, so re-laying them out on every call cost U-Net inference 40 %
// of its oneDNN time. A copy is valid while its tensor lives (the weak
// pointer also keeps the TensorImpl's address from being reused by another
// tensor) and its data pointer and version counter are unchanged: every
// in-place write (optimizer steps, copy_ from a checkpoint) bumps the
// version.
struct Packed {
  c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl> owner;
  int64_t version;
  const void *data;
  at::Tensor buf;
};
std::mutex g_pack_mu;
std::map<std::pair<const c10::TensorImpl *, const Plan *>, Packed> g_packed;

// Returns w in the plan's weight layout, and the buffer that holds it.
std::pair<memory, at::Tensor> packed_weights(Call &c, const Plan &p, const at::Tensor &w) {
  memory::desc want = p.fwd_pd.weights_desc();
  memory plain = c.wrap(p.wei, w);
  if (want == p.wei) return {plain, w};
  if (!w.is_contiguous() || w.is_inference()) return {c.in(want, plain), at::Tensor()};
  auto key = std::make_pair(static_cast<const c10::TensorImpl *>(w.unsafeGetTensorImpl()), &p);
  int64_t version = static_cast<int64_t>(w._version());
  const void *data = w.data_ptr();
  {
    std::lock_guard<std::mutex> lock(g_pack_mu);
    auto it = g_packed.find(key);
    if (it != g_packed.end() && !it->second.owner.expired() && it->second.version == version &&
        it->second.data == data) {
      at::Tensor buf = it->second.buf;
      return {memory(want, engine(), buf.data_ptr()), buf};
    }
  }
  at::Tensor buf = at::empty({static_cast<int64_t>(want.get_size())}, at::kByte);
  memory m(want, engine(), buf.data_ptr());
  dnnl::reorder(plain, m).execute(c.s, plain, m);
  c.s.wait();
  std::lock_guard<std::mutex> lock(g_pack_mu);
  for (auto it = g_packed.begin(); it != g_packed.end();) it = it->second.owner.expired() ? g_packed.erase(it) : ++it;
  g_packed.insert_or_assign(
      key, Packed{c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>(w.getIntrusivePtr()), version,
                  data, buf});
  return {m, buf};
}

// The forward of an inference plan, outside autograd.
at::Tensor infer(const Plan &p, const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, bool transient = false) {
  at::Tensor xc = x.contiguous();
  at::Tensor y = at::empty(at::IntArrayRef(p.dst.dims().data(), p.dst.dims().size()), x.options());
  Call c;
  c.transient = transient;
  auto wei = packed_weights(c, p, w);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, c.in(p.fwd_pd.src_desc(), c.wrap(p.src, xc))},
      {DNNL_ARG_WEIGHTS, wei.first},
      {DNNL_ARG_DST, c.out(p.fwd_pd.dst_desc(), c.wrap(p.dst, y))},
  };
  at::Tensor bc;
  if (p.has_bias) {
    bc = b.contiguous();
    args.emplace(DNNL_ARG_BIAS, c.in(p.fwd_pd.weights_desc(1), c.wrap(p.bias, bc)));
  }
  args.emplace(DNNL_ARG_SCRATCHPAD, c.scratch(p.fwd_pd.scratchpad_desc()));
  p.fwd.execute(c.s, args);
  c.finish();
  return y;
}

// Whether a call builds no autograd graph (inference, test, serve, the
// evaluations during training), so the prepacked forward may take it.
bool no_graph(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b) {
  if (!c10::GradMode::is_enabled()) return true;
  return !x.requires_grad() && !w.requires_grad() && !(b.defined() && b.requires_grad());
}

// Whether a layer's weights are worth keeping laid out: a re-layout costs
// in proportion to the weights, the convolution in proportion to weights ×
// positions (the output's for a convolution, the input's for a
// deconvolution), so the re-layout matters on small feature maps (U-Net's
// inner layers, which also hold most of its weights) and not on large ones,
// where the copy would only cost memory: measured on unet_256 at 256 and
// 512, caching up to 16×16 positions was as fast as up to 32×32. Winograd
// layers are never prepacked: their pre-transformed weights are 4× the
// plain ones, and measured on ResNet-9 at 256 neither they nor blocked
// weights beat the per-call re-layout.
bool worth_prepacking(int64_t positions) { return positions <= 16 * 16; }

// The cases oneDNN takes: plain fp32 CPU tensors outside autocast, and
// gradients that never need a second derivative through here (the gradient
// penalty differentiates discriminators, whose convolutions are never 3×3
// stride 1 or transposed in these models). Groups are the callers' to
// check: depthwise only, outside autograd.
bool eligible(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b) {
  if (x.dim() != 4 || w.dim() != 4) return false;
  if (!x.device().is_cpu() || !w.device().is_cpu() || x.scalar_type() != at::kFloat ||
      w.scalar_type() != at::kFloat)
    return false;
  if (b.defined() && (!b.device().is_cpu() || b.scalar_type() != at::kFloat || b.dim() != 1)) return false;
  if (x.is_mkldnn() || x.is_sparse() || x.numel() == 0) return false;
  if (at::autocast::is_cpu_enabled()) return false;
  return true;
}

// Custom autograd functions take defined tensors only: a missing bias
// travels as an empty one that the plan ignores.
at::Tensor with_bias(const at::Tensor &x, const at::Tensor &b) { return b.defined() ? b : at::empty({0}, x.options()); }

std::atomic<int64_t> g_taken{0};  // convolutions oneDNN took (cp_dnnl_calls)

// taken hands a call's result to the caller and counts it.
bool taken(at::Tensor &out, at::Tensor y) {
  out = std::move(y);
  g_taken.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace

int64_t dnnl_calls() { return g_taken.load(std::memory_order_relaxed); }

bool dnnl_conv2d(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t stride, int64_t pad,
                 int64_t dilation, int64_t groups, at::Tensor &out) {
  if (!eligible(x, w, b)) return false;
  int64_t oh = (x.size(2) + 2 * pad - dilation * (w.size(2) - 1) - 1) / stride + 1;
  int64_t ow = (x.size(3) + 2 * pad - dilation * (w.size(3) - 1) - 1) / stride + 1;
  if (oh <= 0 || ow <= 0) return false;
  memory::dims o{x.size(0), w.size(0), oh, ow};
  if (groups != 1) {
    // Depthwise (one input and one output channel per group, as CUT's
    // anti-aliasing blur), outside autograd only: ATen 1.13 runs these
    // channel by channel, a fifth of a CUT generator's inference.
    if (groups != x.size(1) || w.size(0) != groups || w.size(1) != 1 || !fast_op_on(kFastPrepack) ||
        !no_graph(x, w, b))
      return false;
    auto p = plan_for(true, false, x, w, b.defined(), o, stride, pad, pad, dilation, groups);
    return p && taken(out, infer(*p, x, w, b, true));
  }
  if (x.size(1) != w.size(1)) return false;
  // Winograd F(4×4, 3×3) pays off for 3×3 stride-1 layers with enough
  // channels (the ResNet blocks); elsewhere ATen's direct kernels win.
  bool wino = fast_op_on(kFastWinograd) && stride == 1 && dilation == 1 && w.size(2) == 3 && w.size(3) == 3 &&
              w.size(0) >= 32 && w.size(1) >= 32;
  if (!wino && fast_op_on(kFastPrepack) && no_graph(x, w, b) && worth_prepacking(oh * ow)) {
    // The same direct kernels as ATen's, with weights laid out once.
    if (auto p = plan_for(true, false, x, w, b.defined(), o, stride, pad, pad, dilation)) {
      return taken(out, infer(*p, x, w, b));
    }
  }
  if (!wino) return false;
  auto p = plan_for(false, false, x, w, b.defined(), o, 1, pad, pad, 1);
  if (p) return taken(out, DnnlConv::apply(x, w, with_bias(x, b), &p));
  // No oneDNN Winograd on this CPU (AVX2): outside autograd, the shim's own.
  at::Tensor y;
  if (no_graph(x, w, b) && wino_conv2d_infer(x, w, b, pad, y)) return taken(out, std::move(y));
  return false;
}

bool dnnl_conv_transpose2d(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t stride, int64_t pad,
                           int64_t out_pad, int64_t dilation, int64_t groups, at::Tensor &out) {
  if (!fast_op_on(kFastDeconv) || !eligible(x, w, b) || x.size(1) != w.size(0)) return false;
  int64_t pad_r = pad - out_pad;
  if (pad_r < 0 || out_pad >= stride) return false;
  int64_t k = w.size(2), oh = (x.size(2) - 1) * stride - 2 * pad + dilation * (k - 1) + out_pad + 1;
  int64_t ow = (x.size(3) - 1) * stride - 2 * pad + dilation * (w.size(3) - 1) + out_pad + 1;
  if (w.size(2) != w.size(3) || oh <= 0 || ow <= 0) return false;
  memory::dims o{x.size(0), w.size(1) * groups, oh, ow};
  if (groups != 1) {
    // Depthwise, outside autograd only (CUT's anti-aliased upsampling).
    if (groups != x.size(1) || w.size(1) != 1 || !fast_op_on(kFastPrepack) || !no_graph(x, w, b)) return false;
    auto p = plan_for(true, true, x, w, b.defined(), o, stride, pad, pad_r, dilation, groups);
    return p && taken(out, infer(*p, x, w, b, true));
  }
  if (fast_op_on(kFastPrepack) && no_graph(x, w, b) && worth_prepacking(x.size(2) * x.size(3))) {
    if (auto p = plan_for(true, true, x, w, b.defined(), o, stride, pad, pad_r, dilation)) {
      return taken(out, infer(*p, x, w, b));
    }
  }
  auto p = plan_for(false, true, x, w, b.defined(), o, stride, pad, pad_r, dilation);
  if (!p) return false;
  return taken(out, DnnlConv::apply(x, w, with_bias(x, b), &p));
}

#endif

}  // namespace cpshim
