// The conv net of an affine coupling, conv3x3 - ReLU - conv3x3 - ReLU - conv3x3 (stride 1, padding
// 1), as one operation with its own gradient, on oneDNN directly.
//
// ATen runs each convolution through oneDNN too, but it hands oneDNN plain NCHW tensors: every call
// reorders its input into oneDNN's channel-blocked layout and its output back, and the backward pass
// reorders them again (a fifth of PyTorch's time on the flow's step is these reorders). Here the
// hidden activations stay in the blocked layout that the convolutions choose, from the first
// convolution's output to the last one's input, forward and backward; the ReLUs run as the
// convolutions' post-ops, and their gradient is one masked pass over the blocked gradient. Only the
// net's input and output are plain tensors. The kernels are the ones ATen calls, except for a last
// layer of fewer than 8 outputs (the scale and shift of 1 to 3 image channels), which oneDNN would
// compute 8 wide; it runs on the loops of narrow_conv.h. The numbers agree with the composite up to
// float32 summation order.
//
// The fused path takes contiguous float32 CPU tensors (4-D input, 3x3 weights, biases); anything
// else, or a gradient that must itself be differentiable, goes through the same layers in ATen ops.
#include <torch/csrc/autograd/custom_function.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <mutex>
#include <optional>

#include "guard.h"
#include "shim.h"
#include "narrow_conv.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using dnnl::memory;
using tag = dnnl::memory::format_tag;

constexpr int kLayers = 3;

at::Tensor net_ops(const at::Tensor& x, const at::Tensor* w, const at::Tensor* b) {
  at::Tensor h = at::conv2d(x, w[0], b[0], 1, 1).relu();
  h = at::conv2d(h, w[1], b[1], 1, 1).relu();
  return at::conv2d(h, w[2], b[2], 1, 1);
}

const dnnl::engine& cpu() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::dims dims_of(const at::Tensor& t) { return memory::dims(t.sizes().begin(), t.sizes().end()); }

// A tensor in a oneDNN layout: its bytes live in a float32 torch tensor, so the autograd graph owns
// and frees them like any other saved tensor.
struct Blocked {
  at::Tensor storage;
  memory::desc desc;
  memory mem() const { return memory(desc, cpu(), storage.data_ptr()); }
};

Blocked allocate(const memory::desc& desc) {
  return {at::empty({static_cast<int64_t>(desc.get_size() / sizeof(float))}, at::kFloat), desc};
}

Blocked wrap(const at::Tensor& plain) {
  return {plain, memory::desc(dims_of(plain), memory::data_type::f32, plain.dim() == 1 ? tag::a : tag::abcd)};
}

void run(dnnl::primitive&& p, std::unordered_map<int, memory> args) {
  dnnl::stream s(cpu());
  p.execute(s, args);
  s.wait();
}

