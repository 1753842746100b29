// libtorch's c10d for data-parallel training: a TCPStore rendezvous and a process group on Gloo,
// set up exactly as torch.distributed.init_process_group("gloo") sets up its default group, so
// that a Python process can be a rank of the same group:
//   TCPStore(host, port, world_size, is_server, wait for the workers, multi-tenant)
//   [PrefixStore("/worker/attempt_<restart count>") under torchrun's agent store]
//   PrefixStore("default_pg"), then PrefixStore("0") for the group itself (group names count from 0)
//   ProcessGroupGloo(rank, world_size; a device per network interface named, as GLOO_SOCKET_IFNAME
//                    names them to Python, else the host's; two threads per device; the timeout)
//   the store-based barrier on "store_based_barrier_key:1", then rank 0's sequence number.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <memory>
#include <sstream>
#include <thread>

#include "guard.h"
#include "shim.h"

// glog's severity threshold (libtorch logs c10d's socket errors through glog, on stderr).
namespace fLI {
extern int32_t FLAGS_minloglevel;
}

namespace {

// c10d's failures reach the caller as errors with their message; its own log lines on stderr would
// repeat them in glog's format, so it logs only fatal errors unless GLOG_minloglevel says otherwise.
void quiet_c10d_log() {
  if (!std::getenv("GLOG_minloglevel")) fLI::FLAGS_minloglevel = 3;
}

using StorePtr = c10::intrusive_ptr<c10d::Store>;
using GroupPtr = c10::intrusive_ptr<c10d::ProcessGroup>;

#define STORE(h) (*static_cast<StorePtr*>(h))
#define GROUP(h) (*static_cast<GroupPtr*>(h))

StorePtr make_store(const char* host, int port, int world_size, bool is_server, int attempt,
                    std::chrono::milliseconds timeout) {
  if (port < 1 || port > 65535) throw std::invalid_argument("port " + std::to_string(port) + " is not a TCP port");
  quiet_c10d_log();
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = is_server;
  options.numWorkers = static_cast<std::size_t>(world_size);
  options.waitWorkers = true;
  options.timeout = timeout;
  options.multiTenant = true;
  StorePtr store = c10::make_intrusive<c10d::TCPStore>(host, options);
  if (attempt >= 0) store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(attempt), store);
  return c10::make_intrusive<c10d::PrefixStore>("default_pg", store);
}

