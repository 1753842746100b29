// Fused multi-tensor optimizer steps: one call updates every parameter over the raw buffers, with no
// temporaries. The arithmetic follows torch.optim's single-tensor Adam and SGD (PyTorch 1.13,
// torch/optim/adam.py and sgd.py) operation by operation, so trajectories agree with PyTorch's to
// rounding. Tensors the loops cannot take (off the CPU, strided, mixed dtypes; Adam without AVX2) take
// the same steps as ATen ops.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "avx2.h"
#include "guard.h"
#include "shim.h"

namespace {

// Elements per task: small enough to split a 650k-parameter model across cores, large enough that a
// task outweighs its scheduling.
constexpr int64_t kGrain = 32768;

// Runs body(k, from, to) over element ranges of tensors k = 0..n-1 laid end to end, so that many small
// tensors (biases) share one parallel region instead of each paying for their own.
template <typename Body>
void for_each_range(const std::vector<at::Tensor>& tensors, const Body& body) {
  std::vector<int64_t> offsets{0};
  for (const auto& t : tensors) offsets.push_back(offsets.back() + t.numel());
  at::parallel_for(0, offsets.back(), kGrain, [&](int64_t begin, int64_t end) {
    size_t k = std::upper_bound(offsets.begin(), offsets.end(), begin) - offsets.begin() - 1;
    for (; begin < end; ++k) {
      const int64_t stop = std::min(end, offsets[k + 1]);
      body(k, begin - offsets[k], stop - offsets[k]);
      begin = stop;
    }
  });
}

template <typename S>
std::vector<S*> pointers(const std::vector<at::Tensor>& tensors) {
  std::vector<S*> out;
  for (const auto& t : tensors) out.push_back(t.defined() ? t.data_ptr<S>() : nullptr);
  return out;
}

// Whether every tensor of every group is a contiguous CPU float or double buffer of one dtype.
bool flat_cpu(std::initializer_list<const std::vector<at::Tensor>*> groups) {
  at::ScalarType dtype = at::kFloat;
  bool first = true;
  for (const auto* group : groups)
    for (const auto& t : *group) {
      if (!t.device().is_cpu() || !t.is_contiguous()) return false;
      if (first) dtype = t.scalar_type();
      first = false;
      if (t.scalar_type() != dtype || (dtype != at::kFloat && dtype != at::kDouble)) return false;
    }
  return true;
}

void check_state(const at::Tensor& p, const at::Tensor& state, const char* what) {
  TORCH_CHECK(state.defined() && state.sizes() == p.sizes() && state.scalar_type() == p.scalar_type() &&
                  state.device() == p.device(),
              "optimizer state '", what, "' does not match its parameter (shape ", p.sizes(), ", ", p.scalar_type(),
              ", ", p.device(), ")");
}

// The parameters that have a gradient (torch.optim skips the others), by index.
std::vector<int> with_grad(void** params, int n) {
  std::vector<int> ks;
  for (int k = 0; k < n; ++k)
    if (T(params[k]).grad().defined()) ks.push_back(k);
  return ks;
}

// An in-place update through raw pointers is invisible to autograd's version counter; bumping it
// keeps the "modified by an inplace operation" check working for graphs that saved a parameter.
void bump_versions(void** params, const std::vector<int>& ks) {
  for (int k : ks) T(params[k]).unsafeGetTensorImpl()->bump_version();
}

// ---- Adam ----
// torch.optim.Adam (foreach=False, maximize=False, capturable=False), for step t:
//   g <- g + wd p;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  vmax <- max(vmax, v) (AMSGrad)
//   p <- p - (lr / (1 - b1^t)) m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps)
struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad;
};

// The scalars of one parameter's step, in its dtype. The bias corrections are computed in double
// from the step count and then rounded, as Python computes them and ATen casts them.
template <typename S>
struct AdamScalars {
  S beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, neg_step_size, bias_correction2_sqrt;
  AdamScalars(const AdamOptions& o, int64_t step)
      : beta1(o.beta1),
        one_minus_beta1(1.0 - o.beta1),
        beta2(o.beta2),
        one_minus_beta2(1.0 - o.beta2),
        eps(o.eps),
        weight_decay(o.weight_decay),
        neg_step_size(-(o.lr / (1.0 - std::pow(o.beta1, static_cast<double>(step))))),
        bias_correction2_sqrt(std::sqrt(1.0 - std::pow(o.beta2, static_cast<double>(step)))) {}
};

