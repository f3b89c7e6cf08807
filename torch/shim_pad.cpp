//go:build !sharedshim

// Reflection padding with its own autograd backward (see shim_fastops.h).
#include "shim_fastops.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>

namespace cpshim {

namespace {

// The source index a padded index reads: mirror without repeating the edge.
inline int64_t reflect(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

struct ReflectionPad : public torch::autograd::Function<ReflectionPad> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x, int64_t l, int64_t r,
                            int64_t t, int64_t b) {
    at::Tensor xc = x.contiguous();
    int64_t h = x.size(-2), w = x.size(-1), oh = h + t + b, ow = w + l + r;
    auto shape = x.sizes().vec();
    shape[shape.size() - 2] = oh, shape[shape.size() - 1] = ow;
    at::Tensor y = at::empty(shape, x.options());
    const float *src = xc.data_ptr<float>();
    float *dst = y.data_ptr<float>();
    int64_t planes = xc.numel() / (h * w);
    at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) {
        const float *s = src + p * h * w;
        float *d = dst + p * oh * ow;
        for (int64_t i = 0; i < oh; i++) {
          const float *srow = s + reflect(i - t, h) * w;
          float *drow = d + i * ow;
          for (int64_t j = 0; j < l; j++) drow[j] = srow[l - j];
          std::memcpy(drow + l, srow, static_cast<size_t>(w) * sizeof(float));
          for (int64_t j = 0; j < r; j++) drow[l + w + j] = srow[w - 2 - j];
        }
      }
    });
    ctx->saved_data["shape"] = x.sizes().vec();
    ctx->saved_data["pad"] = std::vector<int64_t>{l, r, t, b};
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    auto shape = ctx->saved_data["shape"].toIntVector();
    auto pad = ctx->saved_data["pad"].toIntVector();
    int64_t l = pad[0], t = pad[2];
    at::Tensor go = grads[0].contiguous();
    at::Tensor gx = at::zeros(shape, go.options());
    int64_t h = shape[shape.size() - 2], w = shape[shape.size() - 1];
    int64_t oh = go.size(-2), ow = go.size(-1), r = ow - w - l;
    const float *src = go.data_ptr<float>();
    float *dst = gx.data_ptr<float>();
    int64_t planes = gx.numel() / (h * w);
    // Each input element sums its output copies in row-major output order,
    // as ATen's kernel does.
    at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) {
        const float *s = src + p * oh * ow;
        float *d = dst + p * h * w;
        for (int64_t i = 0; i < oh; i++) {
          const float *grow = s + i * ow;
          float *drow = d + reflect(i - t, h) * w;
          for (int64_t j = 0; j < l; j++) drow[l - j] += grow[j];
          for (int64_t j = 0; j < w; j++) drow[j] += grow[l + j];
          for (int64_t j = 0; j < r; j++) drow[w - 2 - j] += grow[l + w + j];
        }
      }
    });
    return {gx, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool fast_reflection_pad2d(const at::Tensor &x, int64_t left, int64_t right, int64_t top, int64_t bottom,
                           at::Tensor &out) {
  if (!fast_op_on(kFastPad) || x.dim() < 3 || !x.device().is_cpu() || x.scalar_type() != at::kFloat || x.is_mkldnn() || x.numel() == 0)
    return false;
  int64_t h = x.size(-2), w = x.size(-1);
  if (left < 0 || right < 0 || top < 0 || bottom < 0 || left >= w || right >= w || top >= h || bottom >= h)
    return false;
  out = ReflectionPad::apply(x, left, right, top, bottom);
  return true;
}

}  // namespace cpshim
