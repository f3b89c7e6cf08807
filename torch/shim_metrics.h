// C ABI for the few extra libtorch ops that metrics (Inception-v3 for FID)
// and export need; same conventions as shim.h: NULL or a malloc'd error
// message, results through out-parameters.
#ifndef CYCLEPIX_SHIM_METRICS_H
#define CYCLEPIX_SHIM_METRICS_H

#include "shim.h"

#ifdef __cplusplus
extern "C" {
#endif

// conv2d with separate height and width stride and padding (Inception's
// 1×7, 7×1, 1×3 and 3×1 kernels); b may be NULL.
cerr cp_conv2d_hw(tensor x, tensor w, tensor b, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                  tensor *out);
// Eigen-decomposition of a symmetric matrix (torch.linalg.eigh on the lower
// triangle): eigenvalues ascending; vectors may be NULL to skip them
// (torch.linalg.eigvalsh).
cerr cp_linalg_eigh(tensor a, tensor *values, tensor *vectors);

#ifdef __cplusplus
}
#endif

#endif
