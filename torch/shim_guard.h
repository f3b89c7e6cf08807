// Shared by every translation unit of the shim: the modes applied at each
// entry point and the GUARD that turns exceptions into returned messages.
#ifndef CYCLEPIX_SHIM_GUARD_H
#define CYCLEPIX_SHIM_GUARD_H

#include "shim.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace cpshim {

// Grad mode, autocast and the OpenMP thread count are thread-local in
// libtorch, but the Go side sets them per process; every entry point applies
// the process-wide values to the calling thread.
extern std::atomic<int> g_threads;
extern std::atomic<bool> g_grad;
extern std::atomic<int> g_autocast;
extern std::atomic<bool> g_autocast_cuda;
extern thread_local int tl_threads;

// PyTorch 2.4 replaced the per-device autocast setters (set_cpu_enabled,
// set_autocast_cpu_dtype, set_enabled, set_autocast_gpu_dtype) with ones
// taking the device type; the old names are deprecated there.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CPSHIM_AUTOCAST_BY_DEVICE 1
#endif

inline void set_autocast(at::DeviceType device, at::ScalarType dtype, bool on) {
#ifdef CPSHIM_AUTOCAST_BY_DEVICE
  if (on) at::autocast::set_autocast_dtype(device, dtype);
  at::autocast::set_autocast_enabled(device, on);
#else
  if (device == at::kCPU) {
    if (on) at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  } else {
    if (on) at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  }
#endif
}

// Autocast (g_autocast >= 0: its ScalarType) applies to CPU ops unless the
// dtype is Half (CPU autocast is bfloat16 in libtorch 1.13), and to CUDA
// ops when the process has a CUDA device (g_autocast_cuda).
struct Mode {
  c10::AutoGradMode grad;
  bool autocast_cpu;
  bool autocast_cuda;
  Mode() : grad(g_grad.load(std::memory_order_relaxed)), autocast_cpu(false), autocast_cuda(false) {
    int n = g_threads.load(std::memory_order_relaxed);
    if (n > 0 && tl_threads != n) {
      at::set_num_threads(n);
      tl_threads = n;
    }
    int ac = g_autocast.load(std::memory_order_relaxed);
    if (ac >= 0) {
      auto dtype = static_cast<at::ScalarType>(ac);
      if (dtype != at::kHalf) {
        autocast_cpu = true;
        set_autocast(at::kCPU, dtype, true);
      }
      if (g_autocast_cuda.load(std::memory_order_relaxed)) {
        autocast_cuda = true;
        set_autocast(at::kCUDA, dtype, true);
      }
    }
  }
  ~Mode() {
    if (autocast_cpu) set_autocast(at::kCPU, at::kFloat, false);
    if (autocast_cuda) set_autocast(at::kCUDA, at::kFloat, false);
  }
};

inline char *dup(const char *s) {
  size_t n = std::strlen(s);
  char *r = static_cast<char *>(std::malloc(n + 1));
  std::memcpy(r, s, n + 1);
  return r;
}

inline at::Tensor &T(tensor t) { return *static_cast<at::Tensor *>(t); }
inline at::Tensor O(tensor t) { return t ? *static_cast<at::Tensor *>(t) : at::Tensor(); }
inline tensor H(at::Tensor t) { return new at::Tensor(std::move(t)); }
inline at::IntArrayRef A(const int64_t *p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

}  // namespace cpshim

// Every op body runs inside GUARD: exceptions become returned messages and
// the thread gets the process-wide modes.
#define GUARD(...)                                   \
  try {                                              \
    cpshim::Mode mode_;                              \
    __VA_ARGS__;                                     \
    return nullptr;                                  \
  } catch (const c10::Error &e) {                    \
    return cpshim::dup(e.what_without_backtrace());  \
  } catch (const std::exception &e) {                \
    return cpshim::dup(e.what());                    \
  } catch (...) {                                    \
    return cpshim::dup("unknown libtorch exception"); \
  }

#endif
