//go:build !sharedshim

package torch

// The default build: cgo compiles torch/*.cpp into the binary and links
// Debian's libtorch. A CUDA libtorch elsewhere can be used by setting
// CGO_CXXFLAGS/CGO_LDFLAGS (README), or, without rebuilding, through the
// sharedshim build (link_shared.go).

/*
#cgo CXXFLAGS: -std=c++17 -O2 -I/usr/include/torch/csrc/api/include -Wno-deprecated-declarations -Wno-unused-parameter
#cgo LDFLAGS: -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed -lstdc++
*/
import "C"
