// Flat C ABI over libtorch (in the spirit of tch-rs's torch_api.h). Every function returns a
// status (0 = ok, -1 = error) and never lets a C++ exception cross the boundary; the message
// is read with ts_last_error(). Results come back through out-pointers; scalars cross as
// double/int64, never as handles. Only ATen/autograd calls present in libtorch 1.13 and 2.x.
//
// Codes shared with the F# side (Research.Core.Dtype / Device):
//   dtype:  0 float32, 1 float64, 2 int64, 3 bool, 4 uint8
//   device: type 0 cpu, 1 cuda; index -1 = the current device of that type
//   reduction: 0 none, 1 mean, 2 sum (at::Reduction)
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_API __attribute__((visibility("default")))

typedef void* tensor;     // an owned at::Tensor*; freed by ts_free
typedef void* generator;  // an owned at::Generator*; freed by ts_generator_free; NULL = default

// ---- op lists: one line each; shim.cpp defines every entry through the same macro ----

// out = f(a)
#define TS_UNARY_OPS(X)                                                              \
  X(exp) X(log) X(log1p) X(expm1) X(sqrt) X(rsqrt) X(abs) X(neg) X(square)           \
  X(reciprocal) X(sin) X(cos) X(tan) X(tanh) X(sigmoid) X(relu) X(log_sigmoid)       \
  X(gelu) X(silu) X(erf) X(erfc) X(lgamma) X(digamma) X(floor) X(ceil) X(round) X(trunc)     \
  X(sign) X(isnan) X(isfinite) X(logical_not) X(t) X(clone) X(detach)                \
  X(zeros_like) X(ones_like)
// out = f(a, b) (broadcasting)
#define TS_BINARY_OPS(X)                                                             \
  X(mul) X(div) X(pow) X(maximum) X(minimum) X(atan2) X(fmod) X(remainder)           \
  X(eq) X(ne) X(gt) X(lt) X(ge) X(le) X(logical_and) X(logical_or) X(xlogy)          \
  X(matmul) X(mm) X(bmm) X(outer)
// out = f(a, b, alpha) computing a (+|-) alpha * b
#define TS_ALPHA_OPS(X) X(add) X(sub)
// out = f(a, s) with a double scalar
#define TS_SCALAR_OPS(X)                                                             \
  X(add) X(sub) X(mul) X(div) X(pow) X(fmod) X(remainder) X(rsub)                    \
  X(eq) X(ne) X(gt) X(lt) X(ge) X(le)
// in place: a.f_(b)
#define TS_INPLACE_BINARY_OPS(X) X(mul_) X(div_) X(copy_)
#define TS_INPLACE_ALPHA_OPS(X) X(add_) X(sub_)
#define TS_INPLACE_SCALAR_OPS(X) X(add) X(sub) X(mul) X(div) X(fill) X(pow)  // ts_add_scalar_ ...
#define TS_INPLACE_UNARY_OPS(X) X(zero_) X(relu_) X(detach_)
// out = f(a, dims, ndims, keepdim); ndims == 0 reduces over every dimension
#define TS_REDUCE_OPS(X) X(sum) X(mean) X(amax) X(amin) X(logsumexp) X(nansum)
// out = a.f(sizes) with an int64 list
#define TS_SIZES_OPS(X) X(view) X(reshape) X(permute) X(expand) X(repeat) X(flip)
// out = f(a, dim)
#define TS_DIM_OPS(X) X(unsqueeze) X(softmax) X(log_softmax) X(cumsum)
// out = f(a, k)
#define TS_INT_OPS(X) X(tril) X(triu)
// tensor factories over a shape: out = f(shape, ndims, dtype, device)
#define TS_SHAPE_FACTORIES(X) X(zeros) X(ones) X(empty)
// random factories over a shape with an optional generator
#define TS_RANDOM_FACTORIES(X) X(randn) X(rand)