void reorder_into(const Blocked& from, const Blocked& to) {
  memory src = from.mem(), dst = to.mem();
  run(dnnl::reorder(src, dst), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
}

// `from` in the layout `to`; no copy when it is already there.
Blocked reorder(const Blocked& from, const memory::desc& to) {
  if (from.desc == to) return from;
  Blocked out = allocate(to);
  reorder_into(from, out);
  return out;
}

memory::desc any(const memory::dims& dims) { return memory::desc(dims, memory::data_type::f32, tag::any); }

memory::dims output_dims(const memory::desc& src, int64_t channels) {
  memory::dims d = src.dims();
  d[1] = channels;
  return d;
}

const memory::dims kOnes{1, 1};  // strides, and the padding on either side

dnnl::convolution_forward::primitive_desc forward_pd(const memory::desc& src, const at::Tensor& w, bool relu) {
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  const memory::desc bias({w.size(0)}, memory::data_type::f32, tag::x);
  return {{dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, any(dims_of(w)), bias,
           any(output_dims(src, w.size(0))), kOnes, kOnes, kOnes},
          attr, cpu()};
}

// The channel block of a layout oneDNN chose for a hidden activation (aBcd8b or aBcd16b), else 0.
int block_of(const memory::desc& d) {
  for (const auto& [layout, block] : {std::pair{tag::aBcd8b, 8}, std::pair{tag::aBcd16b, 16}})
    if (d == memory::desc(d.dims(), memory::data_type::f32, layout)) return block;
  return 0;
}

memory::desc blocked(const memory::dims& dims, int block) {
  return memory::desc(dims, memory::data_type::f32, block == 16 ? tag::aBcd16b : tag::aBcd8b);
}

// Whether oneDNN serves a primitive with a reference implementation: correct, but tens of times
// slower than its JIT kernels (on AVX-512 CPUs, the weights' gradient of a 3x3 convolution from 8
// channels on a plain source is one: 0.4-0.95 s a call instead of a few milliseconds).
bool is_reference(const dnnl::primitive_desc_base& pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; }

// The first of the candidate layouts for which make(candidate) gives a primitive that is not a
// reference one; nullopt when every candidate does.
template <typename Candidate, typename Make>
auto first_fast(const std::vector<Candidate>& candidates, Make&& make) -> std::optional<decltype(make(candidates[0]))> {
  for (const Candidate& c : candidates) {
    auto pd = make(c);
    if (!is_reference(pd)) return pd;
  }
  return std::nullopt;
}

// Everything the fused operation runs for one shape of input and weights, chosen once and cached:
// each layer's forward and backward primitives, where the last layer (fewer than 8 outputs) and the
// first one's backward (fewer than 8 inputs) run on the narrow loops instead, and whether the fused
// path is taken at all. Each primitive takes the first of several layouts for which oneDNN has a
// kernel that is not a reference one: the layouts the neighbouring layers left (no reorder), then
// those oneDNN prefers, then the channels blocked by 16 or 8 (padded); a shape for which some
// primitive has only reference kernels runs on ATen's convolutions instead.
struct Plan {
  dnnl::convolution_forward::primitive_desc pd[kLayers];
  dnnl::convolution_backward_weights::primitive_desc weights_pd[kLayers];
  dnnl::convolution_backward_data::primitive_desc data_pd[kLayers];
  NarrowConv last, first;
  bool narrow_last = false, narrow_first = false, fused = true;
};

Plan make_plan(const memory::dims& x, const at::Tensor* w) {
  Plan p;
  const memory::desc no_bias;
  std::vector<memory::desc> sources{any(x), blocked(x, 16), blocked(x, 8)};
  for (int l = 0; l < kLayers; ++l) {
    auto fwd = first_fast(sources, [&](const memory::desc& src) { return forward_pd(src, w[l], l < kLayers - 1); });
    if (!fwd) {
      p.fused = false;
      return p;
    }
    p.pd[l] = *fwd;
    // The next layer reads this one's output as it is, else reordered.
    const memory::dims& h = p.pd[l].dst_desc().dims();
    sources = {p.pd[l].dst_desc(), any(h), blocked(h, 16), blocked(h, 8)};
  }
  const at::Tensor& w3 = w[kLayers - 1];
  p.last = {x[0], w3.size(1), x[2], x[3], block_of(p.pd[kLayers - 1].src_desc()), static_cast<int>(w3.size(0))};
  p.narrow_last = narrow_conv_usable(p.last);
  // The first layer's gradients are narrow convolutions of its blocked output gradient (see run_backward).
  p.first = {x[0], w[0].size(0), x[2], x[3], block_of(p.pd[0].dst_desc()), static_cast<int>(x[1])};
  p.narrow_first = narrow_conv_usable(p.first);
  for (int l = 0; l < kLayers; ++l) {
    if ((l == kLayers - 1 && p.narrow_last) || (l == 0 && p.narrow_first)) continue;
    // The layouts of the layer's input and of its output's gradient: first as the forward pass left
    // them (for the first layer, x as the backward kernels choose, else blocked like its output, the
    // channels padded to the block), then as the kernels choose both; the backward pass reorders
    // into what the plan chose.
    const memory::desc &src = p.pd[l].src_desc(), &dst = p.pd[l].dst_desc();
    std::vector<std::pair<memory::desc, memory::desc>> layouts{{src, dst}};
    if (l == 0) layouts = {{any(x), dst}, {blocked(x, block_of(dst)), dst}};
    layouts.push_back({any(src.dims()), any(dst.dims())});
    const memory::desc bias({w[l].size(0)}, memory::data_type::f32, tag::x);
    auto weights = first_fast(layouts, [&](const auto& io) {
      return dnnl::convolution_backward_weights::primitive_desc(
          {dnnl::algorithm::convolution_direct, io.first, any(dims_of(w[l])), bias, io.second, kOnes, kOnes, kOnes},
          cpu(), p.pd[l]);
    });
    auto data = first_fast(layouts, [&](const auto& io) {
      return dnnl::convolution_backward_data::primitive_desc(
          {dnnl::algorithm::convolution_direct, io.first, any(dims_of(w[l])), io.second, kOnes, kOnes, kOnes}, cpu(),
          p.pd[l]);
    });
    if (!weights || !data) {
      p.fused = false;
      return p;
    }
    p.weights_pd[l] = *weights;
    p.data_pd[l] = *data;
  }
  return p;
}

// The plan for these shapes, built on first use.
std::shared_ptr<const Plan> plan(const memory::dims& x, const at::Tensor* w) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans;
  std::vector<int64_t> key(x);
  for (int l = 0; l < kLayers; ++l) key.insert(key.end(), w[l].sizes().begin(), w[l].sizes().end());
  std::lock_guard<std::mutex> lock(mutex);
  auto& found = plans[key];
  if (!found) found = std::make_shared<const Plan>(make_plan(x, w));
  return found;
}

