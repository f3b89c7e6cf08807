// C ABI over libtorch's distributed backend (c10d) for data-parallel
// training: a process group (TCPStore rendezvous + Gloo, or NCCL in a CUDA
// build) and the few collectives training needs. Same conventions as shim.h:
// NULL or a malloc'd error message, results through out-parameters.
#ifndef CYCLEPIX_SHIM_DIST_H
#define CYCLEPIX_SHIM_DIST_H

#include "shim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *procgroup;

// 1 when this build can make process groups of backend ("gloo", "nccl").
int cp_dist_available(const char *backend);

// Joins the group: rank 0 serves the TCPStore at addr:port when
// serve_store is set, the others (all ranks when it is not: torchrun's
// agent serves it) connect to it; returns when every rank has joined or
// after timeout_ms. A non-empty store_prefix scopes the group's keys in
// that store. iface, when not empty, is the network interface Gloo binds to
// (GLOO_SOCKET_IFNAME); otherwise Gloo binds to addr when it is a loopback
// address and to this host's name (falling back to loopback) when not.
cerr cp_dist_new(const char *backend, int rank, int world, const char *addr, int port, int64_t timeout_ms,
                 const char *iface, int serve_store, const char *store_prefix, procgroup *out);
void cp_dist_free(procgroup pg);

// Sums the n tensors across ranks in place and divides by the world size;
// tensors of one dtype travel as one flattened buffer.
cerr cp_dist_allreduce_mean(procgroup pg, tensor *ts, int n);

// The same for the .grad of n parameters. A parameter whose gradient is
// undefined on some ranks counts as zero there; one undefined on every rank
// stays undefined (so that Adam skips it as it would in one process).
cerr cp_dist_allreduce_grads_mean(procgroup pg, tensor *params, int n);

// Copies the n tensors of rank root to every rank, in place (also leaf
// tensors that require grad: the copy is not recorded by autograd).
cerr cp_dist_broadcast(procgroup pg, tensor *ts, int n, int root);

// Returns when every rank has called it.
cerr cp_dist_barrier(procgroup pg);

#ifdef __cplusplus
}
#endif

#endif
