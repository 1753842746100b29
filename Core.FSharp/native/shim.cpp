#include "shim.h"
#include "guard.h"
#include "conv_transpose.h"
#include "linear.h"

#include <dlfcn.h>
#include <malloc.h>
#include <cstring>
#include <ATen/CPUGeneratorImpl.h>

static thread_local std::string last_error;
void ts_set_error(const std::string& message) { last_error = message; }

namespace {

at::ScalarType dtype_of(int code) {
  switch (code) {
    case 0: return at::kFloat;
    case 1: return at::kDouble;
    case 2: return at::kLong;
    case 3: return at::kBool;
    case 4: return at::kByte;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int code_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return 0;
    case at::kDouble: return 1;
    case at::kLong: return 2;
    case at::kBool: return 3;
    case at::kByte: return 4;
    default: throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
  }
}

at::Device device_of(int type, int index) {
  switch (type) {
    case 0: return at::Device(at::kCPU);
    case 1: return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("unknown device type " + std::to_string(type));
}

at::TensorOptions options(int dtype, int dev_type, int dev_index) {
  return at::TensorOptions().dtype(dtype_of(dtype)).device(device_of(dev_type, dev_index));
}

// A double crosses the ABI; integer tensors keep integer arithmetic when the value is integral
// (so int64 + 1 stays int64, as in PyTorch).
at::Scalar scalar_for(const at::Tensor& t, double v) {
  if (!at::isFloatingType(t.scalar_type()) && std::isfinite(v) && v == std::floor(v))
    return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

c10::optional<at::Tensor> optional_tensor(tensor h) {
  return h ? c10::optional<at::Tensor>(T(h)) : c10::nullopt;
}

c10::optional<at::Generator> optional_generator(generator g) {
  return g ? c10::optional<at::Generator>(*static_cast<at::Generator*>(g)) : c10::nullopt;
}

at::Generator& G(generator g) { return *static_cast<at::Generator*>(g); }

// ndims == 0 means every dimension.
std::vector<int64_t> reduce_dims(const at::Tensor& t, const int64_t* dims, int ndims) {
  if (ndims > 0) return std::vector<int64_t>(dims, dims + ndims);
  std::vector<int64_t> all(t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) all[i] = i;
  return all;
}

at::IntArrayRef ints(const int64_t* p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

std::vector<at::Tensor> tensors(const tensor* ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(T(ts[i]));
  return v;
}

tensor wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }
tensor wrap_or_null(at::Tensor t) { return t.defined() ? wrap(std::move(t)) : nullptr; }

}  // namespace

extern "C" {

// ---- the op lists of shim.h ----
#define UNARY(f) int ts_##f(tensor a, tensor* out) { GUARD(*out = wrap(at::f(T(a)))) }
#define BINARY(f) int ts_##f(tensor a, tensor b, tensor* out) { GUARD(*out = wrap(at::f(T(a), T(b)))) }
#define ALPHA(f) \
  int ts_##f(tensor a, tensor b, double alpha, tensor* out) { GUARD(*out = wrap(at::f(T(a), T(b), scalar_for(T(b), alpha)))) }
#define SCALAR(f) \
  int ts_##f##_scalar(tensor a, double s, tensor* out) { GUARD(*out = wrap(at::f(T(a), scalar_for(T(a), s)))) }
#define INPLACE_BINARY(f) int ts_##f(tensor a, tensor b) { GUARD(T(a).f(T(b))) }
#define INPLACE_ALPHA(f) int ts_##f(tensor a, tensor b, double alpha) { GUARD(T(a).f(T(b), scalar_for(T(b), alpha))) }
#define INPLACE_SCALAR(f) int ts_##f##_scalar_(tensor a, double s) { GUARD(T(a).f##_(scalar_for(T(a), s))) }
#define INPLACE_UNARY(f) int ts_##f(tensor a) { GUARD(T(a).f()) }
#define REDUCE(f)                                                                  \
  int ts_##f(tensor a, const int64_t* dims, int ndims, int keepdim, tensor* out) { \
    GUARD(*out = wrap(at::f(T(a), reduce_dims(T(a), dims, ndims), keepdim != 0))) \
  }
#define SIZES(f) \
  int ts_##f(tensor a, const int64_t* sizes, int n, tensor* out) { GUARD(*out = wrap(T(a).f(ints(sizes, n)))) }
#define DIM(f) int ts_##f(tensor a, int64_t dim, tensor* out) { GUARD(*out = wrap(at::f(T(a), dim))) }
#define INT(f) int ts_##f(tensor a, int64_t k, tensor* out) { GUARD(*out = wrap(at::f(T(a), k))) }
#define SHAPE_FACTORY(f)                                                                              \
  int ts_##f(const int64_t* shape, int ndims, int dtype, int dev_type, int dev_index, tensor* out) { \
    GUARD(*out = wrap(at::f(ints(shape, ndims), options(dtype, dev_type, dev_index))))             \
  }
#define RANDOM_FACTORY(f)                                                                                 \
  int ts_##f(const int64_t* shape, int ndims, generator g, int dtype, int dev_type, int dev_index,      \
             tensor* out) {                                                                             \
    GUARD(*out = wrap(at::f(ints(shape, ndims), optional_generator(g), options(dtype, dev_type, dev_index)))) \
  }