// The forward pass: the output, and each layer's input in its layout (x reordered, h1, h2).
struct Forward {
  at::Tensor out;
  Blocked inputs[kLayers];
};

Forward run_forward(const Plan& p, const at::Tensor& x, const at::Tensor* w, const at::Tensor* b) {
  Forward f;
  f.out = at::empty({x.size(0), w[kLayers - 1].size(0), x.size(2), x.size(3)}, x.options());
  f.inputs[0] = reorder(wrap(x), p.pd[0].src_desc());
  for (int l = 0; l < kLayers; ++l) {
    if (l == kLayers - 1 && p.narrow_last) {
      narrow_conv_forward(p.last, f.inputs[l].storage.data_ptr<float>(), w[l].data_ptr<float>(),
                          b[l].data_ptr<float>(), f.out.data_ptr<float>());
      break;
    }
    Blocked dst = allocate(p.pd[l].dst_desc());
    run(dnnl::convolution_forward(p.pd[l]), {{DNNL_ARG_SRC, f.inputs[l].mem()},
                                             {DNNL_ARG_WEIGHTS, reorder(wrap(w[l]), p.pd[l].weights_desc()).mem()},
                                             {DNNL_ARG_BIAS, wrap(b[l]).mem()},
                                             {DNNL_ARG_DST, dst.mem()}});
    if (l + 1 < kLayers)
      f.inputs[l + 1] = reorder(dst, p.pd[l + 1].src_desc());
    else
      reorder_into(dst, wrap(f.out));
  }
  return f;
}