void adam_ops(const at::Tensor& p, const at::Tensor& grad_in, const at::Tensor& m, const at::Tensor& v,
              at::Tensor* vmax, int64_t step, const AdamOptions& o) {
  at::NoGradGuard no_grad;
  const at::Tensor grad = o.weight_decay != 0.0 ? grad_in.add(p, o.weight_decay) : grad_in;
  m.mul_(o.beta1).add_(grad, 1.0 - o.beta1);
  v.mul_(o.beta2).addcmul_(grad, grad, 1.0 - o.beta2);
  const double t = static_cast<double>(step);
  const double step_size = o.lr / (1.0 - std::pow(o.beta1, t));
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, t));
  if (vmax) at::maximum_out(*vmax, *vmax, v);
  const at::Tensor denom = ((vmax ? *vmax : v).sqrt() / bias_correction2_sqrt).add_(o.eps);
  p.addcdiv_(m, denom, -step_size);
}

#ifdef TS_HAVE_AVX2_KERNELS
// The element loop in 256-bit vectors (GCC vector extensions, compiled for AVX2 + FMA and chosen at run
// time). Written by hand because the compiler will not vectorize sqrt unless the whole library is built
// with -fno-math-errno.
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

using namespace ::avx2;

typedef double f64x4 __attribute__((vector_size(32)));
template <typename S>
struct Vector;
template <>
struct Vector<float> {
  using type = f32x8;
};
template <>
struct Vector<double> {
  using type = f64x4;
};

inline float root(float x) { return std::sqrt(x); }
inline double root(double x) { return std::sqrt(x); }
inline f32x8 root(f32x8 x) { return _mm256_sqrt_ps(x); }
inline f64x4 root(f64x4 x) { return _mm256_sqrt_pd(x); }

// One Adam update of an element (T = S) or of a vector of elements (T = Vector<S>::type).
template <bool Decay, bool Amsgrad, typename T, typename S>
inline void adam_update(T& p, T g, T& m, T& v, T& vmax, const AdamScalars<S>& c) {
  if (Decay) g = g + c.weight_decay * p;
  m = m * c.beta1 + c.one_minus_beta1 * g;
  v = v * c.beta2 + c.one_minus_beta2 * g * g;
  if (Amsgrad) vmax = vmax < v ? v : vmax;
  const T denom = root(Amsgrad ? vmax : v) / c.bias_correction2_sqrt + c.eps;
  p = p + c.neg_step_size * m / denom;
}

template <bool Decay, bool Amsgrad, typename S>
void adam_range(S* p, const S* g, S* m, S* v, S* vmax, int64_t n, const AdamScalars<S>& c) {
  using V = typename Vector<S>::type;
  constexpr int64_t lanes = sizeof(V) / sizeof(S);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    V pv, gv, mv, vv, vmaxv{};
    __builtin_memcpy(&pv, p + i, sizeof(V));
    __builtin_memcpy(&gv, g + i, sizeof(V));
    __builtin_memcpy(&mv, m + i, sizeof(V));
    __builtin_memcpy(&vv, v + i, sizeof(V));
    if (Amsgrad) __builtin_memcpy(&vmaxv, vmax + i, sizeof(V));
    adam_update<Decay, Amsgrad>(pv, gv, mv, vv, vmaxv, c);
    __builtin_memcpy(p + i, &pv, sizeof(V));
    __builtin_memcpy(m + i, &mv, sizeof(V));
    __builtin_memcpy(v + i, &vv, sizeof(V));
    if (Amsgrad) __builtin_memcpy(vmax + i, &vmaxv, sizeof(V));
  }
  for (; i < n; ++i) {
    S vmaxi = Amsgrad ? vmax[i] : S(0);
    adam_update<Decay, Amsgrad>(p[i], g[i], m[i], v[i], vmaxi, c);
    if (Amsgrad) vmax[i] = vmaxi;
  }
}

