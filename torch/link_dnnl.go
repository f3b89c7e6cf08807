//go:build !sharedshim && !nodnnl

package torch

// oneDNN's own API for the convolutions of shim_dnnl.cpp. Debian's libtorch
// already loads this same libdnnl.so.2, so the process has one oneDNN, one
// primitive cache and one thread pool. A static build against another
// libtorch (a wheel's, which carries its own oneDNN 3.x inside) uses
// -tags nodnnl: the shim then takes ATen's convolutions.

/*
#cgo CXXFLAGS: -DCYCLEPIX_DNNL
#cgo LDFLAGS: -ldnnl
*/
import "C"
