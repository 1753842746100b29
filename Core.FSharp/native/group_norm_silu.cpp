// SiLU(GroupNorm(x)) (Wu & He 2018; Elfwing et al. 2018), a U-Net's normalisation and activation,
// as one fused operation with its own gradient. For each sample n and group g, over the group's D
// channels and S positions (M = D S values):
//   mu, rstd = 1 / sqrt(var + eps)  (the biased variance, as torch.nn.GroupNorm)
//   z = (x - mu) rstd gamma_c + beta_c,   y = z sigmoid(z)
// and backward, with s = sigmoid(z), dz = dy s (1 + z (1 - s)), A_c = sum_S dz, B_c = sum_S dz (x - mu):
//   dbeta_c = sum_n A_c,   dgamma_c = sum_n rstd B_c
//   dx = rstd gamma_c dz - rstd m1 - (x - mu) rstd^2 m2,   m1 = sum_c gamma_c A_c / M,   m2 = sum_c gamma_c rstd B_c / M.
// x - mu is taken as (x - m) - (mu - m) with m the float nearest mu, so that values far from zero
// (a mean of thousands of standard deviations) keep float32's precision in x - mu.
// ATen runs the two as five passes over the tensor forward (moments, normalise, SiLU) and eight
// backward, each from main memory once an activation outgrows the cache (a batch of 128 at
// 96 x 28 x 28 is 38 MB). Here each (n, g) slab (37 KB at 12 x 28 x 28) is read from memory once and
// revisited in the core's cache: two passes forward, three backward; z is recomputed, not stored.
// Channels-last tensors ([N, H, W, C] in memory, as oneDNN's convolutions read and write them
// without a reorder) are normalised in their own layout: per sample (301 KB at 96 x 28 x 28, read
// once and revisited in cache), the loops run along its rows of C channels, eight at a time, each
// channel carrying its group's terms, and sum per channel before summing the groups.
// The fused loops take float32 CPU tensors, contiguous or channels-last (then with a multiple of
// eight channels), with a weight and a bias, on CPUs with AVX2 and FMA; anything else, or a second
// derivative, goes through ATen's group_norm and silu.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "avx2.h"
#include "guard.h"
#include "shim.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor group_norm_silu_ops(const at::Tensor& x, int64_t groups, const at::Tensor& w, const at::Tensor& b, double eps) {
  return at::silu(at::group_norm(x, groups, w, b, eps));
}

#ifdef TS_HAVE_AVX2_KERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

using namespace ::avx2;

// sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) below, e = exp(-|z|); the reciprocal of
// 1 + e in [1, 2] from the 12-bit estimate and one Newton step (relative error about 2^-23), which
// costs a fraction of a division.
inline f32x8 sigmoid(f32x8 z) {
  const f32x8 e = exp_nonpositive(z < 0.0f ? z : -z), u = e + 1.0f;
  f32x8 s = (f32x8)_mm256_rcp_ps((__m256)u);
  s = s * (2.0f - u * s);
  return z >= 0.0f ? s : e * s;
}
inline float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// dy times SiLU's derivative at z: dy s (1 + z (1 - s)).
template <typename T>
inline T silu_gradient(T dy, T z, T s) {
  return dy * s * (z * (1.0f - s) + 1.0f);
}

// The sum of f(i) over i < n, in double (f gives eight values at i, or one).
template <typename F8, typename F1>
inline double sum_over(int64_t n, F8 eight, F1 one) {
  __m256d acc = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = accumulate(acc, eight(i));
  double total = sum(acc);
  for (; i < n; ++i) total += one(i);
  return total;
}

// Applies f(i) for i < n, eight at a time, then one.
template <typename F8, typename F1>
inline void each(int64_t n, F8 eight, F1 one) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) eight(i);
  for (; i < n; ++i) one(i);
}

struct Shape {
  int64_t n, channels, groups, positions;
  int64_t per_group() const { return channels / groups; }
  int64_t slab() const { return per_group() * positions; }
};

