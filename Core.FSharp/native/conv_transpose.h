// torch.nn.functional.conv_transpose2d on oneDNN's convolution kernels where it can (see conv_transpose.cpp).
#pragma once
#include <ATen/ATen.h>

namespace shim {
at::Tensor conv_transpose2d(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
                            int64_t groups, at::IntArrayRef dilation);
}