// torch.distributed's _store_based_barrier: every rank adds 1, then waits for the count.
void store_barrier(const StorePtr& store, int world_size, std::chrono::milliseconds timeout) {
  const std::string key = "store_based_barrier_key:1";
  store->add(key, 1);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t count = store->add(key, 0); count != world_size; count = store->add(key, 0)) {
    if (std::chrono::steady_clock::now() - start > timeout) {
      std::ostringstream message;
      message << "timed out after " << timeout.count() / 1000.0 << " s waiting for the ranks to join the group (" << count
              << " of " << world_size << " joined)";
      throw std::runtime_error(message.str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

GroupPtr gloo_group(const StorePtr& store, int rank, int world_size, std::chrono::milliseconds timeout,
                    const std::string& interfaces) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  if (!interfaces.empty()) {
    std::stringstream names(interfaces);
    for (std::string name; std::getline(names, name, ',');)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  options->threads = static_cast<int>(options->devices.size()) * 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
}

// NCCL for CUDA tensors, where the shim is built against a CUDA libtorch with -DRESEARCH_C10D_NCCL=ON.
GroupPtr nccl_group(const StorePtr& store, int rank, int world_size, std::chrono::milliseconds timeout) {
#ifdef USE_C10D_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, options);
#else
  throw std::runtime_error("this build of the shim has no NCCL process group (configure it with -DRESEARCH_C10D_NCCL=ON against a CUDA libtorch)");
#endif
}

GroupPtr make_group(const StorePtr& store, int backend, int rank, int world_size, std::chrono::milliseconds timeout,
                    const std::string& interfaces) {
  const StorePtr prefixed = c10::make_intrusive<c10d::PrefixStore>("0", store);
  GroupPtr group = backend == 1 ? nccl_group(prefixed, rank, world_size, timeout)
                                : gloo_group(prefixed, rank, world_size, timeout, interfaces);
  store_barrier(store, world_size, timeout);
  group->setSequenceNumberForGroup();
  return group;
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case 0: return c10d::ReduceOp::SUM;
    case 1: return c10d::ReduceOp::MAX;
    case 2: return c10d::ReduceOp::MIN;
  }
  throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

// Waits for a collective as Work::wait does (raising its failure), but polls isCompleted for its first
// 20 ms before blocking: a rank's step waits for its collectives most of the time, and a thread
// blocked on the work's condition variable was woken 0.1-4 ms after Gloo's thread finished (a wake-up
// on an idle virtual CPU), a cost as large as the allreduce itself. Polling made two ranks' epochs
// 10-18% shorter for the DCGAN and the VAE here; a longer wait is another rank's lateness.
void finish(const c10::intrusive_ptr<c10d::Work>& work) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  while (!work->isCompleted() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  work->wait();
}

void allgather(const GroupPtr& group, const at::Tensor& t, tensor* outs) {
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < group->getSize(); ++r) output[0].push_back(at::empty_like(t));
  std::vector<at::Tensor> input{t};
  finish(group->allgather(output, input));
  for (int r = 0; r < group->getSize(); ++r) outs[r] = new at::Tensor(output[0][r]);
}

void broadcast(const GroupPtr& group, const at::Tensor& t, int root) {
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  finish(group->broadcast(v, options));
}

c10::intrusive_ptr<c10d::Work> start_allreduce(const GroupPtr& group, const at::Tensor& t, int op) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions options;
  options.reduceOp = reduce_op(op);
  return group->allreduce(v, options);
}

// A started collective and the tensor it works on, kept alive together until freed.
struct PendingWork {
  c10::intrusive_ptr<c10d::Work> work;
  at::Tensor tensor;
};

// The gradients of one optimizer's parameters, summed over the ranks while backward still runs, as
// DistributedDataParallel's reducer does (Li et al., VLDB 2020, section 3.2.3): the parameters are
// cut into buckets in reverse order (backward reaches the last layers first), a hook on each
// parameter's gradient accumulator notes its gradient, and a bucket whose gradients are all there
// starts its allreduce at once, the buckets always in the same order on every rank. Before the step,
// finish() starts the buckets left (parameters without a gradient here cross as zeros, with a flag
// per parameter saying whether this rank had one), waits, and writes the sums back: a parameter has
// a gradient afterwards where any rank's step gave it one. A step whose backward runs more than once
// (gradients accumulated) is reduced again from its final gradients, the early sums discarded; as in
// DDP, every rank's step must then run its backward passes alike (that second round is decided on
// each rank by a parameter's gradient arriving twice).
class Reducer {
 public:
  Reducer(GroupPtr group, std::vector<at::Tensor> params, int64_t bucket_bytes)
      : group_(std::move(group)), params_(std::move(params)), bucket_of_(params_.size()), ready_(params_.size()) {
    int64_t fill = 0;  // bytes in the bucket being filled
    for (size_t i = params_.size(); i-- > 0;) {
      const at::Tensor& p = params_[i];
      const int64_t bytes = p.numel() * p.element_size();
      if (buckets_.empty() || p.scalar_type() != params_[buckets_.back().front()].scalar_type() ||
          fill + bytes > bucket_bytes) {
        buckets_.emplace_back();
        fill = 0;
      }
      buckets_.back().push_back(i);
      bucket_of_[i] = buckets_.size() - 1;
      fill += bytes;
    }
    for (const auto& b : buckets_) {
      int64_t n = static_cast<int64_t>(b.size());
      for (size_t i : b) n += params_[i].numel();
      flats_.push_back(at::empty({n}, params_[b.front()].options().requires_grad(false)));
    }
    works_.resize(buckets_.size());
    reset();
    for (size_t i = 0; i < params_.size(); ++i) {
      auto accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
      const auto key = accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
          [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
            ready(i);
            return outputs;
          }));
      hooks_.emplace_back(std::move(accumulator), key);
    }
  }

  ~Reducer() {
    for (auto& [accumulator, key] : hooks_) accumulator->del_post_hook(key);
  }

  void set_weight(double weight) { weight_ = weight; }

  // Buckets that started while the last finished step's backward ran.
  int overlapped() const { return overlapped_; }

  void finish() {
    overlapped_ = spoiled_ ? 0 : static_cast<int>(next_);
    // Every rank starts every bucket once, in order, whatever its backward reached (a parameter that
    // one rank never used held its bucket back there); a spoiled step then starts them all again.
    while (next_ < buckets_.size()) start(next_++);
    if (spoiled_) {
      for (size_t b = 0; b < buckets_.size(); ++b) ::finish(works_[b]);
      for (size_t b = 0; b < buckets_.size(); ++b) start(b);
    }
    for (size_t b = 0; b < buckets_.size(); ++b) {
      ::finish(works_[b]);
      write_back(b);
    }
    reset();
  }

 private:
  void reset() {
    std::fill(ready_.begin(), ready_.end(), 0);
    missing_.clear();
    for (const auto& b : buckets_) missing_.push_back(b.size());
    for (auto& w : works_) w.reset();
    next_ = 0;
    spoiled_ = false;
  }

  // A parameter's gradient has arrived (its accumulator ran).
  void ready(size_t i) {
    if (ready_[i]) {
      spoiled_ = true;
      return;
    }
    ready_[i] = 1;
    --missing_[bucket_of_[i]];
    while (!spoiled_ && next_ < buckets_.size() && missing_[next_] == 0) start(next_++);
  }

  // The bucket's gradients times the weight, then its flags, into its flat buffer; its allreduce started.
  void start(size_t b) {
    at::NoGradGuard no_grad;
    const at::Tensor& flat = flats_[b];
    int64_t offset = 0;
    const int64_t flags = flat.numel() - static_cast<int64_t>(buckets_[b].size());
    for (size_t k = 0; k < buckets_[b].size(); ++k) {
      const at::Tensor& p = params_[buckets_[b][k]];
      at::Tensor part = flat.narrow(0, offset, p.numel()).view(p.sizes());
      const bool present = p.grad().defined();
      if (present) part.copy_(p.grad()).mul_(weight_);
      else part.zero_();
      flat[flags + static_cast<int64_t>(k)].fill_(present ? 1 : 0);
      offset += p.numel();
    }
    works_[b] = start_allreduce(group_, flat, 0);
  }

  void write_back(size_t b) {
    at::NoGradGuard no_grad;
    const at::Tensor& flat = flats_[b];
    const int64_t flags = flat.numel() - static_cast<int64_t>(buckets_[b].size());
    const at::Tensor any = flat.narrow(0, flags, static_cast<int64_t>(buckets_[b].size())).to(at::kDouble);
    int64_t offset = 0;
    for (size_t k = 0; k < buckets_[b].size(); ++k) {
      at::Tensor p = params_[buckets_[b][k]];
      const at::Tensor sum = flat.narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else if (any.data_ptr<double>()[k] > 0) p.mutable_grad() = sum.clone();
      offset += p.numel();
    }
  }

  GroupPtr group_;
  std::vector<at::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<at::Tensor> flats_;  // per bucket: its gradients end to end, then one flag per parameter
  std::vector<c10::intrusive_ptr<c10d::Work>> works_;
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;  // kept alive with their hooks
  std::vector<char> ready_;
  std::vector<size_t> missing_;  // per bucket: gradients not yet arrived in this step
  size_t next_ = 0;              // the next bucket to start
  int overlapped_ = 0;
  double weight_ = 1.0;
  bool spoiled_ = false;
};

}  // namespace

