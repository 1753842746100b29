/// P/Invoke declarations for native/shim.h (one line per export, same names and order), and the
/// few libc calls the workspace makes: every native entry point of the F# code is here.
/// Handles are nativeint; every call returns a status checked by `check`.
module internal Research.Core.Native

#nowarn "9"

open System.Runtime.InteropServices
open Microsoft.FSharp.NativeInterop

[<Literal>]
let Lib = "torchshim"

type H = nativeint

[<DllImport(Lib)>] extern H ts_last_error()

/// Turns a failed status into a TorchException with libtorch's message.
let check (status: int) =
    if status <> 0 then
        raise (TorchException.FromNative(Marshal.PtrToStringUTF8(ts_last_error())))

// ---- unary: out = f(a) ----
[<DllImport(Lib)>] extern int ts_exp(H a, H* out)
[<DllImport(Lib)>] extern int ts_log(H a, H* out)
[<DllImport(Lib)>] extern int ts_log1p(H a, H* out)
[<DllImport(Lib)>] extern int ts_expm1(H a, H* out)
[<DllImport(Lib)>] extern int ts_sqrt(H a, H* out)
[<DllImport(Lib)>] extern int ts_rsqrt(H a, H* out)
[<DllImport(Lib)>] extern int ts_abs(H a, H* out)
[<DllImport(Lib)>] extern int ts_neg(H a, H* out)
[<DllImport(Lib)>] extern int ts_square(H a, H* out)
[<DllImport(Lib)>] extern int ts_reciprocal(H a, H* out)
[<DllImport(Lib)>] extern int ts_sin(H a, H* out)
[<DllImport(Lib)>] extern int ts_cos(H a, H* out)
[<DllImport(Lib)>] extern int ts_tan(H a, H* out)
[<DllImport(Lib)>] extern int ts_tanh(H a, H* out)
[<DllImport(Lib)>] extern int ts_sigmoid(H a, H* out)
[<DllImport(Lib)>] extern int ts_relu(H a, H* out)
[<DllImport(Lib)>] extern int ts_log_sigmoid(H a, H* out)
[<DllImport(Lib)>] extern int ts_gelu(H a, H* out)
[<DllImport(Lib)>] extern int ts_silu(H a, H* out)
[<DllImport(Lib)>] extern int ts_erf(H a, H* out)
[<DllImport(Lib)>] extern int ts_erfc(H a, H* out)
[<DllImport(Lib)>] extern int ts_lgamma(H a, H* out)
[<DllImport(Lib)>] extern int ts_digamma(H a, H* out)
[<DllImport(Lib)>] extern int ts_floor(H a, H* out)
[<DllImport(Lib)>] extern int ts_ceil(H a, H* out)
[<DllImport(Lib)>] extern int ts_round(H a, H* out)
[<DllImport(Lib)>] extern int ts_trunc(H a, H* out)
[<DllImport(Lib)>] extern int ts_sign(H a, H* out)
[<DllImport(Lib)>] extern int ts_isnan(H a, H* out)
[<DllImport(Lib)>] extern int ts_isfinite(H a, H* out)
[<DllImport(Lib)>] extern int ts_logical_not(H a, H* out)
[<DllImport(Lib)>] extern int ts_t(H a, H* out)
[<DllImport(Lib)>] extern int ts_clone(H a, H* out)
[<DllImport(Lib)>] extern int ts_detach(H a, H* out)
[<DllImport(Lib)>] extern int ts_zeros_like(H a, H* out)
[<DllImport(Lib)>] extern int ts_ones_like(H a, H* out)