TS_UNARY_OPS(UNARY)
TS_BINARY_OPS(BINARY)
TS_ALPHA_OPS(ALPHA)
TS_SCALAR_OPS(SCALAR)
TS_INPLACE_BINARY_OPS(INPLACE_BINARY)
TS_INPLACE_ALPHA_OPS(INPLACE_ALPHA)
TS_INPLACE_SCALAR_OPS(INPLACE_SCALAR)
TS_INPLACE_UNARY_OPS(INPLACE_UNARY)
TS_REDUCE_OPS(REDUCE)
TS_SIZES_OPS(SIZES)
TS_DIM_OPS(DIM)
TS_INT_OPS(INT)
TS_SHAPE_FACTORIES(SHAPE_FACTORY)
TS_RANDOM_FACTORIES(RANDOM_FACTORY)

// ---- errors, lifetime, metadata ----
const char* ts_last_error(void) { return last_error.c_str(); }
int ts_free(tensor t) { GUARD(delete static_cast<at::Tensor*>(t)) }
int ts_sizes(tensor a, int64_t* buf, int cap, int* ndims) {
  GUARD({
    auto s = T(a).sizes();
    *ndims = static_cast<int>(s.size());
    for (int i = 0; i < cap && i < *ndims; ++i) buf[i] = s[i];
  })
}
int ts_dtype(tensor a, int* dtype) { GUARD(*dtype = code_of(T(a).scalar_type())) }
int ts_device(tensor a, int* dev_type, int* dev_index) {
  GUARD({
    auto d = T(a).device();
    if (!d.is_cpu() && !d.is_cuda()) throw std::invalid_argument("unsupported device " + d.str());
    *dev_type = d.is_cuda() ? 1 : 0;
    *dev_index = d.index();
  })
}
int ts_numel(tensor a, int64_t* out) { GUARD(*out = T(a).numel()) }
int ts_is_contiguous(tensor a, int* out) { GUARD(*out = T(a).is_contiguous()) }

// ---- data in and out ----
int ts_from_blob(const void* data, const int64_t* shape, int ndims, int dtype, tensor* out) {
  GUARD(*out = wrap(at::from_blob(const_cast<void*>(data), ints(shape, ndims), at::TensorOptions().dtype(dtype_of(dtype)))
                        .clone()))
}
int ts_copy_out(tensor a, void* buf, int64_t nbytes, int dtype) {
  GUARD({
    auto c = T(a).detach().to(at::kCPU, dtype_of(dtype)).contiguous();
    if (static_cast<int64_t>(c.nbytes()) != nbytes)
      throw std::invalid_argument("copy_out: tensor has " + std::to_string(c.nbytes()) + " bytes, buffer has " +
                                  std::to_string(nbytes));
    if (nbytes > 0) std::memcpy(buf, c.data_ptr(), nbytes);
  })
}
int ts_item(tensor a, double* out) { GUARD(*out = T(a).item<double>()) }
int ts_data_ptr(tensor a, void** out) {
  GUARD({
    if (!T(a).device().is_cpu() || !T(a).is_contiguous())
      throw std::invalid_argument("data_ptr needs a contiguous CPU tensor");
    *out = T(a).data_ptr();
  })
}

