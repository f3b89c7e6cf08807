//go:build !sharedshim

// One-pass Adam update (see shim_fastops.h).
#include "shim_fastops.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace cpshim {

bool fast_adam_update(at::Tensor &p, const at::Tensor &g, at::Tensor &m, at::Tensor &v, double step_size,
                      double bc2_sqrt, double beta1, double beta2, double eps, double weight_decay) {
  if (!fast_op_on(kFastAdam)) return false;
  for (const at::Tensor *t : {static_cast<const at::Tensor *>(&p), &g, static_cast<const at::Tensor *>(&m), static_cast<const at::Tensor *>(&v)})
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous() || t->is_mkldnn()) return false;
  int64_t n = p.numel();
  if (g.numel() != n || m.numel() != n || v.numel() != n) return false;
  float *pp = p.data_ptr<float>(), *mp = m.data_ptr<float>(), *vp = v.data_ptr<float>();
  const float *gp = g.data_ptr<float>();
  // Each step rounds to float where torch.optim.adam's single-tensor ops
  // (mul_, add_, addcmul_, sqrt, div, add_, addcdiv_) each write a tensor.
  const float b1 = static_cast<float>(beta1), ob1 = static_cast<float>(1 - beta1);
  const float b2 = static_cast<float>(beta2), ob2 = static_cast<float>(1 - beta2);
  const float c2 = static_cast<float>(bc2_sqrt), ep = static_cast<float>(eps);
  const float ss = static_cast<float>(-step_size), wd = static_cast<float>(weight_decay);
  at::parallel_for(0, n, 1 << 15, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float gi = gp[i];
      if (wd != 0) gi = gi + wd * pp[i];
      float mi = mp[i] * b1;
      mi = mi + ob1 * gi;
      float vi = vp[i] * b2;
      vi = vi + ob2 * gi * gi;
      float d = std::sqrt(vi) / c2;
      d = d + ep;
      mp[i] = mi;
      vp[i] = vi;
      pp[i] = pp[i] + ss * (mi / d);
    }
  });
  // Writing through data_ptr bypasses the version counter that ATen's
  // in-place ops bump; the prepacked weights of inference calls
  // (shim_dnnl.cpp) rely on it to notice the new values.
  p.unsafeGetTensorImpl()->bump_version();
  m.unsafeGetTensorImpl()->bump_version();
  v.unsafeGetTensorImpl()->bump_version();
  return true;
}

}  // namespace cpshim
