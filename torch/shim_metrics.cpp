// libtorch side of shim_metrics.h. Kept apart from shim.cpp so that the
// metrics and export work does not touch the core binding; it applies the
// same process-wide modes through shim.h's own accessors.
#include "shim_metrics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

namespace {

// The thread count and grad mode are thread-local in libtorch; apply the
// process-wide values the Go side set, as shim.cpp does for its ops.
struct MetricsMode {
  c10::AutoGradMode grad;
  MetricsMode() : grad(cp_grad_enabled() != 0) {
    int n = cp_get_num_threads();
    if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
  }
};

char *dupmsg(const char *s) {
  size_t n = std::strlen(s);
  char *r = static_cast<char *>(std::malloc(n + 1));
  std::memcpy(r, s, n + 1);
  return r;
}

inline at::Tensor &T(tensor t) { return *static_cast<at::Tensor *>(t); }
inline at::Tensor O(tensor t) { return t ? *static_cast<at::Tensor *>(t) : at::Tensor(); }
inline tensor H(at::Tensor t) { return new at::Tensor(std::move(t)); }

}  // namespace

#define MGUARD(...)                                  \
  try {                                              \
    MetricsMode mode_;                               \
    __VA_ARGS__;                                     \
    return nullptr;                                  \
  } catch (const c10::Error &e) {                    \
    return dupmsg(e.what_without_backtrace());       \
  } catch (const std::exception &e) {                \
    return dupmsg(e.what());                         \
  } catch (...) {                                    \
    return dupmsg("unknown libtorch exception");    \
  }

extern "C" {

cerr cp_conv2d_hw(tensor x, tensor w, tensor b, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                  tensor *out) {
  MGUARD({ *out = H(at::conv2d(T(x), T(w), O(b), {stride_h, stride_w}, {pad_h, pad_w}, {1, 1}, 1)); })
}

cerr cp_linalg_eigh(tensor a, tensor *values, tensor *vectors) {
  MGUARD({
    if (vectors == nullptr) {
      *values = H(at::linalg_eigvalsh(T(a), "L"));
    } else {
      auto r = at::linalg_eigh(T(a), "L");
      *values = H(std::get<0>(r));
      *vectors = H(std::get<1>(r));
    }
  })
}

}  // extern "C"
