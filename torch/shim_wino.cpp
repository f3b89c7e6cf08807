//go:build !sharedshim

// Winograd F(4×4, 3×3) convolution for inference on AVX2 CPUs (see
// shim_fastops.h). oneDNN 2.x offers Winograd only with AVX-512; on AVX2
// its direct kernels already run near the cores' fp32 peak, so the ResNet
// blocks' 3×3 convolutions, 80 % of a ResNet generator's time, can only get
// faster by doing fewer multiplications: Winograd's 36 per 4×4 output tile
// and channel pair against the direct method's 144.
//
// Per call the weights are transformed (G g Gᵀ, 4× the plain weights'
// size, so they are not kept between calls: ResNet-9's would add 170 MB).
// Per chunk of output tiles: each 6×6 input patch is transformed (Bᵀ d B),
// 36 matrix products of transformed inputs (tiles × C) by transformed
// weights (C × K) run in a 6 × 16 register-blocked kernel, and each
// product's tile is transformed back (Aᵀ m A) into the output. The
// transforms work on 8 channels at a time in AVX2 registers, on an NHWC
// copy of the input. Everything runs in ATen's OpenMP threads.
#include "shim_fastops.h"

#ifdef CYCLEPIX_DNNL
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#endif

namespace cpshim {

#ifndef CYCLEPIX_DNNL

bool wino_conv2d_infer(const at::Tensor &, const at::Tensor &, const at::Tensor &, int64_t, at::Tensor &) {
  return false;
}

#else

namespace {

constexpr int kTile = 4;   // output tile side
constexpr int kPatch = 6;  // input patch side: kTile + 3 - 1
constexpr int kXi = kPatch * kPatch;
constexpr int64_t kMinTiles = 64;

bool cpu_has_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// Bᵀ applied to six vectors spaced `step` apart (a column or a row of a
// patch), written to out[0..5] spaced `ostep` apart.
__attribute__((target("avx2,fma"))) inline void bt6(const __m256 *d, int step, __m256 *out, int ostep) {
  const __m256 d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
  const __m256 four = _mm256_set1_ps(4.f), five = _mm256_set1_ps(5.f), two = _mm256_set1_ps(2.f);
  // r0 = 4 d0 − 5 d2 + d4
  out[0] = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
  // r1 = −4 (d1 + d2) + d3 + d4;  r2 = 4 (d1 − d2) − d3 + d4
  __m256 s12 = _mm256_add_ps(d1, d2), m12 = _mm256_sub_ps(d1, d2);
  out[ostep] = _mm256_fnmadd_ps(four, s12, _mm256_add_ps(d3, d4));
  out[2 * ostep] = _mm256_fmadd_ps(four, m12, _mm256_sub_ps(d4, d3));
  // r3 = 2 (d3 − d1) + d4 − d2;  r4 = 2 (d1 − d3) + d4 − d2
  __m256 m31 = _mm256_sub_ps(d3, d1), m42 = _mm256_sub_ps(d4, d2);
  out[3 * ostep] = _mm256_fmadd_ps(two, m31, m42);
  out[4 * ostep] = _mm256_fnmadd_ps(two, m31, m42);
  // r5 = 4 d1 − 5 d3 + d5
  out[5 * ostep] = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

// Aᵀ applied to six vectors spaced `step` apart, four results spaced `ostep`.
__attribute__((target("avx2,fma"))) inline void at6(const __m256 *m, int step, __m256 *out, int ostep) {
  const __m256 m0 = m[0], m1 = m[step], m2 = m[2 * step], m3 = m[3 * step], m4 = m[4 * step], m5 = m[5 * step];
  const __m256 two = _mm256_set1_ps(2.f), four = _mm256_set1_ps(4.f), eight = _mm256_set1_ps(8.f);
  __m256 s12 = _mm256_add_ps(m1, m2), d12 = _mm256_sub_ps(m1, m2);
  __m256 s34 = _mm256_add_ps(m3, m4), d34 = _mm256_sub_ps(m3, m4);
  out[0] = _mm256_add_ps(_mm256_add_ps(m0, s12), s34);
  out[ostep] = _mm256_fmadd_ps(two, d34, d12);
  out[2 * ostep] = _mm256_fmadd_ps(four, s34, s12);
  out[3 * ostep] = _mm256_add_ps(_mm256_fmadd_ps(eight, d34, d12), m5);
}

struct Geometry {
  int64_t n, c, h, w, k, oh, ow, pad, tiles_y, tiles_x, tiles;
};

// Where tile number `tile` (of all the batch's, image by image, row by
// row) lies: its image and its first output row and column.
struct TileOrigin {
  int64_t n, y, x;
};
TileOrigin tile_origin(const Geometry &g, int64_t tile) {
  int64_t per_image = g.tiles_y * g.tiles_x, r = tile % per_image;
  return {tile / per_image, (r / g.tiles_x) * kTile, (r % g.tiles_x) * kTile};
}

// Transforms the input patch of the chunk's tile t (tile t0 + t of the
// batch) into v[ξ][t][c].
__attribute__((target("avx2,fma"))) void input_transform(const Geometry &g, const float *xt, int64_t t0, float *v,
                                                         int64_t tb, int64_t t) {
  alignas(32) __m256 d[kXi], tmp[kXi], out[kXi];
  const __m256 zero = _mm256_setzero_ps();
  TileOrigin o = tile_origin(g, t0 + t);
  int64_t n = o.n, iy0 = o.y - g.pad, ix0 = o.x - g.pad;
  bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + kPatch <= g.h && ix0 + kPatch <= g.w;
  for (int64_t c = 0; c < g.c; c += 8) {
    for (int i = 0; i < kPatch; ++i) {
      int64_t y = iy0 + i;
      for (int j = 0; j < kPatch; ++j) {
        int64_t x = ix0 + j;
        if (inside || (y >= 0 && y < g.h && x >= 0 && x < g.w)) {
          d[i * kPatch + j] = _mm256_loadu_ps(xt + ((n * g.h + y) * g.w + x) * g.c + c);
        } else {
          d[i * kPatch + j] = zero;
        }
      }
    }
    for (int j = 0; j < kPatch; ++j) bt6(d + j, kPatch, tmp + j, kPatch);      // columns: Bᵀ d
    for (int i = 0; i < kPatch; ++i) bt6(tmp + i * kPatch, 1, out + i * kPatch, 1);  // rows: (Bᵀ d) B
    for (int xi = 0; xi < kXi; ++xi) _mm256_storeu_ps(v + (xi * tb + t) * g.c + c, out[xi]);
  }
}

// Transforms tile t's products m[ξ][t][k] back into the output, adding the bias.
__attribute__((target("avx2,fma"))) void output_transform(const Geometry &g, const float *m, int64_t tb, int64_t t,
                                                          int64_t t0, const float *bias, float *y) {
  alignas(32) __m256 in[kXi], tmp[kPatch * kTile], out[kTile * kTile];
  alignas(32) float lanes[kTile * kTile][8];
  TileOrigin o = tile_origin(g, t0 + t);
  int64_t n = o.n, oy0 = o.y, ox0 = o.x;
  int rows = static_cast<int>(std::min<int64_t>(kTile, g.oh - oy0));
  int cols = static_cast<int>(std::min<int64_t>(kTile, g.ow - ox0));
  for (int64_t k = 0; k < g.k; k += 8) {
    for (int xi = 0; xi < kXi; ++xi) in[xi] = _mm256_loadu_ps(m + (xi * tb + t) * g.k + k);
    for (int j = 0; j < kPatch; ++j) at6(in + j, kPatch, tmp + j, kPatch);            // Aᵀ m: 4 rows × 6
    for (int i = 0; i < kTile; ++i) at6(tmp + i * kPatch, 1, out + i * kTile, 1);     // (Aᵀ m) A: 4 × 4
    __m256 b = bias ? _mm256_loadu_ps(bias + k) : _mm256_setzero_ps();
    for (int p = 0; p < kTile * kTile; ++p) _mm256_store_ps(lanes[p], _mm256_add_ps(out[p], b));
    for (int l = 0; l < 8; ++l) {
      float *plane = y + ((n * g.k + k + l) * g.oh + oy0) * g.ow + ox0;
      for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < cols; ++j) plane[i * g.ow + j] = lanes[i * kTile + j][l];
      }
    }
  }
}

// G applied to three vectors spaced `step` apart, six results spaced `ostep`.
__attribute__((target("avx2,fma"))) inline void g3(const __m256 *g, int step, __m256 *out, int ostep) {
  const __m256 g0 = g[0], g1 = g[step], g2 = g[2 * step];
  const __m256 quarter = _mm256_set1_ps(1.f / 4), sixth = _mm256_set1_ps(1.f / 6);
  const __m256 minus_sixth = _mm256_set1_ps(-1.f / 6);
  const __m256 twelfth = _mm256_set1_ps(1.f / 12), twentyfourth = _mm256_set1_ps(1.f / 24);
  __m256 s02 = _mm256_add_ps(g0, g2);
  out[0] = _mm256_mul_ps(quarter, g0);
  out[ostep] = _mm256_mul_ps(minus_sixth, _mm256_add_ps(s02, g1));
  out[2 * ostep] = _mm256_mul_ps(minus_sixth, _mm256_sub_ps(s02, g1));
  __m256 a = _mm256_fmadd_ps(twentyfourth, g0, _mm256_mul_ps(sixth, g2));
  out[3 * ostep] = _mm256_fmadd_ps(twelfth, g1, a);
  out[4 * ostep] = _mm256_fnmadd_ps(twelfth, g1, a);
  out[5 * ostep] = g2;
}

// u[ξ][k/16][c][k%16] = (G g Gᵀ)[ξ] for the 3×3 kernel g of output k, input
// c, eight outputs at a time: each ξ's C × K matrix in panels of 16 output
// channels, the layout the product's kernel reads.
__attribute__((target("avx2,fma"))) void weight_transform_c(const float *w, int64_t k_out, int64_t c_in, int64_t c,
                                                            float *u) {
  alignas(32) __m256 g[9], t[kPatch * 3], out[kXi];
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                         _mm256_set1_epi32(static_cast<int>(c_in * 9)));
  for (int64_t k = 0; k < k_out; k += 8) {
    const float *base = w + (k * c_in + c) * 9;
    for (int e = 0; e < 9; ++e) g[e] = _mm256_i32gather_ps(base + e, idx, 4);
    for (int j = 0; j < 3; ++j) g3(g + j, 3, t + j, 3);                    // G g: 6 × 3
    for (int i = 0; i < kPatch; ++i) g3(t + i * 3, 1, out + i * kPatch, 1);  // (G g) Gᵀ: 6 × 6
    float *panel = u + ((k / 16) * c_in + c) * 16 + k % 16;
    for (int xi = 0; xi < kXi; ++xi) _mm256_storeu_ps(panel + xi * c_in * k_out, out[xi]);
  }
}