int ts_dist_store(const char* host, int port, int world_size, int is_server, int attempt, int64_t timeout_ms,
                  dist_store* out) {
  GUARD(*out = new StorePtr(make_store(host, port, world_size, is_server != 0, attempt,
                                       std::chrono::milliseconds(timeout_ms))))
}

int ts_dist_store_free(dist_store s) { GUARD(delete static_cast<StorePtr*>(s)) }

int ts_dist_group(dist_store s, int backend, int rank, int world_size, int64_t timeout_ms, const char* interfaces,
                  dist_group* out) {
  GUARD(*out = new GroupPtr(make_group(STORE(s), backend, rank, world_size, std::chrono::milliseconds(timeout_ms),
                                       interfaces ? interfaces : "")))
}

int ts_dist_group_free(dist_group g) { GUARD(delete static_cast<GroupPtr*>(g)) }

int ts_dist_broadcast(dist_group g, tensor t, int root) { GUARD(broadcast(GROUP(g), T(t), root)) }
int ts_dist_allreduce(dist_group g, tensor t, int op) { GUARD(finish(start_allreduce(GROUP(g), T(t), op))) }
int ts_dist_allreduce_start(dist_group g, tensor t, int op, dist_work* out) {
  GUARD((*out = new PendingWork{start_allreduce(GROUP(g), T(t), op), T(t)}))
}
int ts_dist_work_wait(dist_work w) { GUARD(finish(static_cast<PendingWork*>(w)->work)) }
int ts_dist_work_free(dist_work w) { GUARD(delete static_cast<PendingWork*>(w)) }
int ts_dist_allgather(dist_group g, tensor t, tensor* outs) { GUARD(allgather(GROUP(g), T(t), outs)) }

int ts_dist_barrier(dist_group g) { GUARD(finish(GROUP(g)->barrier())) }

int ts_dist_reducer(dist_group g, tensor* params, int n, int64_t bucket_bytes, dist_reducer* out) {
  GUARD(std::vector<at::Tensor> ps; for (int i = 0; i < n; ++i) ps.push_back(T(params[i]));
        *out = new Reducer(GROUP(g), std::move(ps), bucket_bytes))
}
int ts_dist_reducer_weight(dist_reducer r, double weight) { GUARD(static_cast<Reducer*>(r)->set_weight(weight)) }
int ts_dist_reducer_finish(dist_reducer r) { GUARD(static_cast<Reducer*>(r)->finish()) }
int ts_dist_reducer_overlapped(dist_reducer r, int* out) { GUARD(*out = static_cast<Reducer*>(r)->overlapped()) }
int ts_dist_reducer_free(dist_reducer r) { GUARD(delete static_cast<Reducer*>(r)) }
