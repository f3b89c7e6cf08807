//go:build !sharedshim

// libtorch side of shim_dist.h: c10d process groups. Kept apart from
// shim.cpp because the c10d headers are heavy and need Gloo's headers
// (Debian: libgloo-dev); a build without them still compiles, and
// cp_dist_new then says what is missing.
//
// The c10d API moved between libtorch 1.13 and 2.x: collectives live on
// c10d::ProcessGroup in 1.13 and on c10d::Backend (which ProcessGroupGloo
// and ProcessGroupNCCL derive from) in 2.x. Everything else used here
// (TCPStoreOptions' port/isServer/numWorkers/waitWorkers/timeout, the Gloo
// options' devices and timeout, createDeviceFor*, Work::wait, the
// Allreduce/Broadcast/Barrier options) has the same shape in both.
#include "shim_dist.h"
#include "shim_guard.h"

#include <torch/version.h>

#if !defined(CYCLEPIX_NO_DIST) && !defined(USE_C10D_GLOO) && defined(__has_include)
#if __has_include(<gloo/config.h>)
#define USE_C10D_GLOO 1
#endif
#endif

// In 2.x the collectives' base class has its own header, which only the
// Gloo and NCCL headers pull in; a wheel without Gloo's headers needs it
// named.
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
// A CUDA build that wants NCCL compiles with -DUSE_C10D_NCCL (and nccl.h on
// the include path), as libtorch itself does.
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cpshim;

namespace {

#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

struct Group {
  // Declared before pg so that it is destroyed after it: the backend's
  // threads may still talk to the store while they shut down.
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> pg;
  int rank = 0;
  int world = 1;
};

Group &G(procgroup p) { return *static_cast<Group *>(p); }

bool loopback(const std::string &addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

// Indices of ts grouped by dtype (in a fixed order on every rank), so that
// each dtype travels as one flat buffer.
template <typename F>
std::map<int, std::vector<int>> byDtype(int n, F dtypeOf) {
  std::map<int, std::vector<int>> groups;
  for (int i = 0; i < n; i++) groups[dtypeOf(i)].push_back(i);
  return groups;
}

at::Tensor flatten(const std::vector<at::Tensor> &parts) {
  std::vector<at::Tensor> flat;
  flat.reserve(parts.size());
  for (const auto &p : parts) flat.push_back(p.reshape({-1}));
  return at::cat(flat);
}

void allreduceSum(Group &g, at::Tensor &flat) {
  std::vector<at::Tensor> v{flat};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  g.pg->allreduce(v, opts)->wait();
}

}  // namespace

extern "C" {

int cp_dist_available(const char *backend) {
  std::string b(backend);
#ifdef USE_C10D_GLOO
  if (b == "gloo") return 1;
#endif
#ifdef USE_C10D_NCCL
  if (b == "nccl") return 1;
#endif
  return 0;
}

cerr cp_dist_new(const char *backend, int rank, int world, const char *addr, int port, int64_t timeout_ms,
                 const char *iface, int serve_store, const char *store_prefix, procgroup *out) {
  GUARD({
    std::string b(backend), host(addr), ifname(iface ? iface : ""), prefix(store_prefix ? store_prefix : "");
    if (world < 1 || rank < 0 || rank >= world)
      throw std::runtime_error("rank " + std::to_string(rank) + " is outside world size " + std::to_string(world));
    if (port <= 0 || port > 65535) throw std::runtime_error("master port " + std::to_string(port) + " is not a TCP port");
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto g = std::make_unique<Group>();
    g->rank = rank;
    g->world = world;
    if (b == "gloo") {
#ifndef USE_C10D_GLOO
      throw std::runtime_error(
          "this build has no Gloo: its headers were missing when the shim was compiled (Debian: apt-get install "
          "libgloo-dev, then rebuild)");
#endif
    } else if (b == "nccl") {
#ifndef USE_C10D_NCCL
      throw std::runtime_error(
          "this build has no NCCL: compile against a CUDA libtorch with CGO_CXXFLAGS=-DUSE_C10D_NCCL and nccl.h on "
          "the include path, or use the gloo backend");
#endif
    } else {
      throw std::runtime_error("unknown backend \"" + b + "\" (want gloo or nccl)");
    }
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0 && serve_store != 0;
    so.numWorkers = static_cast<std::size_t>(world);
    // Every rank, client or server, checks in: the server waits for all
    // of them (as torch.distributed's TCPStore does, also in torchrun's
    // agent store).
    so.waitWorkers = true;
    so.timeout = timeout;
    g->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    if (!prefix.empty()) g->store = c10::make_intrusive<c10d::PrefixStore>(prefix, g->store);
#ifdef USE_C10D_GLOO
    if (b == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // As torch.distributed: an explicit interface, else the master's
      // loopback address on one machine, else this host's own address.
      if (!ifname.empty()) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (loopback(host)) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      // Two threads per group as torch.distributed; collectives here are
      // issued one at a time and waited for.
      opts->threads = 2;
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, world, opts);
    }
#endif
#ifdef USE_C10D_NCCL
    if (b == "nccl") {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, world, opts);
    }
#endif
    *out = g.release();
  })
}