void weight_transform(const float *w, int64_t k_out, int64_t c_in, float *u) {
  at::parallel_for(0, c_in, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) weight_transform_c(w, k_out, c_in, c, u);
  });
}

// m[r][0..15] = Σ_c v[r][c] · u[c][0..15] for R rows of transformed tiles
// (leading dimension ldv) and one 16-channel panel of transformed weights:
// 2R accumulators, two weight loads and R broadcasts per input channel.
template <int R>
__attribute__((target("avx2,fma"))) void panel_product(const float *v, int64_t ldv, const float *u, int64_t c,
                                                       float *m, int64_t ldm) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t i = 0; i < c; ++i) {
    __m256 u0 = _mm256_loadu_ps(u + i * 16), u1 = _mm256_loadu_ps(u + i * 16 + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      __m256 a = _mm256_broadcast_ss(v + r * ldv + i);
      acc[r][0] = _mm256_fmadd_ps(a, u0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, u1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(m + r * ldm, acc[r][0]);
    _mm256_storeu_ps(m + r * ldm + 8, acc[r][1]);
  }
}

// One ξ's product for one 16-channel panel: m[t][k0..k0+15] for nt tiles.
void product(const float *v, const float *u, int64_t nt, int64_t c, float *m, int64_t ldm) {
  int64_t t = 0;
  for (; t + 6 <= nt; t += 6) panel_product<6>(v + t * c, c, u, c, m + t * ldm, ldm);
  switch (nt - t) {
    case 5: panel_product<5>(v + t * c, c, u, c, m + t * ldm, ldm); break;
    case 4: panel_product<4>(v + t * c, c, u, c, m + t * ldm, ldm); break;
    case 3: panel_product<3>(v + t * c, c, u, c, m + t * ldm, ldm); break;
    case 2: panel_product<2>(v + t * c, c, u, c, m + t * ldm, ldm); break;
    case 1: panel_product<1>(v + t * c, c, u, c, m + t * ldm, ldm); break;
  }
}

// Output tiles per chunk: the chunk's transformed inputs and products
// (36 × tiles × (C + K) floats) stay near 16 MB, so each ξ's transformed
// tiles (a tenth of that) stay in L2 while the weight panels pass over
// them (measured on ResNet-9's blocks at 512: 8 to 32 MB alike, 64 MB
// 1.5× slower).
int64_t chunk_tiles(const Geometry &g) {
  int64_t per_tile = kXi * (g.c + g.k) * static_cast<int64_t>(sizeof(float));
  return std::max<int64_t>(64, (int64_t{16} << 20) / per_tile);
}

// With ONEDNN_VERBOSE set, each call prints a line in oneDNN's own
// "exec" format (primitive "cyclepix_winograd"), so that profiles built on
// oneDNN's log (scripts/infer_profile.py) see the time spent here too.
bool verbose() {
  static const bool on = [] {
    const char *v = std::getenv("ONEDNN_VERBOSE");
    return v != nullptr && std::atoi(v) > 0;
  }();
  return on;
}

}  // namespace