// y = SiLU(GN(x)); mean and rstd [n * groups] in double.
void forward(const float* x, const float* gamma, const float* beta, float* y, double* mean, double* rstd, Shape s, double eps) {
  const int64_t slab = s.slab(), slabs = s.n * s.groups;
  at::parallel_for(0, slabs, std::max<int64_t>(1, at::internal::GRAIN_SIZE / slab), [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const float* xs = x + k * slab;
      float* ys = y + k * slab;
      // Two passes for the moments, the second over the slab in cache: no cancellation.
      const double mu = sum_over(slab, [&](int64_t i) { return load(xs + i); }, [&](int64_t i) { return xs[i]; }) / slab;
      const float m = static_cast<float>(mu);
      const double var = sum_over(
          slab, [&](int64_t i) { const f32x8 d = load(xs + i) - m; return d * d; },
          [&](int64_t i) { const float d = xs[i] - m; return d * d; }) / slab;
      const double r = 1.0 / std::sqrt(var + eps);
      mean[k] = mu;
      rstd[k] = r;
      const float residual = static_cast<float>(mu - m);
      for (int64_t j = 0; j < s.per_group(); ++j) {
        const int64_t c = (k % s.groups) * s.per_group() + j;
        const float a = static_cast<float>(r * gamma[c]), b = beta[c];
        const float* xc = xs + j * s.positions;
        float* yc = ys + j * s.positions;
        each(s.positions,
             [&](int64_t i) { const f32x8 z = ((load(xc + i) - m) - residual) * a + b; store(yc + i, z * sigmoid(z)); },
             [&](int64_t i) { const float z = ((xc[i] - m) - residual) * a + b; yc[i] = z * sigmoid(z); });
      }
    }
  });
}

// dx, and A and B [n * channels] (the sums over positions of dz and of dz (x - mu)) for dgamma and dbeta.
void backward(const float* x, const float* dy, const float* gamma, const float* beta, const double* mean, const double* rstd,
              float* dx, double* A, double* B, Shape s) {
  const int64_t slab = s.slab(), slabs = s.n * s.groups, D = s.per_group();
  at::parallel_for(0, slabs, std::max<int64_t>(1, at::internal::GRAIN_SIZE / slab), [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t first = (k % s.groups) * D, row = (k / s.groups) * s.channels + first;
      const double mu = mean[k], r = rstd[k];
      const float m = static_cast<float>(mu), residual = static_cast<float>(mu - m);
      double m1 = 0.0, m2 = 0.0;
      for (int64_t j = 0; j < D; ++j) {
        const int64_t c = first + j;
        const float a = static_cast<float>(r * gamma[c]), b = beta[c];
        const float* xc = x + k * slab + j * s.positions;
        const float* gc = dy + k * slab + j * s.positions;
        // dz goes into dx's place while the slab is in cache; the second pass turns it into dx.
        float* dc = dx + k * slab + j * s.positions;
        __m256d a8 = _mm256_setzero_pd(), b8 = _mm256_setzero_pd();
        double Ac = 0.0, Bc = 0.0;
        each(s.positions,
             [&](int64_t i) {
               const f32x8 d = (load(xc + i) - m) - residual, z = d * a + b, dz = silu_gradient(load(gc + i), z, sigmoid(z));
               store(dc + i, dz);
               a8 = accumulate(a8, dz);
               b8 = accumulate(b8, dz * d);
             },
             [&](int64_t i) {
               const float d = (xc[i] - m) - residual, z = d * a + b, dz = silu_gradient(gc[i], z, sigmoid(z));
               dc[i] = dz;
               Ac += dz;
               Bc += dz * d;
             });
        Ac += sum(a8);
        Bc += sum(b8);
        A[row + j] = Ac;
        B[row + j] = Bc;
        m1 += gamma[c] * Ac;
        m2 += gamma[c] * r * Bc;
      }
      // dx = a_c dz + p + q (x - mu), with a_c = rstd gamma_c, p = -rstd m1, q = -rstd^2 m2.
      const float p = static_cast<float>(-r * m1 / slab), q = static_cast<float>(-r * r * m2 / slab);
      for (int64_t j = 0; j < D; ++j) {
        const float a = static_cast<float>(r * gamma[first + j]);
        const float* xc = x + k * slab + j * s.positions;
        float* dc = dx + k * slab + j * s.positions;
        each(s.positions,
             [&](int64_t i) { store(dc + i, load(dc + i) * a + ((load(xc + i) - m) - residual) * q + p); },
             [&](int64_t i) { dc[i] = dc[i] * a + ((xc[i] - m) - residual) * q + p; });
      }
    }
  });
}

