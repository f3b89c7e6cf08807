//go:build !sharedshim

package torch

// oneDNN's own API for the convolutions of shim_dnnl.cpp. libtorch already
// loads this same libdnnl.so.2, so the process has one oneDNN, one primitive
// cache and one thread pool.

/*
#cgo CXXFLAGS: -DCYCLEPIX_DNNL
#cgo LDFLAGS: -ldnnl
*/
import "C"