// ---- factories ----
int ts_full(const int64_t* shape, int ndims, double value, int dtype, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(at::full(ints(shape, ndims), value, options(dtype, dev_type, dev_index))))
}
int ts_scalar_tensor(double value, int dtype, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(at::scalar_tensor(value, options(dtype, dev_type, dev_index))))
}
int ts_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(at::arange(start, end, step, options(dtype, dev_type, dev_index))))
}
int ts_linspace(double start, double end, int64_t steps, int dtype, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(at::linspace(start, end, steps, options(dtype, dev_type, dev_index))))
}
int ts_eye(int64_t n, int64_t m, int dtype, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(at::eye(n, m, options(dtype, dev_type, dev_index))))
}
int ts_full_like(tensor a, double value, tensor* out) { GUARD(*out = wrap(at::full_like(T(a), scalar_for(T(a), value)))) }
int ts_randint(int64_t low, int64_t high, const int64_t* shape, int ndims, generator g, int dtype, int dev_type,
               int dev_index, tensor* out) {
  GUARD(*out = wrap(at::randint(low, high, ints(shape, ndims), optional_generator(g), options(dtype, dev_type, dev_index))))
}
int ts_randperm(int64_t n, generator g, int dtype, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(at::randperm(n, optional_generator(g), options(dtype, dev_type, dev_index))))
}
int ts_bernoulli(tensor probs, generator g, tensor* out) { GUARD(*out = wrap(at::bernoulli(T(probs), optional_generator(g)))) }
int ts_normal_(tensor a, double mean, double std, generator g) { GUARD(T(a).normal_(mean, std, optional_generator(g))) }
int ts_uniform_(tensor a, double from, double to, generator g) { GUARD(T(a).uniform_(from, to, optional_generator(g))) }
int ts_bernoulli_(tensor a, double p, generator g) { GUARD(T(a).bernoulli_(p, optional_generator(g))) }

// ---- conversions ----
int ts_to_dtype(tensor a, int dtype, tensor* out) { GUARD(*out = wrap(T(a).to(dtype_of(dtype)))) }
int ts_to_device(tensor a, int dev_type, int dev_index, tensor* out) {
  GUARD(*out = wrap(T(a).to(device_of(dev_type, dev_index))))
}
int ts_contiguous(tensor a, tensor* out) { GUARD(*out = wrap(T(a).contiguous())) }
// ATen runs a convolution on oneDNN in NHWC when its input suggests channels-last strides; a tensor
// of one channel is already channels-last contiguous but does not suggest it, so it gets such strides.
int ts_channels_last(tensor a, tensor* out) {
  GUARD({
    const at::Tensor& x = T(a);
    if (x.dim() != 4) throw std::invalid_argument("channels_last needs a 4-d tensor [N, C, H, W]");
    *out = wrap(x.suggest_memory_format() == at::MemoryFormat::ChannelsLast
                    ? x
                    : at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::ChannelsLast)).copy_(x));
  })
}

// ---- shape and indexing ----
int ts_transpose(tensor a, int64_t d0, int64_t d1, tensor* out) { GUARD(*out = wrap(at::transpose(T(a), d0, d1))) }
int ts_squeeze(tensor a, tensor* out) { GUARD(*out = wrap(at::squeeze(T(a)))) }
int ts_squeeze_dim(tensor a, int64_t dim, tensor* out) { GUARD(*out = wrap(at::squeeze(T(a), dim))) }
int ts_flatten(tensor a, int64_t start, int64_t end, tensor* out) { GUARD(*out = wrap(at::flatten(T(a), start, end))) }
int ts_narrow(tensor a, int64_t dim, int64_t start, int64_t length, tensor* out) {
  GUARD(*out = wrap(at::narrow(T(a), dim, start, length)))
}
int ts_slice(tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, tensor* out) {
  GUARD(*out = wrap(at::slice(T(a), dim, start, end, step)))
}
int ts_select(tensor a, int64_t dim, int64_t index, tensor* out) { GUARD(*out = wrap(at::select(T(a), dim, index))) }
int ts_index_select(tensor a, int64_t dim, tensor index, tensor* out) {
  GUARD(*out = wrap(at::index_select(T(a), dim, T(index))))
}
int ts_gather(tensor a, int64_t dim, tensor index, tensor* out) { GUARD(*out = wrap(at::gather(T(a), dim, T(index)))) }
int ts_scatter_add(tensor a, int64_t dim, tensor index, tensor src, tensor* out) {
  GUARD(*out = wrap(at::scatter_add(T(a), dim, T(index), T(src))))
}
int ts_masked_fill(tensor a, tensor mask, double value, tensor* out) {
  GUARD(*out = wrap(at::masked_fill(T(a), T(mask), scalar_for(T(a), value))))
}
int ts_where(tensor cond, tensor a, tensor b, tensor* out) { GUARD(*out = wrap(at::where(T(cond), T(a), T(b)))) }
int ts_one_hot(tensor a, int64_t num_classes, tensor* out) { GUARD(*out = wrap(at::one_hot(T(a), num_classes))) }
int ts_cat(const tensor* ts, int n, int64_t dim, tensor* out) { GUARD(*out = wrap(at::cat(tensors(ts, n), dim))) }
int ts_stack(const tensor* ts, int n, int64_t dim, tensor* out) { GUARD(*out = wrap(at::stack(tensors(ts, n), dim))) }
int ts_split_with_sizes(tensor a, const int64_t* sizes, int n, int64_t dim, tensor* outs) {
  GUARD({
    auto parts = at::split_with_sizes(T(a), ints(sizes, n), dim);
    for (int i = 0; i < n; ++i) outs[i] = wrap(parts[i]);
  })
}

