// The narrow output convolution of narrow_conv.h: 8 input channels per AVX2 vector, the output
// channels as separate accumulators, batch rows split over libtorch's threads.
#include "narrow_conv.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <type_traits>
#include <vector>

#include "avx2.h"

int64_t narrow_conv_blocks(const NarrowConv& c) { return (c.channels + c.block - 1) / c.block; }

bool narrow_conv_usable(const NarrowConv& c) {
  return ts_avx2_kernels_usable() && (c.block == 8 || c.block == 16) && c.outputs >= 1 && c.outputs < 8;
}

#ifdef TS_HAVE_AVX2_KERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace {

typedef float f32x8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t i32x8 __attribute__((vector_size(32), aligned(4)));

inline f32x8 load(const float* p) { return *reinterpret_cast<const f32x8*>(p); }
inline void store(float* p, f32x8 v) { *reinterpret_cast<f32x8*>(p) = v; }
inline float sum(f32x8 v) {
  float s = 0.0f;
  for (int i = 0; i < 8; ++i) s += v[i];
  return s;
}

// The weights as [channel block][tap][output][lane], zero on the padding channels.
std::vector<float> arrange(const NarrowConv& c, const float* w) {
  const int64_t B = c.block, O = c.outputs;
  std::vector<float> wv(narrow_conv_blocks(c) * 9 * O * B, 0.0f);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t ch = 0; ch < c.channels; ++ch)
      for (int64_t tap = 0; tap < 9; ++tap)
        wv[(((ch / B) * 9 + tap) * O + o) * B + ch % B] = w[(o * c.channels + ch) * 9 + tap];
  return wv;
}

// Calls f with O and V = B / 8 as compile-time constants.
template <typename F>
void with_sizes(const NarrowConv& c, F&& f) {
  auto by_block = [&](auto o) {
    if (c.block == 8)
      f(o, std::integral_constant<int, 1>{});
    else
      f(o, std::integral_constant<int, 2>{});
  };
  switch (c.outputs) {
    case 1: by_block(std::integral_constant<int, 1>{}); break;
    case 2: by_block(std::integral_constant<int, 2>{}); break;
    case 3: by_block(std::integral_constant<int, 3>{}); break;
    case 4: by_block(std::integral_constant<int, 4>{}); break;
    case 5: by_block(std::integral_constant<int, 5>{}); break;
    case 6: by_block(std::integral_constant<int, 6>{}); break;
    case 7: by_block(std::integral_constant<int, 7>{}); break;
  }
}

// y[n][o][r][x] = b[o] + sum_{c, ky, kx} w[o][c][ky][kx] h[n][c][r + ky - 1][x + kx - 1], for rows
// n * H + r in [begin, end).
template <int O, int V>
void forward_rows(const NarrowConv& c, const float* h, const float* wv, const float* b, float* y, int64_t begin,
                  int64_t end) {
  constexpr int B = 8 * V;
  const int64_t H = c.height, W = c.width, CB = narrow_conv_blocks(c);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / H, r = row % H;
    for (int64_t x = 0; x < W; ++x) {
      f32x8 acc[O] = {};
      for (int64_t cb = 0; cb < CB; ++cb) {
        const float* hb = h + (n * CB + cb) * H * W * B;
        for (int ky = 0; ky < 3; ++ky) {
          const int64_t yy = r + ky - 1;
          if (yy < 0 || yy >= H) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int64_t xx = x + kx - 1;
            if (xx < 0 || xx >= W) continue;
            const float* hp = hb + (yy * W + xx) * B;
            const float* wp = wv + (cb * 9 + ky * 3 + kx) * O * B;
            for (int v = 0; v < V; ++v) {
              const f32x8 hv = load(hp + 8 * v);
              for (int o = 0; o < O; ++o) acc[o] += load(wp + o * B + 8 * v) * hv;
            }
          }
        }
      }
      for (int o = 0; o < O; ++o) y[((n * O + o) * H + r) * W + x] = b[o] + sum(acc[o]);
    }
  }
}

// dh[n][c][r][x] = sum_{o, ky, kx} w[o][c][ky][kx] dy[n][o][r + 1 - ky][x + 1 - kx] where h > 0.
template <int O, int V>
void backward_data_rows(const NarrowConv& c, const float* dy, const float* wv, const float* h, float* dh,
                        int64_t begin, int64_t end) {
  constexpr int B = 8 * V;
  const int64_t H = c.height, W = c.width, CB = narrow_conv_blocks(c);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / H, r = row % H;
    for (int64_t x = 0; x < W; ++x) {
      for (int64_t cb = 0; cb < CB; ++cb) {
        f32x8 acc[V] = {};
        for (int ky = 0; ky < 3; ++ky) {
          const int64_t yy = r + 1 - ky;
          if (yy < 0 || yy >= H) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int64_t xx = x + 1 - kx;
            if (xx < 0 || xx >= W) continue;
            const float* wp = wv + (cb * 9 + ky * 3 + kx) * O * B;
            for (int o = 0; o < O; ++o) {
              const float s = dy[((n * O + o) * H + yy) * W + xx];
              for (int v = 0; v < V; ++v) acc[v] += load(wp + o * B + 8 * v) * s;
            }
          }
        }
        const int64_t at = (((n * CB + cb) * H + r) * W + x) * B;
        for (int v = 0; v < V; ++v) {
          const i32x8 positive = load(h + at + 8 * v) > 0.0f;
          store(dh + at + 8 * v, (f32x8)((i32x8)acc[v] & positive));
        }
      }
    }
  }
}

