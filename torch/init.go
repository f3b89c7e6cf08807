package torch

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/cpu"
)

// Init prepares the process for libtorch; a program calls it first thing
// in main (a test binary in TestMain), on the main goroutine, before any
// tensor exists. Importing the package does nothing by itself: these
// settings change the whole process, so they happen where a reader of main
// can see them. Init
//
//   - re-executes the process once with OPENBLAS_CORETYPE and
//     GOMP_SPINCOUNT set (see reexec), unless CYCLEPIX_NO_REEXEC is set;
//   - sets glibc's malloc to keep blocks up to 32 MiB in the heap (see
//     setMalloc);
//   - applies CYCLEPIX_FAST_OPS (see ParseFastOps);
//   - sets the intra-op thread count to CYCLEPIX_THREADS, else
//     OMP_NUM_THREADS, else the number of CPUs (libtorch's default here is
//     1 whatever the cores);
//   - pins the calling goroutine to its OS thread (see LockThread).
//
// Only the first call does this; later calls return its result. The error
// is a CYCLEPIX_FAST_OPS that does not parse: the process is then set up
// but for the fast ops, and should stop rather than run with a setting its
// user did not ask for.
//
// Making a tensor before Init panics with a *Error: a program that forgot
// it would otherwise run, only slower, not bit-reproducible and, with
// Debian 12's OpenBLAS on AVX-512 CPUs, with wrong gradients for some
// convolutions.
func Init() error {
	initOnce.Do(func() {
		if os.Getenv("CYCLEPIX_NO_REEXEC") == "" {
			reexec()
		}
		setMalloc()
		fast := AllFastOps
		if v, ok := os.LookupEnv("CYCLEPIX_FAST_OPS"); ok {
			f, err := ParseFastOps(v)
			if err != nil {
				initErr = fmt.Errorf("CYCLEPIX_FAST_OPS: %w", err)
			} else {
				fast = f
			}
		}
		// Always set: the big-block allocator is installed by the first call.
		SetFastOps(fast)
		SetNumThreads(defaultThreads())
		// libtorch keeps per-thread state (OpenMP teams, oneDNN scratchpads
		// and caches), and results were not bit-reproducible from run to
		// run when the computing goroutine moved between OS threads (it
		// does, at every blocking call). Init runs on the main goroutine,
		// where cyclepix's commands compute; other goroutines that drive
		// libtorch call LockThread first.
		runtime.LockOSThread()
		initDone.Store(true)
	})
	return initErr
}

var (
	initOnce sync.Once
	initErr  error
	// initDone is read by every tensor creation (wrap), hence atomic.
	initDone atomic.Bool
)

// errNoInit is what making a tensor before Init panics with.
var errNoInit = &Error{Op: "init", Msg: "torch.Init was not called (call it first in main or TestMain)"}

// Two libraries read their settings from the environment once, when they
// load, which for a cgo binary is before any Go code runs:
//
//   - OpenBLAS picks its kernels by CPU. Debian's 0.3.21 has SkylakeX
//     (AVX-512) sgemm kernels that return wrong results for some of the
//     shapes convolution backward passes use (the step_cycle_gan parity
//     case fails with them: generator gradients off by up to 2 %), and
//     falls back to generic kernels on CPUs it does not recognise. The
//     Haswell (AVX2) kernels are correct and fast, so cyclepix asks for
//     them on every AVX2 CPU unless OPENBLAS_CORETYPE is set;
//   - libgomp's worker threads spin for a while (300,000 rounds by default)
//     between parallel regions before they sleep. Spinning that long starved
//     the data-loading goroutines on 2 cores (a training run 2-10× slower
//     under load), while not spinning at all (OMP_WAIT_POLICY=PASSIVE) cost
//     18 % on a ResNet-9 step. GOMP_SPINCOUNT=10000 measured best for both
//     (a ResNet-9 step at 128: 0.51 s vs 0.67 s passive; a small training
//     run with the loader: 3.6 s vs 5.7 s passive).
//
// So reexec replaces the process with itself, same executable and
// arguments, with the missing variables set (values the user set are
// kept) and CYCLEPIX_NO_REEXEC=1, which the new image, and every process
// it starts with its environment (data-parallel ranks, a test binary's
// helper processes), takes as done. It returns only when nothing is
// missing or the exec failed; the process then carries on with the
// libraries' defaults.
func reexec() {
	var add []string
	if os.Getenv("OPENBLAS_CORETYPE") == "" && cpu.X86.HasAVX2 {
		add = append(add, "OPENBLAS_CORETYPE=Haswell")
	}
	if os.Getenv("OMP_WAIT_POLICY") == "" && os.Getenv("GOMP_SPINCOUNT") == "" {
		add = append(add, "GOMP_SPINCOUNT=10000")
	}
	if len(add) == 0 {
		return
	}
	env := append(append(os.Environ(), add...), "CYCLEPIX_NO_REEXEC=1")
	if exe, err := os.Executable(); err == nil {
		_ = syscall.Exec(exe, os.Args, env) // on failure carry on with the defaults
	}
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
