package torch

import (
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/cpu"
)

// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to
// generic kernels (about 10× slower matmul). OpenBLAS reads
// OPENBLAS_CORETYPE only when it is loaded, which for a cgo binary is before
// any Go code runs, so the process re-executes itself once with the variable
// set. CYCLEPIX_NO_REEXEC=1 turns this off.
func init() {
	if os.Getenv("OPENBLAS_CORETYPE") == "" && os.Getenv("CYCLEPIX_NO_REEXEC") == "" && cpu.X86.HasAVX512F {
		env := append(os.Environ(), "OPENBLAS_CORETYPE=SkylakeX", "CYCLEPIX_NO_REEXEC=1")
		if exe, err := os.Executable(); err == nil {
			_ = syscall.Exec(exe, os.Args, env) // on failure carry on with the slow kernels
		}
	}
	SetNumThreads(defaultThreads())
	// libgomp keeps one worker team per OS thread that starts a parallel
	// region. If the computing goroutine hops between OS threads, several
	// teams end up spinning against each other on the same cores (measured:
	// 30 % slower, 35 % more memory). Init runs on the main goroutine, so
	// this pins the main goroutine, where cyclepix's commands compute, to
	// one OS thread; other goroutines that drive libtorch call LockThread.
	runtime.LockOSThread()
}

// LockThread pins the calling goroutine to its OS thread for good; call it
// at the start of a goroutine that runs libtorch work (a server's
// inference worker, say) so that its OpenMP team is reused.
func LockThread() { runtime.LockOSThread() }

// defaultThreads is CYCLEPIX_THREADS, else OMP_NUM_THREADS, else the number
// of CPUs Go may use. libtorch's own default here is 1, whatever the cores.
func defaultThreads() int {
	for _, v := range []string{"CYCLEPIX_THREADS", "OMP_NUM_THREADS"} {
		if n, err := strconv.Atoi(os.Getenv(v)); err == nil && n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// CPUFeatures lists the SIMD features relevant to libtorch's kernels.
func CPUFeatures() map[string]bool {
	return map[string]bool{
		"avx2":        cpu.X86.HasAVX2,
		"avx512f":     cpu.X86.HasAVX512F,
		"avx512_bf16": cpu.X86.HasAVX512BF16,
		"amx_bf16":    cpu.X86.HasAMXBF16,
	}
}