// ---- element-wise with scalars and other reductions ----
int ts_pow_scalar_base(double s, tensor a, tensor* out) { GUARD(*out = wrap(at::pow(s, T(a)))) }
int ts_clamp(tensor a, double min, double max, int has_min, int has_max, tensor* out) {
  GUARD(*out = wrap(at::clamp(T(a), has_min ? c10::optional<at::Scalar>(min) : c10::nullopt,
                              has_max ? c10::optional<at::Scalar>(max) : c10::nullopt)))
}
int ts_clamp_(tensor a, double min, double max, int has_min, int has_max) {
  GUARD(T(a).clamp_(has_min ? c10::optional<at::Scalar>(min) : c10::nullopt,
                    has_max ? c10::optional<at::Scalar>(max) : c10::nullopt))
}
int ts_std(tensor a, const int64_t* dims, int ndims, int unbiased, int keepdim, tensor* out) {
  GUARD(*out = wrap(at::std(T(a), at::IntArrayRef(reduce_dims(T(a), dims, ndims)), unbiased != 0, keepdim != 0)))
}
int ts_var(tensor a, const int64_t* dims, int ndims, int unbiased, int keepdim, tensor* out) {
  GUARD(*out = wrap(at::var(T(a), at::IntArrayRef(reduce_dims(T(a), dims, ndims)), unbiased != 0, keepdim != 0)))
}
int ts_prod(tensor a, int64_t dim, int has_dim, int keepdim, tensor* out) {
  GUARD(*out = wrap(has_dim ? at::prod(T(a), dim, keepdim != 0) : at::prod(T(a))))
}
int ts_argmax(tensor a, int64_t dim, int has_dim, int keepdim, tensor* out) {
  GUARD(*out = wrap(at::argmax(T(a), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0)))
}
int ts_topk(tensor a, int64_t k, int64_t dim, int largest, tensor* out) {
  GUARD(*out = wrap(std::get<0>(at::topk(T(a), k, dim, largest != 0, /*sorted=*/true))))
}
int ts_argmin(tensor a, int64_t dim, int has_dim, int keepdim, tensor* out) {
  GUARD(*out = wrap(at::argmin(T(a), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0)))
}
int ts_allclose(tensor a, tensor b, double rtol, double atol, int equal_nan, int* out) {
  GUARD(*out = at::allclose(T(a), T(b), rtol, atol, equal_nan != 0))
}
int ts_equal(tensor a, tensor b, int* out) { GUARD(*out = at::equal(T(a), T(b))) }

