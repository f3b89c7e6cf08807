// Shared by every translation unit of the shim: the modes applied at each
// entry point and the GUARD that turns exceptions into returned messages.
#ifndef CYCLEPIX_SHIM_GUARD_H
#define CYCLEPIX_SHIM_GUARD_H

#include "shim.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

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
extern thread_local int tl_threads;

struct Mode {
  c10::AutoGradMode grad;
  bool autocast;
  Mode() : grad(g_grad.load(std::memory_order_relaxed)), autocast(false) {
    int n = g_threads.load(std::memory_order_relaxed);
    if (n > 0 && tl_threads != n) {
      at::set_num_threads(n);
      tl_threads = n;
    }
    int ac = g_autocast.load(std::memory_order_relaxed);
    if (ac >= 0) {
      autocast = true;
      at::autocast::set_autocast_cpu_dtype(static_cast<at::ScalarType>(ac));
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~Mode() {
    if (autocast) at::autocast::set_cpu_enabled(false);
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
