//go:build !sharedshim

// The switches of shim_fastops.h.
#include "shim.h"
#include "shim_fastops.h"

#include <atomic>

namespace cpshim {

namespace {
#ifdef CYCLEPIX_DNNL
constexpr int kAvailable = kFastWinograd | kFastDeconv | kFastPad | kFastAdam | kFastPrepack | kFastKeepBlocks;
#else
constexpr int kAvailable = kFastPad | kFastAdam | kFastKeepBlocks;  // these need no oneDNN
#endif
std::atomic<int> g_fast{kAvailable};
}  // namespace

bool fast_op_on(FastOp op) { return (g_fast.load(std::memory_order_relaxed) & op) != 0; }

}  // namespace cpshim

extern "C" int cp_set_fast_ops(int flags) {
  cpshim::g_fast.store(flags & cpshim::kAvailable, std::memory_order_relaxed);
  cp_keep_big_blocks((flags & cpshim::kFastKeepBlocks) != 0);
  return cpshim::g_fast.load(std::memory_order_relaxed);
}

extern "C" int64_t cp_dnnl_calls(void) { return cpshim::dnnl_calls(); }