// ---- neural-network functions ----
int ts_linear(tensor x, tensor w, tensor b, tensor* out) { GUARD(*out = wrap(shim::linear(T(x), T(w), optional_tensor(b)))) }
int ts_conv2d(tensor x, tensor w, tensor b, const int64_t* stride, const int64_t* padding, const int64_t* dilation,
              int64_t groups, tensor* out) {
  GUARD(*out = wrap(at::conv2d(T(x), T(w), optional_tensor(b), ints(stride, 2), ints(padding, 2), ints(dilation, 2), groups)))
}
int ts_conv_transpose2d(tensor x, tensor w, tensor b, const int64_t* stride, const int64_t* padding,
                        const int64_t* output_padding, int64_t groups, const int64_t* dilation, tensor* out) {
  GUARD(*out = wrap(shim::conv_transpose2d(T(x), T(w), optional_tensor(b), ints(stride, 2), ints(padding, 2),
                                           ints(output_padding, 2), groups, ints(dilation, 2))))
}
int ts_batch_norm(tensor x, tensor w, tensor b, tensor running_mean, tensor running_var, int training, double momentum,
                  double eps, tensor* out) {
  GUARD(*out = wrap(at::batch_norm(T(x), optional_tensor(w), optional_tensor(b), optional_tensor(running_mean),
                                   optional_tensor(running_var), training != 0, momentum, eps,
                                   at::globalContext().userEnabledCuDNN())))
}
int ts_group_norm(tensor x, int64_t groups, tensor w, tensor b, double eps, tensor* out) {
  GUARD(*out = wrap(at::group_norm(T(x), groups, optional_tensor(w), optional_tensor(b), eps)))
}
// Inverted dropout (Srivastava et al. 2014): keep with probability 1-p and scale by 1/(1-p).
// With a generator the mask is drawn from it so runs repeat exactly.
int ts_dropout(tensor x, double p, int training, generator g, tensor* out) {
  GUARD({
    if (p < 0 || p > 1) throw std::invalid_argument("dropout probability must be in [0, 1], got " + std::to_string(p));
    if (!training || p == 0) *out = wrap(T(x));
    else if (p == 1) *out = wrap(T(x) * 0);
    else if (!g) *out = wrap(at::dropout(T(x), p, true));
    else {
      auto mask = at::empty_like(T(x)).bernoulli_(1 - p, optional_generator(g));
      *out = wrap(T(x) * mask.div_(1 - p));
    }
  })
}
int ts_leaky_relu(tensor x, double slope, tensor* out) { GUARD(*out = wrap(at::leaky_relu(T(x), slope))) }
int ts_elu(tensor x, double alpha, tensor* out) { GUARD(*out = wrap(at::elu(T(x), alpha))) }
int ts_softplus(tensor x, double beta, double threshold, tensor* out) {
  GUARD(*out = wrap(at::softplus(T(x), beta, threshold)))
}
int ts_bce_with_logits(tensor x, tensor y, tensor weight, tensor pos_weight, int reduction, tensor* out) {
  GUARD(*out = wrap(at::binary_cross_entropy_with_logits(T(x), T(y), optional_tensor(weight), optional_tensor(pos_weight),
                                                         reduction)))
}
int ts_bce(tensor x, tensor y, tensor weight, int reduction, tensor* out) {
  GUARD(*out = wrap(at::binary_cross_entropy(T(x), T(y), optional_tensor(weight), reduction)))
}
int ts_mse_loss(tensor x, tensor y, int reduction, tensor* out) { GUARD(*out = wrap(at::mse_loss(T(x), T(y), reduction))) }
int ts_nll_loss(tensor x, tensor target, tensor weight, int reduction, int64_t ignore_index, tensor* out) {
  GUARD(*out = wrap(at::nll_loss(T(x), T(target), optional_tensor(weight), reduction, ignore_index)))
}
int ts_cross_entropy(tensor x, tensor target, tensor weight, int reduction, int64_t ignore_index, double label_smoothing,
                     tensor* out) {
  GUARD(*out = wrap(at::cross_entropy_loss(T(x), T(target), optional_tensor(weight), reduction, ignore_index,
                                           label_smoothing)))
}
int ts_max_pool2d(tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding, const int64_t* dilation,
                  int ceil_mode, tensor* out) {
  GUARD(*out = wrap(at::max_pool2d(T(x), ints(kernel, 2), ints(stride, 2), ints(padding, 2), ints(dilation, 2),
                                   ceil_mode != 0)))
}
int ts_avg_pool2d(tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding, int ceil_mode,
                  int count_include_pad, tensor* out) {
  GUARD(*out = wrap(at::avg_pool2d(T(x), ints(kernel, 2), ints(stride, 2), ints(padding, 2), ceil_mode != 0,
                                   count_include_pad != 0)))
}
int ts_constant_pad(tensor x, const int64_t* pad, int npad, double value, tensor* out) {
  GUARD(*out = wrap(at::constant_pad_nd(T(x), ints(pad, npad), value)))
}
int ts_upsample_nearest2d(tensor x, int64_t out_h, int64_t out_w, tensor* out) {
  GUARD(*out = wrap(at::upsample_nearest2d(T(x), at::IntArrayRef({out_h, out_w}))))
}

