// torch.nn.functional.conv_transpose2d for float32 CPU tensors, as what it is: the adjoint of a
// convolution. libtorch 1.13 runs a transposed convolution on the CPU as one small matrix product
// and col2im per image (slow_conv_transpose2d), 3-7 times slower forward and backward than the
// convolution kernels oneDNN has for the same products. Here
//   y = A_w^T x, with A_w the convolution by w:     y  = the input gradient of a convolution (oneDNN),
//                                                   dx = A_w dy, a convolution (oneDNN),
//                                                   dw = the weight gradient of that convolution with
//                                                        dy as its input and x as its output gradient;
// and on a 1 x 1 input without padding (the DCGAN's projection of z) y is a matrix product,
// y[n, o, i, j] = sum_c x[n, c] w[c, o, i, j]. Other cases (groups, dilation, other dtypes or
// devices, a gradient that must itself be differentiable) go through ATen's conv_transpose2d.
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "conv_transpose.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool is_projection(const at::Tensor& x, at::IntArrayRef padding, at::IntArrayRef output_padding) {
  return x.size(2) == 1 && x.size(3) == 1 && padding[0] == 0 && padding[1] == 0 && output_padding[0] == 0 &&
         output_padding[1] == 0;
}

at::Tensor transposed(const at::Tensor& x, const at::Tensor& w, at::IntArrayRef stride, at::IntArrayRef padding,
                      at::IntArrayRef output_padding) {
  if (is_projection(x, padding, output_padding))
    return x.flatten(1).mm(w.flatten(1)).view({x.size(0), w.size(1), w.size(2), w.size(3)});
  const int64_t height = (x.size(2) - 1) * stride[0] - 2 * padding[0] + w.size(2) + output_padding[0];
  const int64_t width = (x.size(3) - 1) * stride[1] - 2 * padding[1] + w.size(3) + output_padding[1];
  // convolution_backward reads only the shape of the convolution's input (here the output), and
  // its memory format: a channels-last x gives a channels-last y.
  const at::Tensor shape =
      at::empty({x.size(0), w.size(1), height, width}, x.options().memory_format(x.suggest_memory_format()));
  return std::get<0>(at::convolution_backward(x, shape, w, c10::nullopt, stride, padding, {1, 1}, false, {0, 0}, 1,
                                              {true, false, false}));
}

struct ConvTranspose : public torch::autograd::Function<ConvTranspose> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, at::IntArrayRef stride,
                            at::IntArrayRef padding, at::IntArrayRef output_padding) {
    ctx->save_for_backward({x, w});
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["output_padding"] = output_padding.vec();
    return transposed(x, w, stride, padding, output_padding);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const auto output_padding = ctx->saved_data["output_padding"].toIntVector();
    const at::Tensor dy = grads[0].contiguous(x.suggest_memory_format());
    variable_list result(5);
    // With create_graph the gradient must itself be differentiable: take it through ATen's op.
    if (at::GradMode::is_enabled()) {
      std::vector<at::Tensor> wanted;
      for (const at::Tensor& t : {x, w})
        if (t.requires_grad()) wanted.push_back(t);
      const at::Tensor y = at::conv_transpose2d(x, w, {}, stride, padding, output_padding);
      const variable_list found = torch::autograd::grad({y}, wanted, {dy}, true, true, true);
      for (int i = 0, k = 0; i < 2; ++i)
        if (saved[i].requires_grad()) result[i] = found[k++];
      return result;
    }
    if (is_projection(x, padding, output_padding)) {
      const at::Tensor dy2 = dy.flatten(1);  // [N, O * kh * kw]
      if (ctx->needs_input_grad(0)) result[0] = dy2.mm(w.flatten(1).t()).view_as(x);
      if (ctx->needs_input_grad(1)) result[1] = x.flatten(1).t().mm(dy2).view_as(w);
      return result;
    }
    if (ctx->needs_input_grad(0)) result[0] = at::conv2d(dy, w, {}, stride, padding);
    if (ctx->needs_input_grad(1))
      result[1] = std::get<1>(at::convolution_backward(x, dy, w, c10::nullopt, stride, padding, {1, 1}, false, {0, 0},
                                                       1, {false, true, false}));
    return result;
  }
};

}  // namespace

at::Tensor shim::conv_transpose2d(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
                            int64_t groups, at::IntArrayRef dilation) {
  const bool plain = x.dim() == 4 && w.dim() == 4 && x.size(1) == w.size(0) && x.numel() > 0 && groups == 1 &&
                     dilation[0] == 1 && dilation[1] == 1 && x.device().is_cpu() && w.device().is_cpu() &&
                     x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat &&
                     output_padding[0] < stride[0] && output_padding[1] < stride[1];
  if (!plain) return at::conv_transpose2d(x, w, bias, stride, padding, output_padding, groups, dilation);
  at::Tensor y =
      ConvTranspose::apply(x.contiguous(x.suggest_memory_format()), w.contiguous(), stride, padding, output_padding);
  if (bias && bias->defined()) y = y + bias->view({1, -1, 1, 1});
  return y;
}
