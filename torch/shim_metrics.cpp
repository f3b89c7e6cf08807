//go:build !sharedshim

// libtorch side of shim_metrics.h, kept apart from shim.cpp; it shares
// shim_guard.h's modes and error handling.
#include "shim_metrics.h"
#include "shim_guard.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

using namespace cpshim;

extern "C" {

cerr cp_conv2d_hw(tensor x, tensor w, tensor b, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                  tensor *out) {
  GUARD({ *out = H(at::conv2d(T(x), T(w), O(b), {stride_h, stride_w}, {pad_h, pad_w}, {1, 1}, 1)); })
}

cerr cp_linalg_eigh(tensor a, tensor *values, tensor *vectors) {
  GUARD({
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
