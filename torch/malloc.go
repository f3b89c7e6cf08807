package torch

/*
#include <malloc.h>
*/
import "C"

// glibc's malloc serves blocks over its mmap threshold (128 KiB at first,
// adapting up to 32 MiB) with fresh mmaps and gives freed heap tops back to
// the kernel. Activations, gradients and oneDNN's blocked copies are 1-16
// MiB blocks freed and requested again every layer, so each became a
// fresh mapping whose first touch page-faults: a ResNet-9 step at 128 spent
// about 15 % of its time there. Keeping blocks up to 32 MiB in the heap and
// not trimming it makes them reuse memory already mapped; peak RSS is
// unchanged because the live set is the same. Init calls it.
func setMalloc() {
	C.mallopt(C.M_MMAP_THRESHOLD, 32<<20)
	C.mallopt(C.M_TRIM_THRESHOLD, 1<<30)
}

// MallocEnv returns environment variables that give a child process
// (bench's PyTorch side) the allocator settings cyclepix runs with.
func MallocEnv() []string {
	return []string{"MALLOC_MMAP_THRESHOLD_=33554432", "MALLOC_TRIM_THRESHOLD_=1073741824"}
}