// The backward pass from the output's gradient: the gradients of x (when `input_grad`), of the
// weights and of the biases, in that order.
variable_list run_backward(const Plan& p, const at::Tensor& x, const at::Tensor* w, const Blocked* inputs,
                           const at::Tensor& grad, bool input_grad) {
  variable_list grads(1 + 2 * kLayers);
  const at::Tensor dout = grad.contiguous();
  Blocked dy;  // the gradient of layer l's output, in its layout
  int l = kLayers - 1;
  if (p.narrow_last) {
    grads[2 * kLayers - 1] = at::empty_like(w[l]);
    grads[2 * kLayers] = at::empty({w[l].size(0)}, at::kFloat);
    narrow_conv_backward_weights(p.last, dout.data_ptr<float>(), inputs[l].storage.data_ptr<float>(),
                                 grads[2 * kLayers - 1].data_ptr<float>(), grads[2 * kLayers].data_ptr<float>());
    // Through the ReLU that made the layer's input, in the same pass.
    dy = allocate(inputs[l].desc);
    narrow_conv_backward_data(p.last, dout.data_ptr<float>(), w[l].data_ptr<float>(),
                              inputs[l].storage.data_ptr<float>(), dy.storage.data_ptr<float>());
    --l;
  } else {
    dy = reorder(wrap(dout), p.pd[l].dst_desc());
  }
  for (; l >= 0; --l) {
    if (l == 0 && p.narrow_first) {
      // With w' the weights with input and output swapped and the taps flipped (w'[c][o][2 - ky][2 - kx]
      // = w[o][c][ky][kx]), the input's gradient is the convolution of dy by w', and the weights'
      // gradient is x correlated with dy, which the narrow loops give as dw'.
      const at::Tensor dy0 = reorder(dy, p.pd[0].dst_desc()).storage;
      at::Tensor dw_swapped = at::empty({x.size(1), w[0].size(0), 3, 3}, at::kFloat);
      at::Tensor sum_x = at::empty({x.size(1)}, at::kFloat);  // the loops' "bias gradient" here, unused
      narrow_conv_backward_weights(p.first, x.data_ptr<float>(), dy0.data_ptr<float>(), dw_swapped.data_ptr<float>(),
                                   sum_x.data_ptr<float>());
      grads[1] = dw_swapped.flip({2, 3}).transpose(0, 1).contiguous();
      grads[2] = dy0.view({x.size(0), narrow_conv_blocks(p.first), x.size(2) * x.size(3), p.first.block})
                     .sum(at::IntArrayRef{0, 2})
                     .flatten()
                     .narrow(0, 0, w[0].size(0));
      if (input_grad) {
        const at::Tensor swapped = w[0].flip({2, 3}).transpose(0, 1).contiguous();
        grads[0] = at::empty_like(x);
        narrow_conv_forward(p.first, dy0.data_ptr<float>(), swapped.data_ptr<float>(),
                            at::zeros({x.size(1)}, at::kFloat).data_ptr<float>(), grads[0].data_ptr<float>());
      }
      break;
    }
    const auto& wpd = p.weights_pd[l];
    Blocked dw = allocate(wpd.diff_weights_desc());
    at::Tensor db = at::empty({w[l].size(0)}, at::kFloat);
    run(dnnl::convolution_backward_weights(wpd), {{DNNL_ARG_SRC, reorder(inputs[l], wpd.src_desc()).mem()},
                                                  {DNNL_ARG_DIFF_DST, reorder(dy, wpd.diff_dst_desc()).mem()},
                                                  {DNNL_ARG_DIFF_WEIGHTS, dw.mem()},
                                                  {DNNL_ARG_DIFF_BIAS, wrap(db).mem()}});
    grads[1 + 2 * l] = at::empty_like(w[l]);
    reorder_into(dw, wrap(grads[1 + 2 * l]));
    grads[2 + 2 * l] = db;
    if (l == 0 && !input_grad) break;
    const auto& dpd = p.data_pd[l];
    Blocked dx = allocate(dpd.diff_src_desc());
    run(dnnl::convolution_backward_data(dpd), {{DNNL_ARG_DIFF_DST, reorder(dy, dpd.diff_dst_desc()).mem()},
                                               {DNNL_ARG_WEIGHTS, reorder(wrap(w[l]), dpd.weights_desc()).mem()},
                                               {DNNL_ARG_DIFF_SRC, dx.mem()}});
    if (l == 0) {
      grads[0] = at::empty_like(x);
      reorder_into(dx, wrap(grads[0]));
    } else {
      // ReLU's gradient: through where its output (this layer's input) is positive.
      dx = reorder(dx, inputs[l].desc);
      dy = {at::threshold_backward(dx.storage, inputs[l].storage, 0), dx.desc};
    }
  }
  return grads;
}