// acc[0..7] += v, in double.
inline void add_to(double* acc, f32x8 v) {
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128((__m256)v))));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps((__m256)v, 1))));
}

// The sums over the S positions of a channels-last sample xs ([S, C], a row of C channels per
// position), per channel, in double: of x, or with `centre` (one value per channel) of (x - centre)^2.
void channel_sums(const float* xs, int64_t S, int64_t C, const float* centre, double* out) {
  std::fill(out, out + C, 0.0);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t c8 = 0; c8 < C; c8 += 8) {
      const f32x8 x = load(xs + i * C + c8);
      if (centre) {
        const f32x8 d = x - load(centre + c8);
        add_to(out + c8, d * d);
      } else {
        add_to(out + c8, x);
      }
    }
}

// The group sums of per-channel sums, D channels a group.
inline double group_sum(const double* sums, int64_t g, int64_t D) {
  double total = 0.0;
  for (int64_t c = g * D; c < (g + 1) * D; ++c) total += sums[c];
  return total;
}

// Each channel's copy of its group's terms: the mean split as m + residual (m its nearest float),
// and the scale a = rstd gamma, so that the loops run over whole rows of channels.
void channel_terms(const double* mean, const double* rstd, const float* gamma, Shape s, float* m, float* residual, float* a) {
  for (int64_t c = 0; c < s.channels; ++c) {
    const int64_t g = c / s.per_group();
    m[c] = static_cast<float>(mean[g]);
    residual[c] = static_cast<float>(mean[g] - m[c]);
    a[c] = static_cast<float>(rstd[g] * gamma[c]);
  }
}

// The forward pass of one channels-last sample: y, and its groups' mean and rstd.
void forward_sample(const float* xs, const float* gamma, const float* beta, float* ys, double* mean, double* rstd,
                    Shape s, double eps) {
  const int64_t S = s.positions, C = s.channels, D = s.per_group();
  const double M = static_cast<double>(D * S);
  std::vector<double> sums(C);
  std::vector<float> m(C), residual(C), a(C);
  channel_sums(xs, S, C, nullptr, sums.data());
  for (int64_t g = 0; g < s.groups; ++g) {
    mean[g] = group_sum(sums.data(), g, D) / M;
    std::fill(&m[g * D], &m[g * D] + D, static_cast<float>(mean[g]));
  }
  // The second pass, over the sample in cache: the squares about each channel's group mean.
  channel_sums(xs, S, C, m.data(), sums.data());
  for (int64_t g = 0; g < s.groups; ++g) rstd[g] = 1.0 / std::sqrt(group_sum(sums.data(), g, D) / M + eps);
  channel_terms(mean, rstd, gamma, s, m.data(), residual.data(), a.data());
  for (int64_t i = 0; i < S; ++i)
    for (int64_t c8 = 0; c8 < C; c8 += 8) {
      const f32x8 z = ((load(xs + i * C + c8) - load(&m[c8])) - load(&residual[c8])) * load(&a[c8]) + load(beta + c8);
      store(ys + i * C + c8, z * sigmoid(z));
    }
}