template <typename S>
void adam(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
          const std::vector<at::Tensor>& exp_avg, const std::vector<at::Tensor>& exp_avg_sq,
          const std::vector<at::Tensor>& max_exp_avg_sq, const std::vector<int64_t>& steps, const AdamOptions& o) {
  const auto p = pointers<S>(params), g = pointers<S>(grads), m = pointers<S>(exp_avg), v = pointers<S>(exp_avg_sq);
  const auto vmax = pointers<S>(max_exp_avg_sq);
  std::vector<AdamScalars<S>> scalars;
  for (int64_t t : steps) scalars.emplace_back(o, t);
  // Dispatch once on the options, so the element loops carry no branches.
  const auto range = o.weight_decay != 0.0 ? (o.amsgrad ? adam_range<true, true, S> : adam_range<true, false, S>)
                                           : (o.amsgrad ? adam_range<false, true, S> : adam_range<false, false, S>);
  for_each_range(params, [&](size_t k, int64_t from, int64_t to) {
    range(p[k] + from, g[k] + from, m[k] + from, v[k] + from, o.amsgrad ? vmax[k] + from : nullptr, to - from,
          scalars[k]);
  });
}

}  // namespace avx2
#pragma GCC pop_options
#endif

void adam_step(void** params, void** exp_avg, void** exp_avg_sq, void** max_exp_avg_sq, int64_t* steps, int n,
               const AdamOptions& o) {
  TORCH_CHECK(!o.amsgrad || max_exp_avg_sq, "amsgrad needs max_exp_avg_sq buffers");
  const std::vector<int> ks = with_grad(params, n);
  std::vector<at::Tensor> p, g, m, v, vmax;
  std::vector<int64_t> t;
  for (int k : ks) {
    const at::Tensor& param = T(params[k]);
    TORCH_CHECK(at::isFloatingType(param.scalar_type()), "Adam needs floating-point parameters, got ",
                param.scalar_type());
    check_state(param, T(exp_avg[k]), "exp_avg");
    check_state(param, T(exp_avg_sq[k]), "exp_avg_sq");
    if (o.amsgrad) check_state(param, T(max_exp_avg_sq[k]), "max_exp_avg_sq");
    check_state(param, param.grad(), "grad");
    p.push_back(param);
    g.push_back(param.grad());
    m.push_back(T(exp_avg[k]));
    v.push_back(T(exp_avg_sq[k]));
    if (o.amsgrad) vmax.push_back(T(max_exp_avg_sq[k]));
    t.push_back(steps[k] + 1);
  }
  const bool fused = !p.empty() && ts_avx2_kernels_usable() && flat_cpu({&p, &g, &m, &v, &vmax});
#ifdef TS_HAVE_AVX2_KERNELS
  if (fused && p.front().scalar_type() == at::kFloat) avx2::adam<float>(p, g, m, v, vmax, t, o);
  if (fused && p.front().scalar_type() == at::kDouble) avx2::adam<double>(p, g, m, v, vmax, t, o);
#endif
  if (!fused)
    for (size_t i = 0; i < p.size(); ++i) adam_ops(p[i], g[i], m[i], v[i], o.amsgrad ? &vmax[i] : nullptr, t[i], o);
  for (int k : ks) ++steps[k];
  bump_versions(params, ks);
}

// ---- SGD ----
// torch.optim.SGD (maximize=False):
//   g <- g + wd p;  b <- g on the first step, else mu b + (1-dampening) g;
//   g <- g + mu b (Nesterov) or b;  p <- p - lr g
struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};

// No sqrt here, so the compiler vectorizes the plain loop for any target once the options are template
// arguments. The first step sets b <- g, which is b <- 0 b + 1 g on the zero-initialised buffer.
template <typename S, bool Decay, bool Momentum, bool Nesterov>
void sgd_range(S* __restrict p, const S* __restrict g, S* __restrict b, int64_t n, const SgdOptions& o, bool first) {
  const S neg_lr = -o.lr, weight_decay = o.weight_decay, momentum = o.momentum;
  const S keep = first ? 0.0 : o.momentum, scale = first ? 1.0 : 1.0 - o.dampening;
  for (int64_t i = 0; i < n; ++i) {
    S d = Decay ? g[i] + weight_decay * p[i] : g[i];
    if (Momentum) {
      b[i] = b[i] * keep + scale * d;
      d = Nesterov ? d + momentum * b[i] : b[i];
    }
    p[i] = p[i] + neg_lr * d;
  }
}