// Adds sum_{r, x} dy[n][o][r][x] h[n][c][r + ky - 1][x + kx - 1] into part ([block][tap][o][lane])
// and the sums of dy into db, for images n in [begin, end).
template <int O, int V>
void backward_weights_images(const NarrowConv& c, const float* dy, const float* h, float* part, float* db,
                             int64_t begin, int64_t end) {
  constexpr int B = 8 * V;
  const int64_t H = c.height, W = c.width, CB = narrow_conv_blocks(c);
  for (int64_t n = begin; n < end; ++n) {
    const float* dyn = dy + n * O * H * W;
    for (int o = 0; o < O; ++o)
      for (int64_t i = 0; i < H * W; ++i) db[o] += dyn[o * H * W + i];
    for (int64_t cb = 0; cb < CB; ++cb) {
      const float* hb = h + (n * CB + cb) * H * W * B;
      for (int ky = 0; ky < 3; ++ky) {
        f32x8 acc[3][O][V] = {};
        for (int64_t r = 0; r < H; ++r) {
          const int64_t yy = r + ky - 1;
          if (yy < 0 || yy >= H) continue;
          for (int64_t x = 0; x < W; ++x) {
            float s[O];
            for (int o = 0; o < O; ++o) s[o] = dyn[(o * H + r) * W + x];
            for (int kx = 0; kx < 3; ++kx) {
              const int64_t xx = x + kx - 1;
              if (xx < 0 || xx >= W) continue;
              const float* hp = hb + (yy * W + xx) * B;
              for (int v = 0; v < V; ++v) {
                const f32x8 hv = load(hp + 8 * v);
                for (int o = 0; o < O; ++o) acc[kx][o][v] += hv * s[o];
              }
            }
          }
        }
        for (int kx = 0; kx < 3; ++kx)
          for (int o = 0; o < O; ++o)
            for (int v = 0; v < V; ++v) {
              float* p = part + ((cb * 9 + ky * 3 + kx) * O + o) * B + 8 * v;
              store(p, load(p) + acc[kx][o][v]);
            }
      }
    }
  }
}

}  // namespace

void narrow_conv_forward(const NarrowConv& c, const float* h, const float* w, const float* b, float* y) {
  const std::vector<float> wv = arrange(c, w);
  with_sizes(c, [&](auto o, auto v) {
    at::parallel_for(0, c.batch * c.height, 1, [&](int64_t begin, int64_t end) {
      forward_rows<decltype(o)::value, decltype(v)::value>(c, h, wv.data(), b, y, begin, end);
    });
  });
}

void narrow_conv_backward_data(const NarrowConv& c, const float* dy, const float* w, const float* h, float* dh) {
  const std::vector<float> wv = arrange(c, w);
  with_sizes(c, [&](auto o, auto v) {
    at::parallel_for(0, c.batch * c.height, 1, [&](int64_t begin, int64_t end) {
      backward_data_rows<decltype(o)::value, decltype(v)::value>(c, dy, wv.data(), h, dh, begin, end);
    });
  });
}

void narrow_conv_backward_weights(const NarrowConv& c, const float* dy, const float* h, float* dw, float* db) {
  const int64_t B = c.block, O = c.outputs, size = narrow_conv_blocks(c) * 9 * O * B;
  // One partial sum per thread, added up in a fixed order.
  const int threads = at::get_num_threads();
  std::vector<float> parts(threads * size, 0.0f), bias_parts(threads * O, 0.0f);
  with_sizes(c, [&](auto o, auto v) {
    at::parallel_for(0, c.batch, 1, [&](int64_t begin, int64_t end) {
      const int t = at::get_thread_num();
      backward_weights_images<decltype(o)::value, decltype(v)::value>(c, dy, h, parts.data() + t * size,
                                                                     bias_parts.data() + t * O, begin, end);
    });
  });
  for (int64_t o = 0; o < O; ++o) {
    db[o] = 0.0f;
    for (int t = 0; t < threads; ++t) db[o] += bias_parts[t * O + o];
    for (int64_t ch = 0; ch < c.channels; ++ch)
      for (int64_t tap = 0; tap < 9; ++tap) {
        float s = 0.0f;
        for (int t = 0; t < threads; ++t) s += parts[t * size + (((ch / B) * 9 + tap) * O + o) * B + ch % B];
        dw[(o * c.channels + ch) * 9 + tap] = s;
      }
  }
}

#pragma GCC pop_options
#else
// Never called: narrow_conv_usable is false where the loops are not compiled.
void narrow_conv_forward(const NarrowConv&, const float*, const float*, const float*, float*) { std::abort(); }
void narrow_conv_backward_data(const NarrowConv&, const float*, const float*, const float*, float*) { std::abort(); }
void narrow_conv_backward_weights(const NarrowConv&, const float*, const float*, float*, float*) { std::abort(); }
#endif