// The backward pass of one channels-last sample: dx, and the sums A and B of its channels.
void backward_sample(const float* xs, const float* dys, const float* gamma, const float* beta, const double* mean,
                     const double* rstd, float* dxs, double* A, double* B, Shape s) {
  const int64_t S = s.positions, C = s.channels, D = s.per_group();
  const double M = static_cast<double>(D * S);
  std::vector<float> m(C), residual(C), a(C), p(C), q(C);
  channel_terms(mean, rstd, gamma, s, m.data(), residual.data(), a.data());
  // dz goes into dx's place while the sample is in cache; A and B are summed on the way.
  std::fill(A, A + C, 0.0);
  std::fill(B, B + C, 0.0);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t c8 = 0; c8 < C; c8 += 8) {
      const f32x8 d = (load(xs + i * C + c8) - load(&m[c8])) - load(&residual[c8]), z = d * load(&a[c8]) + load(beta + c8);
      const f32x8 dz = silu_gradient(load(dys + i * C + c8), z, sigmoid(z));
      store(dxs + i * C + c8, dz);
      add_to(A + c8, dz);
      add_to(B + c8, dz * d);
    }
  // dx = a_c dz + p + q (x - mu) with the group's p = -rstd m1 and q = -rstd^2 m2, as above.
  for (int64_t g = 0; g < s.groups; ++g) {
    double m1 = 0.0, m2 = 0.0;
    for (int64_t c = g * D; c < (g + 1) * D; ++c) {
      m1 += gamma[c] * A[c];
      m2 += gamma[c] * rstd[g] * B[c];
    }
    std::fill(&p[g * D], &p[g * D] + D, static_cast<float>(-rstd[g] * m1 / M));
    std::fill(&q[g * D], &q[g * D] + D, static_cast<float>(-rstd[g] * rstd[g] * m2 / M));
  }
  for (int64_t i = 0; i < S; ++i)
    for (int64_t c8 = 0; c8 < C; c8 += 8) {
      float* dc = dxs + i * C + c8;
      store(dc, load(dc) * load(&a[c8]) + ((load(xs + i * C + c8) - load(&m[c8])) - load(&residual[c8])) * load(&q[c8]) + load(&p[c8]));
    }
}

// The channels-last forward and backward, the samples shared out among the threads.
void forward_channels_last(const float* x, const float* gamma, const float* beta, float* y, double* mean, double* rstd,
                           Shape s, double eps) {
  const int64_t sample = s.channels * s.positions;
  at::parallel_for(0, s.n, std::max<int64_t>(1, at::internal::GRAIN_SIZE / sample), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      forward_sample(x + n * sample, gamma, beta, y + n * sample, mean + n * s.groups, rstd + n * s.groups, s, eps);
  });
}

void backward_channels_last(const float* x, const float* dy, const float* gamma, const float* beta, const double* mean,
                            const double* rstd, float* dx, double* A, double* B, Shape s) {
  const int64_t sample = s.channels * s.positions;
  at::parallel_for(0, s.n, std::max<int64_t>(1, at::internal::GRAIN_SIZE / sample), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      backward_sample(x + n * sample, dy + n * sample, gamma, beta, mean + n * s.groups, rstd + n * s.groups,
                      dx + n * sample, A + n * s.channels, B + n * s.channels, s);
  });
}

}  // namespace avx2
#pragma GCC pop_options
#endif

// Whether x is a 4-d channels-last tensor (and not also a contiguous one, as [N, C, 1, 1] is).
bool channels_last(const at::Tensor& x) {
  return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

bool fusable(const at::Tensor& x, int64_t groups, const at::Tensor& w, const at::Tensor& b) {
  if (!ts_avx2_kernels_usable() || !w.defined() || !b.defined() || x.dim() < 2 || groups < 1) return false;
  const int64_t channels = x.size(1);
  if (channels % groups != 0 || x.numel() == 0 || w.numel() != channels || b.numel() != channels) return false;
  if (channels_last(x) ? channels % 8 != 0 : !x.is_contiguous()) return false;
  for (const auto* t : {&x, &w, &b})
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat) return false;
  return w.is_contiguous() && b.is_contiguous();
}