#define TS_DECL_UNARY(f) TS_API int ts_##f(tensor a, tensor* out);
#define TS_DECL_BINARY(f) TS_API int ts_##f(tensor a, tensor b, tensor* out);
#define TS_DECL_ALPHA(f) TS_API int ts_##f(tensor a, tensor b, double alpha, tensor* out);
#define TS_DECL_SCALAR(f) TS_API int ts_##f##_scalar(tensor a, double s, tensor* out);
#define TS_DECL_INPLACE_BINARY(f) TS_API int ts_##f(tensor a, tensor b);
#define TS_DECL_INPLACE_ALPHA(f) TS_API int ts_##f(tensor a, tensor b, double alpha);
#define TS_DECL_INPLACE_SCALAR(f) TS_API int ts_##f##_scalar_(tensor a, double s);
#define TS_DECL_INPLACE_UNARY(f) TS_API int ts_##f(tensor a);
#define TS_DECL_REDUCE(f) TS_API int ts_##f(tensor a, const int64_t* dims, int ndims, int keepdim, tensor* out);
#define TS_DECL_SIZES(f) TS_API int ts_##f(tensor a, const int64_t* sizes, int n, tensor* out);
#define TS_DECL_DIM(f) TS_API int ts_##f(tensor a, int64_t dim, tensor* out);
#define TS_DECL_INT(f) TS_API int ts_##f(tensor a, int64_t k, tensor* out);
#define TS_DECL_SHAPE_FACTORY(f) \
  TS_API int ts_##f(const int64_t* shape, int ndims, int dtype, int dev_type, int dev_index, tensor* out);
#define TS_DECL_RANDOM_FACTORY(f) \
  TS_API int ts_##f(const int64_t* shape, int ndims, generator g, int dtype, int dev_type, int dev_index, tensor* out);

TS_UNARY_OPS(TS_DECL_UNARY)
TS_BINARY_OPS(TS_DECL_BINARY)
TS_ALPHA_OPS(TS_DECL_ALPHA)
TS_SCALAR_OPS(TS_DECL_SCALAR)
TS_INPLACE_BINARY_OPS(TS_DECL_INPLACE_BINARY)
TS_INPLACE_ALPHA_OPS(TS_DECL_INPLACE_ALPHA)
TS_INPLACE_SCALAR_OPS(TS_DECL_INPLACE_SCALAR)
TS_INPLACE_UNARY_OPS(TS_DECL_INPLACE_UNARY)
TS_REDUCE_OPS(TS_DECL_REDUCE)
TS_SIZES_OPS(TS_DECL_SIZES)
TS_DIM_OPS(TS_DECL_DIM)
TS_INT_OPS(TS_DECL_INT)
TS_SHAPE_FACTORIES(TS_DECL_SHAPE_FACTORY)
TS_RANDOM_FACTORIES(TS_DECL_RANDOM_FACTORY)

// ---- errors, lifetime, metadata ----
TS_API const char* ts_last_error(void);
TS_API int ts_free(tensor t);
TS_API int ts_sizes(tensor a, int64_t* buf, int cap, int* ndims);  // writes min(cap, dim) sizes
TS_API int ts_dtype(tensor a, int* dtype);
TS_API int ts_device(tensor a, int* dev_type, int* dev_index);
TS_API int ts_numel(tensor a, int64_t* out);
TS_API int ts_is_contiguous(tensor a, int* out);

// ---- data in and out ----
TS_API int ts_from_blob(const void* data, const int64_t* shape, int ndims, int dtype, tensor* out);  // copies
TS_API int ts_copy_out(tensor a, void* buf, int64_t nbytes, int dtype);  // converts to dtype, row-major
TS_API int ts_item(tensor a, double* out);
TS_API int ts_data_ptr(tensor a, void** out);  // CPU and contiguous only