struct ConvNet : public torch::autograd::Function<ConvNet> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1,
                            const at::Tensor& w2, const at::Tensor& b2, const at::Tensor& w3, const at::Tensor& b3) {
    const at::Tensor w[] = {w1, w2, w3}, b[] = {b1, b2, b3};
    Forward f = run_forward(*plan(dims_of(x), w), x, w, b);
    ctx->save_for_backward({x, w1, b1, w2, b2, w3, b3, f.inputs[0].storage, f.inputs[1].storage, f.inputs[2].storage});
    return f.out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor w[] = {saved[1], saved[3], saved[5]}, b[] = {saved[2], saved[4], saved[6]};
    // With create_graph the gradient must itself be differentiable: take it through the ATen layers.
    if (at::GradMode::is_enabled()) {
      std::vector<at::Tensor> wanted;
      for (int i = 0; i < 1 + 2 * kLayers; ++i)
        if (saved[i].requires_grad()) wanted.push_back(saved[i]);
      const variable_list found = torch::autograd::grad({net_ops(x, w, b)}, wanted, {grads[0]}, true, true, true);
      variable_list result(1 + 2 * kLayers);
      for (int i = 0, k = 0; i < 1 + 2 * kLayers; ++i)
        if (saved[i].requires_grad()) result[i] = found[k++];
      return result;
    }
    Blocked inputs[kLayers];
    const Plan& p = *plan(dims_of(x), w);
    for (int l = 0; l < kLayers; ++l) inputs[l] = {saved[7 + l], p.pd[l].src_desc()};
    return run_backward(p, x, w, inputs, grads[0], ctx->needs_input_grad(0));
  }
};

bool fusable(const at::Tensor& x, const at::Tensor* w, const at::Tensor* b) {
  if (x.dim() != 4 || x.numel() == 0) return false;
  int64_t channels = x.size(1);
  for (int l = 0; l < kLayers; ++l) {
    if (w[l].dim() != 4 || w[l].size(1) != channels || w[l].size(2) != 3 || w[l].size(3) != 3 || b[l].dim() != 1 ||
        b[l].size(0) != w[l].size(0))
      return false;
    channels = w[l].size(0);
  }
  for (const at::Tensor& t : {x, w[0], b[0], w[1], b[1], w[2], b[2]})
    if (!t.device().is_cpu() || t.scalar_type() != at::kFloat || !t.is_contiguous()) return false;
  return true;
}

// Whether the fused operation takes these tensors: float32 CPU tensors of matching shapes, for which
// every primitive it would run has a kernel that is not a reference one.
bool fused(const at::Tensor& x, const at::Tensor* w, const at::Tensor* b) {
  return fusable(x, w, b) && plan(dims_of(x), w)->fused;
}

at::Tensor conv_net(const at::Tensor& x, const at::Tensor* w, const at::Tensor* b) {
  if (fused(x, w, b)) return ConvNet::apply(x, w[0], b[0], w[1], b[1], w[2], b[2]);
  return net_ops(x, w, b);
}

}  // namespace

int ts_conv_net(tensor x, tensor w1, tensor b1, tensor w2, tensor b2, tensor w3, tensor b3, tensor* out) {
  const at::Tensor w[] = {T(w1), T(w2), T(w3)}, b[] = {T(b1), T(b2), T(b3)};
  GUARD(*out = new at::Tensor(conv_net(T(x), w, b)))
}

int ts_conv_net_fused(tensor x, tensor w1, tensor b1, tensor w2, tensor b2, tensor w3, tensor b3, int* out) {
  const at::Tensor w[] = {T(w1), T(w2), T(w3)}, b[] = {T(b1), T(b2), T(b3)};
  GUARD(*out = fused(T(x), w, b) ? 1 : 0)
}
