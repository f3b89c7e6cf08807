//go:build sharedshim

package torch

// The sharedshim build (go build -tags sharedshim, or make build-shared):
// torch/*.cpp are left out (each starts with //go:build !sharedshim) and
// the binary links only lib/libcyclepix_torch.so, built by `make shim`
// against whichever libtorch LIBTORCH names. The run path $ORIGIN/../lib
// finds it next to bin/; LD_LIBRARY_PATH, or replacing the file, swaps the
// engine (a CPU or a CUDA libtorch, 1.13 or 2.x) without rebuilding Go code.

/*
#cgo LDFLAGS: -L${SRCDIR}/../lib -lcyclepix_torch -Wl,-rpath,$ORIGIN/../lib
*/
import "C"