// ---- factories ----
TS_API int ts_full(const int64_t* shape, int ndims, double value, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_scalar_tensor(double value, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_linspace(double start, double end, int64_t steps, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_eye(int64_t n, int64_t m, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_full_like(tensor a, double value, tensor* out);
TS_API int ts_randint(int64_t low, int64_t high, const int64_t* shape, int ndims, generator g, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_randperm(int64_t n, generator g, int dtype, int dev_type, int dev_index, tensor* out);
TS_API int ts_bernoulli(tensor probs, generator g, tensor* out);
TS_API int ts_normal_(tensor a, double mean, double std, generator g);
TS_API int ts_uniform_(tensor a, double from, double to, generator g);
TS_API int ts_bernoulli_(tensor a, double p, generator g);

// ---- conversions ----
TS_API int ts_to_dtype(tensor a, int dtype, tensor* out);
TS_API int ts_to_device(tensor a, int dev_type, int dev_index, tensor* out);
TS_API int ts_contiguous(tensor a, tensor* out);
TS_API int ts_channels_last(tensor a, tensor* out);

// ---- shape and indexing ----
TS_API int ts_transpose(tensor a, int64_t d0, int64_t d1, tensor* out);
TS_API int ts_squeeze(tensor a, tensor* out);
TS_API int ts_squeeze_dim(tensor a, int64_t dim, tensor* out);
TS_API int ts_flatten(tensor a, int64_t start, int64_t end, tensor* out);
TS_API int ts_narrow(tensor a, int64_t dim, int64_t start, int64_t length, tensor* out);
TS_API int ts_slice(tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, tensor* out);
TS_API int ts_select(tensor a, int64_t dim, int64_t index, tensor* out);
TS_API int ts_index_select(tensor a, int64_t dim, tensor index, tensor* out);
TS_API int ts_gather(tensor a, int64_t dim, tensor index, tensor* out);
TS_API int ts_scatter_add(tensor a, int64_t dim, tensor index, tensor src, tensor* out);
TS_API int ts_masked_fill(tensor a, tensor mask, double value, tensor* out);
TS_API int ts_where(tensor cond, tensor a, tensor b, tensor* out);
TS_API int ts_one_hot(tensor a, int64_t num_classes, tensor* out);
TS_API int ts_cat(const tensor* ts, int n, int64_t dim, tensor* out);
TS_API int ts_stack(const tensor* ts, int n, int64_t dim, tensor* out);
TS_API int ts_split_with_sizes(tensor a, const int64_t* sizes, int n, int64_t dim, tensor* outs);  // n outputs

// ---- element-wise with scalars and other reductions ----
TS_API int ts_pow_scalar_base(double s, tensor a, tensor* out);  // s ** a
TS_API int ts_clamp(tensor a, double min, double max, int has_min, int has_max, tensor* out);
TS_API int ts_clamp_(tensor a, double min, double max, int has_min, int has_max);
TS_API int ts_std(tensor a, const int64_t* dims, int ndims, int unbiased, int keepdim, tensor* out);
TS_API int ts_var(tensor a, const int64_t* dims, int ndims, int unbiased, int keepdim, tensor* out);
TS_API int ts_prod(tensor a, int64_t dim, int has_dim, int keepdim, tensor* out);
TS_API int ts_argmax(tensor a, int64_t dim, int has_dim, int keepdim, tensor* out);
TS_API int ts_topk(tensor a, int64_t k, int64_t dim, int largest, tensor* out);
TS_API int ts_argmin(tensor a, int64_t dim, int has_dim, int keepdim, tensor* out);
TS_API int ts_allclose(tensor a, tensor b, double rtol, double atol, int equal_nan, int* out);
TS_API int ts_equal(tensor a, tensor b, int* out);

// ---- neural-network functions (torch.nn.functional) ----
TS_API int ts_linear(tensor x, tensor w, tensor b, tensor* out);  // b may be NULL
TS_API int ts_conv2d(tensor x, tensor w, tensor b, const int64_t* stride, const int64_t* padding,
                     const int64_t* dilation, int64_t groups, tensor* out);
TS_API int ts_conv_transpose2d(tensor x, tensor w, tensor b, const int64_t* stride, const int64_t* padding,
                               const int64_t* output_padding, int64_t groups, const int64_t* dilation, tensor* out);
TS_API int ts_batch_norm(tensor x, tensor w, tensor b, tensor running_mean, tensor running_var,
                         int training, double momentum, double eps, tensor* out);
TS_API int ts_group_norm(tensor x, int64_t groups, tensor w, tensor b, double eps, tensor* out);  // w, b may be NULL
TS_API int ts_dropout(tensor x, double p, int training, generator g, tensor* out);
TS_API int ts_leaky_relu(tensor x, double slope, tensor* out);
TS_API int ts_elu(tensor x, double alpha, tensor* out);
TS_API int ts_softplus(tensor x, double beta, double threshold, tensor* out);
TS_API int ts_bce_with_logits(tensor x, tensor y, tensor weight, tensor pos_weight, int reduction, tensor* out);
TS_API int ts_bce(tensor x, tensor y, tensor weight, int reduction, tensor* out);
TS_API int ts_mse_loss(tensor x, tensor y, int reduction, tensor* out);
TS_API int ts_nll_loss(tensor x, tensor target, tensor weight, int reduction, int64_t ignore_index, tensor* out);
TS_API int ts_cross_entropy(tensor x, tensor target, tensor weight, int reduction, int64_t ignore_index,
                            double label_smoothing, tensor* out);
TS_API int ts_max_pool2d(tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                         const int64_t* dilation, int ceil_mode, tensor* out);
TS_API int ts_avg_pool2d(tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                         int ceil_mode, int count_include_pad, tensor* out);
TS_API int ts_constant_pad(tensor x, const int64_t* pad, int npad, double value, tensor* out);
TS_API int ts_upsample_nearest2d(tensor x, int64_t out_h, int64_t out_w, tensor* out);

// ---- autograd ----
TS_API int ts_requires_grad(tensor a, int* out);
TS_API int ts_requires_grad_(tensor a, int requires_grad);
TS_API int ts_is_leaf(tensor a, int* out);
TS_API int ts_grad(tensor a, tensor* out);  // *out = NULL when the gradient is undefined
TS_API int ts_set_grad(tensor a, tensor grad);  // grad NULL resets it (PyTorch's x.grad = None)
TS_API int ts_retain_grad(tensor a);
TS_API int ts_backward(tensor loss, tensor grad, int retain_graph, int create_graph);  // grad may be NULL
// d(outputs)/d(inputs) contracted with grad_outputs (entries may be NULL = ones for scalars);
// results[i] = NULL where an input is unused and allow_unused is set.
TS_API int ts_autograd_grad(const tensor* outputs, int nout, const tensor* inputs, int nin,
                            const tensor* grad_outputs, int retain_graph, int create_graph,
                            int allow_unused, tensor* results);
TS_API int ts_is_grad_enabled(int* out);
TS_API int ts_set_grad_enabled(int enabled);  // thread-local, like torch.set_grad_enabled

// ---- random generators ----
TS_API int ts_manual_seed(uint64_t seed);
TS_API int ts_generator_new(uint64_t seed, generator* out);  // a CPU generator
TS_API int ts_generator_default(generator* out);             // a handle on the default CPU generator
TS_API int ts_generator_free(generator g);
TS_API int ts_generator_seed(generator g, uint64_t* out);
TS_API int ts_generator_get_state(generator g, tensor* out);  // a uint8 tensor
TS_API int ts_generator_set_state(generator g, tensor state);

// ---- threads and devices ----
TS_API int ts_set_num_threads(int n);
TS_API int ts_get_num_threads(int* out);
TS_API int ts_set_openblas_threads(int n, int* found);  // found = 0 when OpenBLAS is not loaded
TS_API int ts_cuda_is_available(int* out);
TS_API int ts_cuda_device_count(int* out);

// ---- fused operations with their own gradients ----
// One Adam step over n parameters (optim.cpp). max_exp_avg_sq may be NULL unless amsgrad. steps[k]
// counts the steps parameter k has taken; it is incremented for each parameter that has a gradient.
TS_API int ts_optim_adam_step(tensor* params, tensor* exp_avg, tensor* exp_avg_sq, tensor* max_exp_avg_sq, int64_t* steps,
                              int n, double lr, double beta1, double beta2, double eps, double weight_decay, int amsgrad);
// One SGD step over n parameters. momentum_buffer may be NULL when momentum is 0; steps as Adam's
// (a parameter's momentum buffer starts from its first gradient, as in torch.optim).
TS_API int ts_optim_sgd_step(tensor* params, tensor* momentum_buffer, int64_t* steps, int n, double lr, double momentum,
                             double dampening, double weight_decay, int nesterov);
TS_API int ts_optim_zero_grad(tensor* params, int n, int set_to_none);
// Module.to(device) for a parameter others hold: param.data = data, keeping its autograd identity.
TS_API int ts_param_set_data(tensor param, tensor data);
// log p(x | logits) of independent Bernoulli pixels summed over the last dimension (bernoulli.cpp):
// -binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1).
TS_API int ts_bernoulli_log_prob(tensor logits, tensor x, tensor* out);
// silu(group_norm(x, groups, w, b, eps)) as one operation with its own gradient (group_norm_silu.cpp).
TS_API int ts_group_norm_silu(tensor x, int64_t groups, tensor w, tensor b, double eps, tensor* out);  // w, b may be NULL
// conv2d(relu(conv2d(relu(conv2d(x, w1, b1)), w2, b2)), w3, b3), 3x3, padding 1, on oneDNN with the
// hidden activations in its blocked layout (convnet.cpp); fused: whether these tensors take that path.
TS_API int ts_conv_net(tensor x, tensor w1, tensor b1, tensor w2, tensor b2, tensor w3, tensor b3, tensor* out);
TS_API int ts_conv_net_fused(tensor x, tensor w1, tensor b1, tensor w2, tensor b2, tensor w3, tensor b3, int* out);

// ---- oneDNN, as libtorch and the fused operations use it ----
TS_API int ts_onednn_isa(const char** out);  // the instruction set its kernels dispatch to, e.g. "avx512_core"
// Between begin and end, oneDNN's verbose lines (one per primitive executed) are collected instead of
// printed; end hands them back (valid until the next trace) and passes anything else written to
// stdout meanwhile on to it.
TS_API int ts_onednn_trace_begin(void);
TS_API int ts_onednn_trace_end(const char** text);

// ---- data-parallel training: c10d's TCPStore and ProcessGroupGloo (distributed.cpp) ----
typedef void* dist_store;  // an owned c10d store; freed by ts_dist_store_free
typedef void* dist_group;  // an owned c10d process group; freed by ts_dist_group_free
// The store of a group as torch.distributed.init_process_group makes it: a TCPStore at host:port,
// served by this process when is_server, under torchrun's "/worker/attempt_<attempt>" when
// attempt >= 0 (its agent's store), then "default_pg". Waits up to timeout_ms for the server and,
// on the server, for all world_size ranks to connect.
TS_API int ts_dist_store(const char* host, int port, int world_size, int is_server, int attempt, int64_t timeout_ms,
                         dist_store* out);
TS_API int ts_dist_store_free(dist_store s);
// The default process group ("0"), once every rank has joined; collectives fail after timeout_ms.
// backend: 0 Gloo (CPU tensors), 1 NCCL (CUDA tensors; only in a shim built with RESEARCH_C10D_NCCL).
// interfaces: Gloo's network interfaces, comma-separated (as GLOO_SOCKET_IFNAME); NULL or "" = the host's.
TS_API int ts_dist_group(dist_store s, int backend, int rank, int world_size, int64_t timeout_ms, const char* interfaces,
                         dist_group* out);
TS_API int ts_dist_group_free(dist_group g);
TS_API int ts_dist_broadcast(dist_group g, tensor t, int root);  // in place, from root's
TS_API int ts_dist_allreduce(dist_group g, tensor t, int op);    // in place; op 0 sum, 1 max, 2 min
// An allreduce started and not waited for: it proceeds on the group's threads while the caller
// computes. t is held until the work is freed; its values are the reduction once ts_dist_work_wait
// returns 0 (a failure, as a collective's, after the group's timeout at most).
typedef void* dist_work;  // an owned pending collective; freed by ts_dist_work_free
TS_API int ts_dist_allreduce_start(dist_group g, tensor t, int op, dist_work* out);
TS_API int ts_dist_work_wait(dist_work w);
TS_API int ts_dist_work_free(dist_work w);
TS_API int ts_dist_allgather(dist_group g, tensor t, tensor* outs);  // outs: one tensor per rank, in rank order
TS_API int ts_dist_barrier(dist_group g);
// One optimizer's gradients reduced over the ranks as backward produces them (distributed.cpp's
// Reducer): buckets of about bucket_bytes, each rank's gradients times the weight set for the step;
// finish, before the step, leaves every parameter's gradient the sum over the ranks.
typedef void* dist_reducer;  // owned; freed by ts_dist_reducer_free
TS_API int ts_dist_reducer(dist_group g, tensor* params, int n, int64_t bucket_bytes, dist_reducer* out);
TS_API int ts_dist_reducer_weight(dist_reducer r, double weight);
TS_API int ts_dist_reducer_finish(dist_reducer r);
TS_API int ts_dist_reducer_overlapped(dist_reducer r, int* out);  // buckets started during the last step's backward
TS_API int ts_dist_reducer_free(dist_reducer r);

#ifdef __cplusplus
}
#endif
