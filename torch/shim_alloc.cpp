//go:build !sharedshim

// A CPU allocator that keeps large blocks for reuse.
//
// glibc's malloc serves every block over 32 MiB (the most M_MMAP_THRESHOLD
// accepts on 64-bit) with a fresh mmap and unmaps it on free. At 512 pixels
// and above, activations, their gradients and convolution workspaces are
// such blocks, freed and requested again in the same sizes every layer and
// every iteration, so each use of one page-faulted its whole size in again:
// a pix2pixHD iteration at 512×256 spent about a quarter of its time in the
// kernel doing that. This allocator keeps freed blocks of 32 MiB and more
// and hands one back for a request of about its size.
//
// It never holds more than the program has shown it needs: the bytes of
// big blocks in use plus those kept stay at or below the most ever in use
// at once (the peak that glibc's allocator would have reached too), so
// peak RSS does not grow; a request no kept block fits evicts the largest
// ones until the rule holds again. Blocks under 32 MiB go to libtorch's
// default allocator, as before.
#include <c10/core/CPUAllocator.h>

#include "shim.h"
#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

namespace {

constexpr size_t kBigBlock = size_t(32) << 20;
constexpr size_t kGranule = size_t(2) << 20;

class BlockCache {
 public:
  void *take(size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    // A kept block up to an eighth larger than asked serves; bigger ones
    // would hold memory the request does not use.
    auto it = kept_.lower_bound(size);
    void *p = nullptr;
    size_t got = 0;
    if (it != kept_.end() && it->first <= size + size / 8) {
      got = it->first;
      p = it->second;
      kept_.erase(it);
      kept_bytes_ -= got;
    } else {
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        // Give everything back and try once more before failing.
        release_locked(0);
        p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return nullptr;
      }
      got = size;
    }
    sizes_[p] = got;
    in_use_ += got;
    if (in_use_ > peak_) peak_ = in_use_;
    release_locked(peak_ - in_use_);
    return p;
  }

  // give_back takes p back if it is one of this cache's blocks and says
  // so: kept for reuse, or unmapped when keeping has been switched off.
  bool give_back(void *p, bool keep) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return false;
    size_t size = it->second;
    sizes_.erase(it);
    in_use_ -= size;
    if (keep) {
      kept_.emplace(size, p);
      kept_bytes_ += size;
    } else {
      munmap(p, size);
    }
    return true;
  }

  // release_all unmaps every kept block (cp_release_cached_memory).
  size_t release_all() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t before = kept_bytes_;
    release_locked(0);
    peak_ = in_use_;
    return before;
  }

 private:
  // release_locked unmaps kept blocks, largest first, until at most limit
  // bytes are kept.
  void release_locked(size_t limit) {
    while (kept_bytes_ > limit && !kept_.empty()) {
      auto last = std::prev(kept_.end());
      munmap(last->second, last->first);
      kept_bytes_ -= last->first;
      kept_.erase(last);
    }
  }

  std::mutex mu_;
  std::multimap<size_t, void *> kept_;
  std::unordered_map<void *, size_t> sizes_;
  size_t in_use_ = 0, kept_bytes_ = 0, peak_ = 0;
};

BlockCache &cache() {
  static BlockCache *c = new BlockCache();  // never destroyed: tensors may outlive static destructors
  return *c;
}

std::atomic<bool> g_keep{false};
c10::DeleterFnPtr g_fallback_raw_deleter = nullptr;

void give_back(void *p) { cache().give_back(p, g_keep.load(std::memory_order_relaxed)); }

// raw_free is the deleter of raw_allocate's blocks, which may be either
// allocator's.
void raw_free(void *p) {
  if (!cache().give_back(p, g_keep.load(std::memory_order_relaxed)) && g_fallback_raw_deleter != nullptr)
    g_fallback_raw_deleter(p);
}

class KeepingCPUAllocator final : public c10::Allocator {
 public:
  explicit KeepingCPUAllocator(c10::Allocator *fallback) : fallback_(fallback) {}

  c10::DataPtr allocate(size_t n) const override {
    if (n < kBigBlock || !g_keep.load(std::memory_order_relaxed)) return fallback_->allocate(n);
    size_t size = (n + kGranule - 1) / kGranule * kGranule;
    void *p = cache().take(size);
    if (p == nullptr) return fallback_->allocate(n);  // let libtorch report the failure its way
    return {p, p, &give_back, c10::Device(c10::DeviceType::CPU)};
  }

  // Allocator::raw_allocate goes through allocate, so its deleter must
  // tell the two kinds of blocks apart.
  c10::DeleterFnPtr raw_deleter() const override { return &raw_free; }

 private:
  c10::Allocator *fallback_;
};

}  // namespace

// cp_keep_big_blocks installs the allocator (once) and switches keeping
// on or off; blocks kept stay valid either way.
extern "C" void cp_keep_big_blocks(int on) {
  static KeepingCPUAllocator *a = [] {
    c10::Allocator *def = c10::GetDefaultCPUAllocator();
    g_fallback_raw_deleter = def->raw_deleter();
    auto *k = new KeepingCPUAllocator(def);
    c10::SetCPUAllocator(k, 100);
    return k;
  }();
  (void)a;
  g_keep.store(on != 0, std::memory_order_relaxed);
}

// cp_release_cached_memory unmaps the kept blocks and returns their bytes.
extern "C" size_t cp_release_cached_memory() { return cache().release_all(); }