void cp_dist_free(procgroup pg) { delete static_cast<Group *>(pg); }

cerr cp_dist_allreduce_mean(procgroup pg, tensor *ts, int n) {
  GUARD({
    at::NoGradGuard ng;
    Group &g = G(pg);
    auto groups = byDtype(n, [&](int i) { return static_cast<int>(T(ts[i]).scalar_type()); });
    for (auto &kv : groups) {
      std::vector<at::Tensor> parts;
      for (int i : kv.second) parts.push_back(T(ts[i]));
      at::Tensor flat = flatten(parts);
      allreduceSum(g, flat);
      flat.div_(g.world);
      int64_t off = 0;
      for (auto &p : parts) {
        p.copy_(flat.narrow(0, off, p.numel()).view(p.sizes()));
        off += p.numel();
      }
    }
  })
}

cerr cp_dist_allreduce_grads_mean(procgroup pg, tensor *params, int n) {
  GUARD({
    at::NoGradGuard ng;
    Group &g = G(pg);
    auto groups = byDtype(n, [&](int i) { return static_cast<int>(T(params[i]).scalar_type()); });
    for (auto &kv : groups) {
      const auto &idx = kv.second;
      auto k = static_cast<int64_t>(idx.size());
      std::vector<at::Tensor> parts;
      parts.reserve(idx.size() + 1);
      std::vector<float> defined(idx.size());
      for (size_t j = 0; j < idx.size(); j++) {
        const at::Tensor &p = T(params[idx[j]]);
        const at::Tensor &gr = p.grad();
        defined[j] = gr.defined() ? 1.0f : 0.0f;
        parts.push_back(gr.defined() ? gr : at::zeros_like(p));
      }
      // One flag per parameter rides in the same buffer (one collective,
      // not two): after the sum it counts the ranks that had a gradient.
      const at::Tensor &p0 = T(params[idx[0]]);
      parts.push_back(at::from_blob(defined.data(), {k}, at::kFloat).to(p0.options()));
      at::Tensor flat = flatten(parts);
      allreduceSum(g, flat);
      int64_t total = flat.numel() - k;
      at::Tensor counts = flat.narrow(0, total, k).to(at::kCPU, at::kFloat).contiguous();
      const float *cnt = counts.data_ptr<float>();
      at::Tensor data = flat.narrow(0, 0, total);
      data.div_(g.world);
      int64_t off = 0;
      for (size_t j = 0; j < idx.size(); j++) {
        at::Tensor &p = T(params[idx[j]]);
        int64_t m = p.numel();
        if (cnt[j] > 0) {
          auto avg = data.narrow(0, off, m).view(p.sizes());
          at::Tensor &gr = p.mutable_grad();
          if (gr.defined()) {
            gr.copy_(avg);
          } else {
            gr = avg.clone();
          }
        }
        off += m;
      }
    }
  })
}

cerr cp_dist_broadcast(procgroup pg, tensor *ts, int n, int root) {
  GUARD({
    at::NoGradGuard ng;
    Group &g = G(pg);
    if (root < 0 || root >= g.world)
      throw std::runtime_error("broadcast root " + std::to_string(root) + " is outside world size " +
                               std::to_string(g.world));
    auto groups = byDtype(n, [&](int i) { return static_cast<int>(T(ts[i]).scalar_type()); });
    for (auto &kv : groups) {
      std::vector<at::Tensor> parts;
      for (int i : kv.second) parts.push_back(T(ts[i]));
      at::Tensor flat = flatten(parts);
      std::vector<at::Tensor> v{flat};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.rootTensor = 0;
      g.pg->broadcast(v, opts)->wait();
      if (g.rank == root) continue;
      int64_t off = 0;
      for (auto &p : parts) {
        p.copy_(flat.narrow(0, off, p.numel()).view(p.sizes()));
        off += p.numel();
      }
    }
  })
}

cerr cp_dist_barrier(procgroup pg) {
  GUARD({ G(pg).pg->barrier(c10d::BarrierOptions())->wait(); })
}

}  // extern "C"
