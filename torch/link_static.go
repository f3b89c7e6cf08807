//go:build !sharedshim

package torch

// The default build: cgo compiles torch/*.cpp into the binary and links
// Debian's libtorch. A CUDA libtorch elsewhere can be used by setting
// CGO_CXXFLAGS/CGO_LDFLAGS (README), or, without rebuilding, through the
// sharedshim build (link_shared.go).
//
// -fopenmp: ATen's parallel_for is an inline template whose "#pragma omp
// parallel" is compiled in the shim's own files; without the flag the
// shim's parallel loops (padding, Adam, Winograd) ran on one thread. It
// links the libgomp that Debian's libtorch already uses.

/*
#cgo CXXFLAGS: -std=c++17 -O2 -fopenmp -I/usr/include/torch/csrc/api/include -Wno-deprecated-declarations -Wno-unused-parameter
#cgo LDFLAGS: -fopenmp -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed -lstdc++
*/
import "C"
