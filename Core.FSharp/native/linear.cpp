// torch.nn.functional.linear, y = x W^T + b, for float32 CPU matrices, with its three products on
// oneDNN's sgemm. libtorch 1.13 sends them to the system BLAS; Debian's OpenBLAS 0.3.21 runs its
// AVX2 kernels on CPUs it does not know (an AMD EPYC Zen 5: about 105 GFLOP/s a core, where
// oneDNN's AVX-512 kernels reach about 205 on the MLPs' shapes), and oneDNN picks its kernels by the
// ISA itself. The backward pass is the two products of the chain rule, dx = dy W and dW = dy^T x
// (the bias is added after, so autograd sums dy's columns for it).
// Other cases (batched inputs, other dtypes or devices, a gradient that must itself be
// differentiable) go through ATen.
#include <oneapi/dnnl/dnnl.h>
#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>
#include <string>

#include "linear.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// c = a b (row-major; a is m x k, or k x m when ta = 'T'; b is k x n, or n x k when tb = 'T').
void gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const at::Tensor& a, const at::Tensor& b, at::Tensor& c) {
  const dnnl_status_t status = dnnl_sgemm(ta, tb, m, n, k, 1.0f, a.data_ptr<float>(), ta == 'N' ? k : m,
                                          b.data_ptr<float>(), tb == 'N' ? n : k, 0.0f, c.data_ptr<float>(), n);
  if (status != dnnl_success) throw std::runtime_error("oneDNN sgemm failed with status " + std::to_string(status));
}

struct Linear : public torch::autograd::Function<Linear> {
  // y = x w^T, x [m, k] and w [n, k] contiguous.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({x, w});
    const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
    at::Tensor y = at::empty({m, n}, x.options());
    gemm('N', 'T', m, n, k, x, w, y);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const at::Tensor dy = grads[0].contiguous();
    variable_list result(2);
    // With create_graph the gradient must itself be differentiable: ATen's products.
    if (at::GradMode::is_enabled()) {
      if (ctx->needs_input_grad(0)) result[0] = dy.mm(w);
      if (ctx->needs_input_grad(1)) result[1] = dy.t().mm(x);
      return result;
    }
    const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
    if (ctx->needs_input_grad(0)) {
      result[0] = at::empty({m, k}, x.options());
      gemm('N', 'N', m, k, n, dy, w, result[0]);
    }
    if (ctx->needs_input_grad(1)) {
      result[1] = at::empty({n, k}, w.options());
      gemm('T', 'N', n, k, m, dy, x, result[1]);
    }
    return result;
  }
};

}  // namespace

at::Tensor shim::linear(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias) {
  const bool has_bias = bias && bias->defined();
  const bool plain = x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1) && x.numel() > 0 && w.numel() > 0 &&
                     x.device().is_cpu() && w.device().is_cpu() && x.scalar_type() == at::kFloat &&
                     w.scalar_type() == at::kFloat && x.layout() == at::kStrided && w.layout() == at::kStrided &&
                     (!has_bias || (bias->dim() == 1 && bias->size(0) == w.size(0) && bias->device().is_cpu() &&
                                    bias->scalar_type() == at::kFloat && bias->layout() == at::kStrided));
  if (!plain) return at::linear(x, w, bias);
  const at::Tensor y = Linear::apply(x.contiguous(), w.contiguous());
  return has_bias ? y + *bias : y;
}