template <typename S>
void sgd(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
         const std::vector<at::Tensor>& buffers, const std::vector<uint8_t>& has_buffer, const SgdOptions& o) {
  const auto p = pointers<S>(params), g = pointers<S>(grads), b = pointers<S>(buffers);
  using Range = void (*)(S*, const S*, S*, int64_t, const SgdOptions&, bool);
  // Indexed by [weight decay][momentum][nesterov]; Nesterov without momentum is rejected by the caller.
  const Range ranges[2][2][2] = {
      {{sgd_range<S, false, false, false>, nullptr},
       {sgd_range<S, false, true, false>, sgd_range<S, false, true, true>}},
      {{sgd_range<S, true, false, false>, nullptr}, {sgd_range<S, true, true, false>, sgd_range<S, true, true, true>}}};
  const bool momentum = o.momentum != 0.0;
  const Range range = ranges[o.weight_decay != 0.0][momentum][momentum && o.nesterov];
  for_each_range(params, [&](size_t k, int64_t from, int64_t to) {
    range(p[k] + from, g[k] + from, momentum ? b[k] + from : nullptr, to - from, o, !has_buffer[k]);
  });
}

void sgd_ops(const at::Tensor& p, const at::Tensor& grad_in, at::Tensor* buffer, bool first, const SgdOptions& o) {
  at::NoGradGuard no_grad;
  at::Tensor d = o.weight_decay != 0.0 ? grad_in.add(p, o.weight_decay) : grad_in;
  if (buffer) {
    if (first)
      buffer->copy_(d);
    else
      buffer->mul_(o.momentum).add_(d, 1.0 - o.dampening);
    d = o.nesterov ? d.add(*buffer, o.momentum) : *buffer;
  }
  p.add_(d, -o.lr);
}

void sgd_step(void** params, void** momentum_buffer, int64_t* steps, int n, const SgdOptions& o) {
  const bool use_momentum = o.momentum != 0.0;
  TORCH_CHECK(!use_momentum || momentum_buffer, "momentum needs momentum buffers");
  const std::vector<int> ks = with_grad(params, n);
  std::vector<at::Tensor> p, g, b;
  std::vector<uint8_t> has;
  for (int k : ks) {
    const at::Tensor& param = T(params[k]);
    TORCH_CHECK(at::isFloatingType(param.scalar_type()), "SGD needs floating-point parameters, got ",
                param.scalar_type());
    check_state(param, param.grad(), "grad");
    if (use_momentum) check_state(param, T(momentum_buffer[k]), "momentum_buffer");
    p.push_back(param);
    g.push_back(param.grad());
    if (use_momentum) b.push_back(T(momentum_buffer[k]));
    has.push_back(steps[k] > 0);
  }
  const bool fused = !p.empty() && flat_cpu({&p, &g, &b});
  if (fused && p.front().scalar_type() == at::kFloat) sgd<float>(p, g, b, has, o);
  if (fused && p.front().scalar_type() == at::kDouble) sgd<double>(p, g, b, has, o);
  if (!fused)
    for (size_t i = 0; i < p.size(); ++i) sgd_ops(p[i], g[i], use_momentum ? &b[i] : nullptr, !has[i], o);
  for (int k : ks) ++steps[k];
  bump_versions(params, ks);
}

// Optimizer.zero_grad, as torch.optim does it: drop the gradients, or zero them in place.
void zero_grad(void** params, int n, bool set_to_none) {
  for (int k = 0; k < n; ++k) {
    at::Tensor& grad = T(params[k]).mutable_grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      grad.reset();
    } else {
      if (grad.grad_fn())
        grad.detach_();
      else
        grad.requires_grad_(false);
      grad.zero_();
    }
  }
}

}  // namespace

int ts_optim_adam_step(tensor* params, tensor* exp_avg, tensor* exp_avg_sq, tensor* max_exp_avg_sq, int64_t* steps,
                       int n, double lr, double beta1, double beta2, double eps, double weight_decay, int amsgrad) {
  GUARD(adam_step(params, exp_avg, exp_avg_sq, max_exp_avg_sq, steps, n,
                  AdamOptions{lr, beta1, beta2, eps, weight_decay, amsgrad != 0}))
}

int ts_optim_sgd_step(tensor* params, tensor* momentum_buffer, int64_t* steps, int n, double lr, double momentum,
                      double dampening, double weight_decay, int nesterov) {
  GUARD(sgd_step(params, momentum_buffer, steps, n, SgdOptions{lr, momentum, dampening, weight_decay, nesterov != 0}))
}

int ts_optim_zero_grad(tensor* params, int n, int set_to_none) { GUARD(zero_grad(params, n, set_to_none != 0)) }

// As torch.nn.Module._apply does with param.data = fn(param).
int ts_param_set_data(tensor param, tensor data) { GUARD(T(param).set_data(T(data))) }