bool wino_conv2d_infer(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t pad, at::Tensor &out) {
  if (!cpu_has_avx2_fma()) return false;
  auto start = std::chrono::steady_clock::now();
  if (x.dim() != 4 || w.dim() != 4 || w.size(2) != 3 || w.size(3) != 3 || x.size(1) != w.size(1)) return false;
  if (x.size(1) % 8 != 0 || w.size(0) % 16 != 0) return false;
  Geometry g;
  g.n = x.size(0), g.c = x.size(1), g.h = x.size(2), g.w = x.size(3), g.k = w.size(0), g.pad = pad;
  g.oh = g.h + 2 * pad - 2, g.ow = g.w + 2 * pad - 2;
  if (g.oh <= 0 || g.ow <= 0) return false;
  g.tiles_y = (g.oh + kTile - 1) / kTile, g.tiles_x = (g.ow + kTile - 1) / kTile;
  g.tiles = g.n * g.tiles_y * g.tiles_x;
  // The weights' transform, per call, costs about the products' work
  // divided by the number of tiles: below 64 tiles it does not pay
  // (pix2pixHD's 1024-channel blocks at 256 pixels, 16 tiles: 1.4× slower
  // than ATen; at 512, 64 tiles: 1.34× faster).
  if (g.tiles < kMinTiles) return false;

  at::Tensor xt = x.contiguous(at::MemoryFormat::ChannelsLast);  // NHWC memory, NCHW sizes
  at::Tensor wc = w.contiguous();
  at::Tensor bc = b.defined() ? b.contiguous() : at::Tensor();
  at::Tensor u = at::empty({kXi, g.c, g.k}, w.options());
  weight_transform(wc.data_ptr<float>(), g.k, g.c, u.data_ptr<float>());

  at::Tensor y = at::empty({g.n, g.k, g.oh, g.ow}, x.options());
  // Chunks of equal size (a multiple of the kernel's 6 rows), not a full
  // budget's worth and a remainder.
  int64_t budget = chunk_tiles(g), chunks = (g.tiles + budget - 1) / budget;
  int64_t tb = std::min(g.tiles, ((g.tiles + chunks - 1) / chunks + 5) / 6 * 6);
  at::Tensor v = at::empty({kXi, tb, g.c}, x.options());
  at::Tensor m = at::empty({kXi, tb, g.k}, x.options());
  const float *xp = xt.data_ptr<float>(), *up = u.data_ptr<float>();
  const float *bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
  float *vp = v.data_ptr<float>(), *mp = m.data_ptr<float>(), *yp = y.data_ptr<float>();
  for (int64_t t0 = 0; t0 < g.tiles; t0 += tb) {
    int64_t nt = std::min(tb, g.tiles - t0);
    at::parallel_for(0, nt, 8, [&](int64_t a, int64_t e) {
      for (int64_t t = a; t < e; ++t) input_transform(g, xp, t0, vp, tb, t);
    });
    // Each (ξ, 16-channel panel) product on one thread, its weight panel
    // (C × 16) in L1 while the chunk's tiles stream past it.
    int64_t panels = g.k / 16;
    at::parallel_for(0, kXi * panels, 1, [&](int64_t a, int64_t e) {
      for (int64_t i = a; i < e; ++i) {
        int64_t xi = i / panels, p = i % panels;
        product(vp + xi * tb * g.c, up + (xi * panels + p) * g.c * 16, nt, g.c, mp + xi * tb * g.k + p * 16, g.k);
      }
    });
    at::parallel_for(0, nt, 8, [&](int64_t a, int64_t e) {
      for (int64_t t = a; t < e; ++t) output_transform(g, mp, tb, t, t0, bp, yp);
    });
  }
  out = std::move(y);
  if (verbose()) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("onednn_verbose,exec,cpu,cyclepix_winograd,avx2_f4x3,mb%ld_ic%ldoc%ld_ih%ldoh%ld_iw%ldow%ld,%g\n",
                static_cast<long>(g.n), static_cast<long>(g.c), static_cast<long>(g.k), static_cast<long>(g.h),
                static_cast<long>(g.oh), static_cast<long>(g.w), static_cast<long>(g.ow), ms);
    std::fflush(stdout);
  }
  return true;
}

#endif

}  // namespace cpshim