// ---- binary: out = f(a, b) ----
[<DllImport(Lib)>] extern int ts_mul(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_div(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_pow(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_maximum(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_minimum(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_atan2(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_fmod(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_remainder(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_eq(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_ne(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_gt(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_lt(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_ge(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_le(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_logical_and(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_logical_or(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_xlogy(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_matmul(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_mm(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_bmm(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_outer(H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_add(H a, H b, double alpha, H* out)
[<DllImport(Lib)>] extern int ts_sub(H a, H b, double alpha, H* out)

// ---- with a scalar: out = f(a, s) ----
[<DllImport(Lib)>] extern int ts_add_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_sub_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_mul_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_div_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_pow_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_fmod_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_remainder_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_rsub_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_eq_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_ne_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_gt_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_lt_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_ge_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_le_scalar(H a, double s, H* out)
[<DllImport(Lib)>] extern int ts_pow_scalar_base(double s, H a, H* out)

// ---- in place ----
[<DllImport(Lib)>] extern int ts_mul_(H a, H b)
[<DllImport(Lib)>] extern int ts_div_(H a, H b)
[<DllImport(Lib)>] extern int ts_copy_(H a, H b)
[<DllImport(Lib)>] extern int ts_add_(H a, H b, double alpha)
[<DllImport(Lib)>] extern int ts_sub_(H a, H b, double alpha)
[<DllImport(Lib)>] extern int ts_add_scalar_(H a, double s)
[<DllImport(Lib)>] extern int ts_sub_scalar_(H a, double s)
[<DllImport(Lib)>] extern int ts_mul_scalar_(H a, double s)
[<DllImport(Lib)>] extern int ts_div_scalar_(H a, double s)
[<DllImport(Lib)>] extern int ts_fill_scalar_(H a, double s)
[<DllImport(Lib)>] extern int ts_pow_scalar_(H a, double s)
[<DllImport(Lib)>] extern int ts_zero_(H a)
[<DllImport(Lib)>] extern int ts_relu_(H a)
[<DllImport(Lib)>] extern int ts_detach_(H a)
[<DllImport(Lib)>] extern int ts_clamp_(H a, double min, double max, int hasMin, int hasMax)
[<DllImport(Lib)>] extern int ts_normal_(H a, double mean, double std, H g)
[<DllImport(Lib)>] extern int ts_uniform_(H a, double from, double upTo, H g)
[<DllImport(Lib)>] extern int ts_bernoulli_(H a, double p, H g)

// ---- reductions: ndims = 0 reduces every dimension ----
[<DllImport(Lib)>] extern int ts_sum(H a, int64[] dims, int ndims, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_mean(H a, int64[] dims, int ndims, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_amax(H a, int64[] dims, int ndims, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_amin(H a, int64[] dims, int ndims, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_logsumexp(H a, int64[] dims, int ndims, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_nansum(H a, int64[] dims, int ndims, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_std(H a, int64[] dims, int ndims, int unbiased, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_var(H a, int64[] dims, int ndims, int unbiased, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_prod(H a, int64 dim, int hasDim, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_argmax(H a, int64 dim, int hasDim, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_topk(H a, int64 k, int64 dim, int largest, H* out)
[<DllImport(Lib)>] extern int ts_argmin(H a, int64 dim, int hasDim, int keepdim, H* out)
[<DllImport(Lib)>] extern int ts_allclose(H a, H b, double rtol, double atol, int equalNan, int* out)
[<DllImport(Lib)>] extern int ts_equal(H a, H b, int* out)

// ---- shapes and indexing ----
[<DllImport(Lib)>] extern int ts_view(H a, int64[] sizes, int n, H* out)
[<DllImport(Lib)>] extern int ts_reshape(H a, int64[] sizes, int n, H* out)
[<DllImport(Lib)>] extern int ts_permute(H a, int64[] sizes, int n, H* out)
[<DllImport(Lib)>] extern int ts_expand(H a, int64[] sizes, int n, H* out)
[<DllImport(Lib)>] extern int ts_repeat(H a, int64[] sizes, int n, H* out)
[<DllImport(Lib)>] extern int ts_flip(H a, int64[] sizes, int n, H* out)
[<DllImport(Lib)>] extern int ts_unsqueeze(H a, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_softmax(H a, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_log_softmax(H a, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_cumsum(H a, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_tril(H a, int64 k, H* out)
[<DllImport(Lib)>] extern int ts_triu(H a, int64 k, H* out)
[<DllImport(Lib)>] extern int ts_transpose(H a, int64 d0, int64 d1, H* out)
[<DllImport(Lib)>] extern int ts_squeeze(H a, H* out)
[<DllImport(Lib)>] extern int ts_squeeze_dim(H a, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_flatten(H a, int64 startDim, int64 endDim, H* out)
[<DllImport(Lib)>] extern int ts_narrow(H a, int64 dim, int64 start, int64 length, H* out)
[<DllImport(Lib)>] extern int ts_slice(H a, int64 dim, int64 start, int64 stop, int64 step, H* out)
[<DllImport(Lib)>] extern int ts_select(H a, int64 dim, int64 index, H* out)
[<DllImport(Lib)>] extern int ts_index_select(H a, int64 dim, H index, H* out)
[<DllImport(Lib)>] extern int ts_gather(H a, int64 dim, H index, H* out)
[<DllImport(Lib)>] extern int ts_scatter_add(H a, int64 dim, H index, H src, H* out)
[<DllImport(Lib)>] extern int ts_masked_fill(H a, H mask, double value, H* out)
[<DllImport(Lib)>] extern int ts_where(H cond, H a, H b, H* out)
[<DllImport(Lib)>] extern int ts_one_hot(H a, int64 numClasses, H* out)
[<DllImport(Lib)>] extern int ts_cat(H[] ts, int n, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_stack(H[] ts, int n, int64 dim, H* out)
[<DllImport(Lib)>] extern int ts_split_with_sizes(H a, int64[] sizes, int n, int64 dim, H[] outs)
[<DllImport(Lib)>] extern int ts_clamp(H a, double min, double max, int hasMin, int hasMax, H* out)

// ---- lifetime, metadata, data ----
[<DllImport(Lib)>] extern int ts_free(H t)
[<DllImport(Lib)>] extern int ts_sizes(H a, int64[] buf, int cap, int* ndims)
[<DllImport(Lib)>] extern int ts_dtype(H a, int* dtype)
[<DllImport(Lib)>] extern int ts_device(H a, int* devType, int* devIndex)
[<DllImport(Lib)>] extern int ts_numel(H a, int64* out)
[<DllImport(Lib)>] extern int ts_is_contiguous(H a, int* out)
[<DllImport(Lib)>] extern int ts_from_blob(H data, int64[] shape, int ndims, int dtype, H* out)
[<DllImport(Lib)>] extern int ts_copy_out(H a, H buf, int64 nbytes, int dtype)
[<DllImport(Lib)>] extern int ts_item(H a, double* out)
[<DllImport(Lib)>] extern int ts_data_ptr(H a, H* out)
[<DllImport(Lib)>] extern int ts_to_dtype(H a, int dtype, H* out)
[<DllImport(Lib)>] extern int ts_to_device(H a, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_contiguous(H a, H* out)
[<DllImport(Lib)>] extern int ts_channels_last(H a, H* out)

// ---- factories ----
[<DllImport(Lib)>] extern int ts_zeros(int64[] shape, int ndims, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_ones(int64[] shape, int ndims, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_empty(int64[] shape, int ndims, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_randn(int64[] shape, int ndims, H g, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_rand(int64[] shape, int ndims, H g, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_full(int64[] shape, int ndims, double value, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_scalar_tensor(double value, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_arange(double start, double stop, double step, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_linspace(double start, double stop, int64 steps, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_eye(int64 n, int64 m, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_full_like(H a, double value, H* out)
[<DllImport(Lib)>] extern int ts_randint(int64 low, int64 high, int64[] shape, int ndims, H g, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_randperm(int64 n, H g, int dtype, int devType, int devIndex, H* out)
[<DllImport(Lib)>] extern int ts_bernoulli(H probs, H g, H* out)

// ---- torch.nn.functional ----
[<DllImport(Lib)>] extern int ts_linear(H x, H w, H b, H* out)
[<DllImport(Lib)>] extern int ts_conv2d(H x, H w, H b, int64[] stride, int64[] padding, int64[] dilation, int64 groups, H* out)
[<DllImport(Lib)>] extern int ts_conv_transpose2d(H x, H w, H b, int64[] stride, int64[] padding, int64[] outputPadding, int64 groups, int64[] dilation, H* out)
[<DllImport(Lib)>] extern int ts_group_norm(H x, int64 groups, H w, H b, double eps, H* out)
[<DllImport(Lib)>] extern int ts_batch_norm(H x, H w, H b, H runningMean, H runningVar, int training, double momentum, double eps, H* out)
[<DllImport(Lib)>] extern int ts_dropout(H x, double p, int training, H g, H* out)
[<DllImport(Lib)>] extern int ts_leaky_relu(H x, double slope, H* out)
[<DllImport(Lib)>] extern int ts_elu(H x, double alpha, H* out)
[<DllImport(Lib)>] extern int ts_softplus(H x, double beta, double threshold, H* out)
[<DllImport(Lib)>] extern int ts_bce_with_logits(H x, H y, H weight, H posWeight, int reduction, H* out)
[<DllImport(Lib)>] extern int ts_bce(H x, H y, H weight, int reduction, H* out)
[<DllImport(Lib)>] extern int ts_mse_loss(H x, H y, int reduction, H* out)
[<DllImport(Lib)>] extern int ts_nll_loss(H x, H target, H weight, int reduction, int64 ignoreIndex, H* out)
[<DllImport(Lib)>] extern int ts_cross_entropy(H x, H target, H weight, int reduction, int64 ignoreIndex, double labelSmoothing, H* out)
[<DllImport(Lib)>] extern int ts_max_pool2d(H x, int64[] kernel, int64[] stride, int64[] padding, int64[] dilation, int ceilMode, H* out)
[<DllImport(Lib)>] extern int ts_avg_pool2d(H x, int64[] kernel, int64[] stride, int64[] padding, int ceilMode, int countIncludePad, H* out)
[<DllImport(Lib)>] extern int ts_constant_pad(H x, int64[] pad, int npad, double value, H* out)
[<DllImport(Lib)>] extern int ts_upsample_nearest2d(H x, int64 outH, int64 outW, H* out)

// ---- autograd ----
[<DllImport(Lib)>] extern int ts_requires_grad(H a, int* out)
[<DllImport(Lib)>] extern int ts_requires_grad_(H a, int requiresGrad)
[<DllImport(Lib)>] extern int ts_is_leaf(H a, int* out)
[<DllImport(Lib)>] extern int ts_grad(H a, H* out)
[<DllImport(Lib)>] extern int ts_set_grad(H a, H grad)
[<DllImport(Lib)>] extern int ts_retain_grad(H a)
[<DllImport(Lib)>] extern int ts_backward(H loss, H grad, int retainGraph, int createGraph)
[<DllImport(Lib)>] extern int ts_autograd_grad(H[] outputs, int nout, H[] inputs, int nin, H[] gradOutputs, int retainGraph, int createGraph, int allowUnused, H[] results)
[<DllImport(Lib)>] extern int ts_is_grad_enabled(int* out)
[<DllImport(Lib)>] extern int ts_set_grad_enabled(int enabled)

// ---- generators ----
[<DllImport(Lib)>] extern int ts_manual_seed(uint64 seed)
[<DllImport(Lib)>] extern int ts_generator_new(uint64 seed, H* out)
[<DllImport(Lib)>] extern int ts_generator_default(H* out)
[<DllImport(Lib)>] extern int ts_generator_free(H g)
[<DllImport(Lib)>] extern int ts_generator_seed(H g, uint64* out)
[<DllImport(Lib)>] extern int ts_generator_get_state(H g, H* out)
[<DllImport(Lib)>] extern int ts_generator_set_state(H g, H state)

// ---- threads and devices ----
[<DllImport(Lib)>] extern int ts_set_num_threads(int n)
[<DllImport(Lib)>] extern int ts_get_num_threads(int* out)
[<DllImport(Lib)>] extern int ts_set_openblas_threads(int n, int* found)
[<DllImport(Lib)>] extern int ts_cuda_is_available(int* out)
[<DllImport(Lib)>] extern int ts_cuda_device_count(int* out)

// ---- fused operations with their own gradients ----
[<DllImport(Lib)>] extern int ts_optim_adam_step(H[] parameters, H[] expAvg, H[] expAvgSq, H[] maxExpAvgSq, int64[] steps, int n, double lr, double beta1, double beta2, double eps, double weightDecay, int amsgrad)
[<DllImport(Lib)>] extern int ts_optim_sgd_step(H[] parameters, H[] momentumBuffer, int64[] steps, int n, double lr, double momentum, double dampening, double weightDecay, int nesterov)
[<DllImport(Lib)>] extern int ts_optim_zero_grad(H[] parameters, int n, int setToNone)
[<DllImport(Lib)>] extern int ts_param_set_data(H param, H data)
[<DllImport(Lib)>] extern int ts_bernoulli_log_prob(H logits, H x, H* out)
[<DllImport(Lib)>] extern int ts_group_norm_silu(H x, int64 groups, H w, H b, double eps, H* out)
[<DllImport(Lib)>] extern int ts_conv_net(H x, H w1, H b1, H w2, H b2, H w3, H b3, H* out)
[<DllImport(Lib)>] extern int ts_conv_net_fused(H x, H w1, H b1, H w2, H b2, H w3, H b3, int* out)

// ---- oneDNN ----
[<DllImport(Lib)>] extern int ts_onednn_isa(H* out)
[<DllImport(Lib)>] extern int ts_onednn_trace_begin()
[<DllImport(Lib)>] extern int ts_onednn_trace_end(H* text)

// ---- data-parallel training (c10d) ----
[<DllImport(Lib)>] extern int ts_dist_store(string host, int port, int worldSize, int isServer, int attempt, int64 timeoutMs, H* out)
[<DllImport(Lib)>] extern int ts_dist_store_free(H s)
[<DllImport(Lib)>] extern int ts_dist_group(H s, int backend, int rank, int worldSize, int64 timeoutMs, string interfaces, H* out)
[<DllImport(Lib)>] extern int ts_dist_group_free(H g)
[<DllImport(Lib)>] extern int ts_dist_broadcast(H g, H t, int root)
[<DllImport(Lib)>] extern int ts_dist_allreduce(H g, H t, int op)
[<DllImport(Lib)>] extern int ts_dist_allreduce_start(H g, H t, int op, H* out)
[<DllImport(Lib)>] extern int ts_dist_reducer(H g, H[] parameters, int n, int64 bucketBytes, H* out)
[<DllImport(Lib)>] extern int ts_dist_reducer_weight(H r, double weight)
[<DllImport(Lib)>] extern int ts_dist_reducer_finish(H r)
[<DllImport(Lib)>] extern int ts_dist_reducer_overlapped(H r, int* out)
[<DllImport(Lib)>] extern int ts_dist_reducer_free(H r)
[<DllImport(Lib)>] extern int ts_dist_work_wait(H w)
[<DllImport(Lib)>] extern int ts_dist_work_free(H w)
[<DllImport(Lib)>] extern int ts_dist_allgather(H g, H t, H[] outs)
[<DllImport(Lib)>] extern int ts_dist_barrier(H g)

// ---- libc: flushing a folder's entries to disk (AtomicFile) ----
[<DllImport("libc", SetLastError = true)>] extern int ``open``(string path, int flags)
[<DllImport("libc", SetLastError = true)>] extern int fsync(int fd)
[<DllImport("libc")>] extern int close(int fd)

// ---- libc: which threads receive SIGINT and SIGTERM (Signals) ----
[<DllImport("libc")>] extern int pthread_sigmask(int how, uint64[] set, uint64[] old)

/// A per-thread 16-byte buffer for out-parameters: a native call writes it and the caller reads
/// it back at once (a local's address cannot be passed through an inlined lambda, and stackalloc
/// is invalid IL wherever the evaluation stack is not empty).
[<AbstractClass; Sealed>]
type Scratch =
    [<System.ThreadStatic; DefaultValue>]
    static val mutable private slot: nativeint
    static member Slot =
        if Scratch.slot = 0n then Scratch.slot <- Marshal.AllocHGlobal 16
        Scratch.slot

/// Calls f with an out-pointer and returns what it wrote.
let inline outParam<'T when 'T: unmanaged> ([<InlineIfLambda>] f: nativeptr<'T> -> int) : 'T =
    let p = NativePtr.ofNativeInt<'T> Scratch.Slot
    check (f p)
    NativePtr.read p

/// Reads an int out-parameter of a query.
let inline queryInt ([<InlineIfLambda>] f: nativeptr<int> -> int) = outParam<int> f
