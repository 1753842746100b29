// log p(x | logits) of independent Bernoulli pixels, summed over the last dimension, as one fused
// operation with its own gradient:
//   log p(x | l) = sum_j [ x_j l_j - softplus(l_j) ],   softplus(l) = max(l, 0) + log1p(exp(-|l|))
//   d/dl_j       = x_j - sigmoid(l_j)
// This is -binary_cross_entropy_with_logits(l, x, reduction="none").sum(-1), which ATen computes in
// about a dozen passes over the pixels, each with its own temporary; here the forward is one pass
// (one exp and one log1p per pixel, the sum accumulated in double) and the backward one more.
// The fused loops take contiguous float32 CPU tensors whose x is l's shape or a suffix of it (the
// same images under k samples of z), on CPUs with AVX2 and FMA; anything else, a gradient for x,
// or a second derivative goes through the same formula in ATen ops.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "avx2.h"
#include "guard.h"
#include "shim.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The composite: ATen's BCE with logits, negated and summed over the last dimension.
at::Tensor log_prob_ops(const at::Tensor& logits, const at::Tensor& x) {
  return at::binary_cross_entropy_with_logits(logits, x.expand_as(logits), {}, {}, at::Reduction::None).sum(-1).neg();
}

#ifdef TS_HAVE_AVX2_KERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

using namespace ::avx2;

// log(u) for u in [1, 2]: u = 2^k m with m in [sqrt(1/2), sqrt(2)), log m by Cephes' logf
// polynomial in f = m - 1 (relative error below 2e-7).
inline f32x8 log_1_to_2(f32x8 u) {
  const i32x8 high = u > 1.41421356237f;
  const f32x8 k = high ? splat(1.0f) : splat(0.0f);
  const f32x8 f = (high ? u * 0.5f : u) - 1.0f;
  const f32x8 z = f * f;
  f32x8 p = splat(7.0376836292e-2f);
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  return f + (p * f * z + k * -2.12194440e-4f - 0.5f * z) + k * 0.693359375f;
}

// log1p(e) for e in [0, 1]: log(u) for u = 1 + e rounded, plus log(1 + e) - log(u) ~ (e - (u - 1)) / u,
// where u - 1 is exact and |e - (u - 1)| <= 2^-24, so an approximate reciprocal (12 bits) adds an
// error below 2^-35.
inline f32x8 log1p_unit(f32x8 e) {
  const f32x8 u = e + 1.0f;
  return log_1_to_2(u) + (e - (u - 1.0f)) * _mm256_rcp_ps(u);
}

inline float log1p_unit(float e) { return std::log1p(e); }
inline float max0(float l) { return l > 0.0f ? l : 0.0f; }
inline f32x8 max0(f32x8 l) { return l > 0.0f ? l : splat(0.0f); }
inline float abs_(float l) { return std::fabs(l); }
inline f32x8 abs_(f32x8 l) { return l < 0.0f ? -l : l; }

// The summand x l - softplus(l) of one pixel (T = float) or eight (T = f32x8).
template <typename T>
inline T log_prob_term(T l, T x) {
  return x * l - max0(l) - log1p_unit(exp_nonpositive(-abs_(l)));
}

// x - sigmoid(l), with sigmoid(l) = 1 / (1 + e) for l >= 0 and e / (1 + e) below, e = exp(-|l|).
template <typename T>
inline T score(T l, T x) {
  const T e = exp_nonpositive(-abs_(l));
  const T s = 1.0f / (e + 1.0f);
  return x - (l >= 0.0f ? s : e * s);
}

// out[r] = sum_j term(l[r, j], x[r mod xrows, j]) over rows of width d.
void log_prob_rows(const float* l, const float* x, float* out, int64_t rows, int64_t xrows, int64_t d) {
  at::parallel_for(0, rows, std::max<int64_t>(1, at::internal::GRAIN_SIZE / d), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* lr = l + r * d;
      const float* xr = x + (r % xrows) * d;
      __m256d acc = _mm256_setzero_pd();
      int64_t j = 0;
      for (; j + 8 <= d; j += 8) {
        acc = accumulate(acc, log_prob_term(load(lr + j), load(xr + j)));
      }
      double total = sum(acc);
      for (; j < d; ++j) total += log_prob_term(lr[j], xr[j]);
      out[r] = static_cast<float>(total);
    }
  });
}

// grad[r, j] = g[r] (x[r mod xrows, j] - sigmoid(l[r, j])).
void gradient_rows(const float* l, const float* x, const float* g, float* grad, int64_t rows, int64_t xrows, int64_t d) {
  at::parallel_for(0, rows, std::max<int64_t>(1, at::internal::GRAIN_SIZE / d), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* lr = l + r * d;
      const float* xr = x + (r % xrows) * d;
      float* out = grad + r * d;
      int64_t j = 0;
      for (; j + 8 <= d; j += 8) {
        store(out + j, g[r] * score(load(lr + j), load(xr + j)));
      }
      for (; j < d; ++j) out[j] = g[r] * score(lr[j], xr[j]);
    }
  });
}

}  // namespace avx2
#pragma GCC pop_options
#endif

// Whether the fused loops take these tensors: contiguous float32 on the CPU, x of l's trailing shape.
bool fusable(const at::Tensor& logits, const at::Tensor& x) {
  if (!ts_avx2_kernels_usable() || logits.dim() < 1 || x.dim() < 1 || x.dim() > logits.dim()) return false;
  for (const auto* t : {&logits, &x})
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous()) return false;
  return logits.sizes().slice(logits.dim() - x.dim()).equals(x.sizes()) && logits.size(-1) > 0;
}

#ifdef TS_HAVE_AVX2_KERNELS
struct BernoulliLogProb : public torch::autograd::Function<BernoulliLogProb> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& x) {
    ctx->save_for_backward({logits, x});
    const int64_t d = logits.size(-1);
    at::Tensor out = at::empty(logits.sizes().slice(0, logits.dim() - 1), logits.options());
    avx2::log_prob_rows(logits.data_ptr<float>(), x.data_ptr<float>(), out.data_ptr<float>(), logits.numel() / d,
                        x.numel() / d, d);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& logits = saved[0];
    const at::Tensor& x = saved[1];
    const at::Tensor g = grads[0].contiguous();
    // With create_graph the gradient must itself be differentiable: take it in ATen ops.
    if (at::GradMode::is_enabled() || !g.defined() || g.scalar_type() != at::kFloat)
      return {(x - logits.sigmoid()) * g.unsqueeze(-1), at::Tensor()};
    at::Tensor grad = at::empty_like(logits);
    const int64_t d = logits.size(-1);
    avx2::gradient_rows(logits.data_ptr<float>(), x.data_ptr<float>(), g.data_ptr<float>(), grad.data_ptr<float>(),
                        logits.numel() / d, x.numel() / d, d);
    return {grad, at::Tensor()};
  }
};
#endif

at::Tensor bernoulli_log_prob(const at::Tensor& logits, const at::Tensor& x) {
#ifdef TS_HAVE_AVX2_KERNELS
  if (fusable(logits, x) && !x.requires_grad()) return BernoulliLogProb::apply(logits, x);
#endif
  return log_prob_ops(logits, x);
}

}  // namespace

int ts_bernoulli_log_prob(tensor logits, tensor x, tensor* out) {
  GUARD(*out = new at::Tensor(bernoulli_log_prob(T(logits), T(x))))
}