#ifdef TS_HAVE_AVX2_KERNELS
avx2::Shape shape_of(const at::Tensor& x, int64_t groups) {
  return {x.size(0), x.size(1), groups, x.numel() / (x.size(0) * x.size(1))};
}

struct GroupNormSilu : public torch::autograd::Function<GroupNormSilu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            int64_t groups, double eps) {
    const auto s = shape_of(x, groups);
    at::Tensor y = at::empty_like(x);
    const auto stats = x.options().dtype(at::kDouble);
    at::Tensor mean = at::empty({s.n * groups}, stats), rstd = at::empty({s.n * groups}, stats);
    // empty_like keeps x's layout, so y and x index alike.
    (channels_last(x) ? avx2::forward_channels_last : avx2::forward)(
        x.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>(), mean.data_ptr<double>(),
        rstd.data_ptr<double>(), s, eps);
    ctx->save_for_backward({x, w, b, mean, rstd});
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["eps"] = eps;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &b = saved[2], &mean = saved[3], &rstd = saved[4];
    const int64_t groups = ctx->saved_data["groups"].toInt();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    // dy in x's layout, so that the two index alike.
    const at::Tensor dy = grads[0].contiguous(channels_last(x) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
    // With create_graph the gradients must themselves be differentiable: ATen's composite, again.
    if (at::GradMode::is_enabled() || dy.scalar_type() != at::kFloat) {
      std::vector<at::Tensor> inputs;
      for (const auto& t : {x, w, b})
        if (t.requires_grad()) inputs.push_back(t);
      const auto y = group_norm_silu_ops(x, groups, w, b, ctx->saved_data["eps"].toDouble());
      const auto found = torch::autograd::grad({y}, inputs, {dy}, true, true, true);
      variable_list out;
      size_t next = 0;
      for (const auto& t : {x, w, b}) out.push_back(t.requires_grad() ? found[next++] : at::Tensor());
      out.push_back(at::Tensor());
      out.push_back(at::Tensor());
      return out;
    }
    const auto s = shape_of(x, groups);
    at::Tensor dx = at::empty_like(x);
    const auto sums = x.options().dtype(at::kDouble);
    at::Tensor A = at::empty({s.n, s.channels}, sums), B = at::empty({s.n, s.channels}, sums);
    (channels_last(x) ? avx2::backward_channels_last : avx2::backward)(
        x.data_ptr<float>(), dy.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), mean.data_ptr<double>(),
        rstd.data_ptr<double>(), dx.data_ptr<float>(), A.data_ptr<double>(), B.data_ptr<double>(), s);
    // dgamma_c = sum_n rstd B, dbeta_c = sum_n A, over the [n, channels] sums.
    const at::Tensor r = rstd.view({s.n, groups}).repeat_interleave(s.per_group(), 1);
    at::Tensor dw = (r * B).sum(0).to(at::kFloat).view(w.sizes()), db = A.sum(0).to(at::kFloat).view(b.sizes());
    return {dx, dw, db, at::Tensor(), at::Tensor()};
  }
};
#endif

at::Tensor group_norm_silu(const at::Tensor& x, int64_t groups, const at::Tensor& w, const at::Tensor& b, double eps) {
#ifdef TS_HAVE_AVX2_KERNELS
  if (fusable(x, groups, w, b)) return GroupNormSilu::apply(x, w, b, groups, eps);
#endif
  return group_norm_silu_ops(x, groups, w, b, eps);
}

}  // namespace

int ts_group_norm_silu(tensor x, int64_t groups, tensor w, tensor b, double eps, tensor* out) {
  GUARD(*out = new at::Tensor(group_norm_silu(T(x), groups, w ? T(w) : at::Tensor(), b ? T(b) : at::Tensor(), eps)))
}
