// torch.nn.functional.linear on oneDNN's sgemm where it can (see linear.cpp).
#pragma once
#include <ATen/ATen.h>

namespace shim {
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias);
}