// ---- autograd ----
int ts_requires_grad(tensor a, int* out) { GUARD(*out = T(a).requires_grad()) }
int ts_requires_grad_(tensor a, int requires_grad) { GUARD(T(a).requires_grad_(requires_grad != 0)) }
int ts_is_leaf(tensor a, int* out) { GUARD(*out = T(a).is_leaf()) }
int ts_grad(tensor a, tensor* out) { GUARD(*out = wrap_or_null(T(a).grad())) }
int ts_set_grad(tensor a, tensor grad) { GUARD(T(a).mutable_grad() = grad ? T(grad) : at::Tensor()) }
int ts_retain_grad(tensor a) { GUARD(T(a).retain_grad()) }
int ts_backward(tensor loss, tensor grad, int retain_graph, int create_graph) {
  GUARD({
    std::vector<at::Tensor> grads;
    if (grad) grads.push_back(T(grad));
    torch::autograd::backward({T(loss)}, grads, c10::optional<bool>(retain_graph != 0), create_graph != 0);
  })
}
int ts_autograd_grad(const tensor* outputs, int nout, const tensor* inputs, int nin, const tensor* grad_outputs,
                     int retain_graph, int create_graph, int allow_unused, tensor* results) {
  GUARD({
    std::vector<at::Tensor> gos(nout);
    if (grad_outputs)
      for (int i = 0; i < nout; ++i)
        if (grad_outputs[i]) gos[i] = T(grad_outputs[i]);
    auto gs = torch::autograd::grad(tensors(outputs, nout), tensors(inputs, nin), gos,
                                    c10::optional<bool>(retain_graph != 0), create_graph != 0, allow_unused != 0);
    for (int i = 0; i < nin; ++i) results[i] = wrap_or_null(gs[i]);
  })
}
int ts_is_grad_enabled(int* out) { GUARD(*out = at::GradMode::is_enabled()) }
int ts_set_grad_enabled(int enabled) { GUARD(at::GradMode::set_enabled(enabled != 0)) }

// ---- random generators ----
int ts_manual_seed(uint64_t seed) { GUARD(torch::manual_seed(seed)) }
int ts_generator_new(uint64_t seed, generator* out) {
  GUARD(*out = new at::Generator(at::detail::createCPUGenerator(seed)))
}
int ts_generator_default(generator* out) { GUARD(*out = new at::Generator(at::detail::getDefaultCPUGenerator())) }
int ts_generator_free(generator g) { GUARD(delete static_cast<at::Generator*>(g)) }
int ts_generator_seed(generator g, uint64_t* out) { GUARD(*out = G(g).current_seed()) }
int ts_generator_get_state(generator g, tensor* out) {
  GUARD({
    std::lock_guard<std::mutex> lock(G(g).mutex());
    *out = wrap(G(g).get_state());
  })
}
int ts_generator_set_state(generator g, tensor state) {
  GUARD({
    std::lock_guard<std::mutex> lock(G(g).mutex());
    G(g).set_state(T(state));
  })
}

// ---- memory ----
// glibc serves blocks above its mmap threshold (128 KiB at first) with fresh mmaps and returns
// freed heap tops to the kernel, so a training step that allocates and frees the same activations
// (12.8 MB for a 32-channel 28x28 map at batch 128) page-faults them in again every step, which
// costs as much as the convolutions. Keeping blocks up to 32 MiB (the largest threshold glibc
// allows) on the heap and not trimming it makes the memory reused; the resident size stays at the
// peak of a step, flat from one step to the next. Set once, when the shim is loaded.
__attribute__((constructor)) static void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
}

// ---- threads and devices ----
int ts_set_num_threads(int n) { GUARD(at::set_num_threads(n)) }
int ts_get_num_threads(int* out) { GUARD(*out = at::get_num_threads()) }
// OpenBLAS keeps its own pool; with libtorch's OpenMP pool on top the two oversubscribe the cores.
int ts_set_openblas_threads(int n, int* found) {
  GUARD({
    using setter = void (*)(int);
    auto set = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    *found = set != nullptr;
    if (set) set(n);
  })
}
int ts_cuda_is_available(int* out) { GUARD(*out = torch::cuda::is_available()) }
int ts_cuda_device_count(int* out) { GUARD(*out = static_cast<int>(torch::cuda::device_count())) }

}  // extern "C"
