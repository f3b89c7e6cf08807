package torch

/*
#include "shim_metrics.h"
*/
import "C"

import "runtime"

// Conv2dHW is torch.nn.functional.conv2d with separate height and width
// stride and padding (dilation 1, one group); b may be nil. Inception-v3
// needs it for its 1×7 and 7×1 convolutions, padded (0, 3) and (3, 0).
func Conv2dHW(x, w, b *Tensor, strideH, strideW, padH, padW int64) *Tensor {
	defer runtime.KeepAlive(x)
	defer runtime.KeepAlive(w)
	defer runtime.KeepAlive(b)
	var h C.tensor
	check("conv2d", C.cp_conv2d_hw(x.handle(), w.handle(), b.optHandle(), C.int64_t(strideH), C.int64_t(strideW),
		C.int64_t(padH), C.int64_t(padW), &h))
	return wrap(h)
}

// Eigh returns the eigenvalues (ascending) and eigenvectors (as columns) of
// the symmetric matrix a, read from its lower triangle (torch.linalg.eigh).
func Eigh(a *Tensor) (values, vectors *Tensor) {
	defer runtime.KeepAlive(a)
	var hv, hw C.tensor
	check("linalg_eigh", C.cp_linalg_eigh(a.handle(), &hv, &hw))
	return wrap(hv), wrap(hw)
}

// EigvalsH returns the eigenvalues (ascending) of the symmetric matrix a
// (torch.linalg.eigvalsh).
func EigvalsH(a *Tensor) *Tensor {
	defer runtime.KeepAlive(a)
	var hv C.tensor
	check("linalg_eigvalsh", C.cp_linalg_eigh(a.handle(), &hv, nil))
	return wrap(hv)
}
