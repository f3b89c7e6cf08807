package torch

/*
#include <stdlib.h>
#include "shim_dist.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"
)

// DistOptions say how a process joins a process group; the fields are those
// of torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
type DistOptions struct {
	// Backend is "gloo" (CPU, and CUDA tensors where libtorch's Gloo has
	// CUDA) or "nccl" (CUDA builds compiled with -DUSE_C10D_NCCL).
	Backend    string
	Rank       int
	WorldSize  int
	MasterAddr string // rank 0's address; rank 0 serves the rendezvous store there
	MasterPort int
	// Timeout bounds the rendezvous and every collective (0: 30 minutes,
	// torch.distributed's default).
	Timeout time.Duration
	// Interface is the network interface Gloo binds to; empty means
	// $GLOO_SOCKET_IFNAME, else MasterAddr when it is a loopback address,
	// else this host's own address.
	Interface string
	// ExternalStore says that someone else serves the rendezvous store at
	// MasterAddr:MasterPort (torchrun's agent does, with
	// TORCHELASTIC_USE_AGENT_STORE=True): rank 0 then connects to it as
	// the other ranks do instead of serving it.
	ExternalStore bool
	// StorePrefix, when set, scopes the group's keys in the store
	// (torch.distributed uses "/worker/attempt_<restart count>" in an
	// agent's store).
	StorePrefix string
}

// DistAvailable reports whether this build can make process groups with the
// named backend ("gloo", "nccl").
func DistAvailable(backend string) bool {
	cs := C.CString(backend)
	defer C.free(unsafe.Pointer(cs))
	return C.cp_dist_available(cs) != 0
}

// ProcessGroup is a group of processes running the same program that
// exchange tensors through libtorch's c10d collectives (the C++ side of
// torch.distributed). Every collective must be called by every rank, in the
// same order, with tensors of the same shapes and dtypes; a rank that
// stops calling leaves the others blocked until the timeout.
//
// A ProcessGroup is meant for one goroutine (the training loop's).
type ProcessGroup struct {
	h       C.procgroup
	rank    int
	world   int
	backend string
}

// NewProcessGroup joins the group described by o; it returns once every
// rank has joined, or with an error after o.Timeout.
func NewProcessGroup(o DistOptions) (*ProcessGroup, error) {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Interface == "" {
		o.Interface = os.Getenv("GLOO_SOCKET_IFNAME")
	}
	cb, ca, ci, cp := C.CString(o.Backend), C.CString(o.MasterAddr), C.CString(o.Interface), C.CString(o.StorePrefix)
	defer C.free(unsafe.Pointer(cb))
	defer C.free(unsafe.Pointer(ca))
	defer C.free(unsafe.Pointer(ci))
	defer C.free(unsafe.Pointer(cp))
	var h C.procgroup
	err := distErr("dist_new", C.cp_dist_new(cb, C.int(o.Rank), C.int(o.WorldSize), ca, C.int(o.MasterPort),
		C.int64_t(o.Timeout.Milliseconds()), ci, b2i(!o.ExternalStore), cp, &h))
	if err != nil {
		return nil, fmt.Errorf("join process group (%s, rank %d of %d, %s:%d): %w", o.Backend, o.Rank, o.WorldSize,
			o.MasterAddr, o.MasterPort, err)
	}
	return &ProcessGroup{h: h, rank: o.Rank, world: o.WorldSize, backend: o.Backend}, nil
}

// Rank is this process's index in the group, 0 to WorldSize()-1.
func (g *ProcessGroup) Rank() int { return g.rank }

// WorldSize is the number of processes in the group.
func (g *ProcessGroup) WorldSize() int { return g.world }

// Backend is the c10d backend's name.
func (g *ProcessGroup) Backend() string { return g.backend }

// errClosed is returned by collectives on a closed group.
var errClosed = errors.New("process group is closed")

// AllReduceMean replaces every tensor with its mean over the ranks, in
// place. Tensors of one dtype travel as one flattened buffer, so one call
// with many small tensors costs about one collective per dtype.
func (g *ProcessGroup) AllReduceMean(ts []*Tensor) error {
	if g.h == nil {
		return errClosed
	}
	if len(ts) == 0 {
		return nil
	}
	defer runtime.KeepAlive(ts)
	hs := handles(ts)
	return distErr("allreduce", C.cp_dist_allreduce_mean(g.h, &hs[0], C.int(len(hs))))
}

// AllReduceGradsMean replaces the gradient of every parameter with its mean
// over the ranks: DistributedDataParallel's gradient averaging, done in one
// flattened buffer per dtype. A gradient missing on some ranks counts as
// zero there; one missing on every rank stays missing.
func (g *ProcessGroup) AllReduceGradsMean(params []*Tensor) error {
	if g.h == nil {
		return errClosed
	}
	if len(params) == 0 {
		return nil
	}
	defer runtime.KeepAlive(params)
	hs := handles(params)
	return distErr("allreduce_grads", C.cp_dist_allreduce_grads_mean(g.h, &hs[0], C.int(len(hs))))
}

// Broadcast copies root's tensors into the other ranks' tensors of the same
// shapes, in place (parameters included: the copy is not recorded by
// autograd).
func (g *ProcessGroup) Broadcast(ts []*Tensor, root int) error {
	if g.h == nil {
		return errClosed
	}
	if len(ts) == 0 {
		return nil
	}
	defer runtime.KeepAlive(ts)
	hs := handles(ts)
	return distErr("broadcast", C.cp_dist_broadcast(g.h, &hs[0], C.int(len(hs)), C.int(root)))
}

// Barrier returns when every rank has called it.
func (g *ProcessGroup) Barrier() error {
	if g.h == nil {
		return errClosed
	}
	return distErr("barrier", C.cp_dist_barrier(g.h))
}

// Close leaves the group and frees its connections. It does not wait for
// the other ranks (call Barrier first for that); rank 0 serves the
// rendezvous store, so it should close last. Closing twice is harmless.
func (g *ProcessGroup) Close() error {
	if g.h != nil {
		C.cp_dist_free(g.h)
		g.h = nil
	}
	return nil
}

// handles returns the tensors' handles; the caller keeps ts alive until
// its C call returns.
func handles(ts []*Tensor) []C.tensor {
	hs := make([]C.tensor, len(ts))
	for i, t := range ts {
		hs[i] = t.handle()
	}
	return hs
}

// distErr is check for collectives: a failed collective (a peer that died,
// a timeout) is an ordinary runtime condition, so it comes back as an
// error rather than a panic.
func distErr(op string, e C.cerr) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.free(unsafe.Pointer(e))
	return &Error{Op: op, Msg: firstLines(msg)}
}
