"""What the PyTorch peers of `research bench` share: their command line, the MNIST training images,
the start of a run (threads, seed and, with --ddp, a rank of DistributedDataParallel on gloo under
torchrun), each rank's share of a global batch, the timed epochs of a warmed-up Adam, and the JSON lines `research bench` reads (one with
the versions and threads, then one per epoch; rank 0 alone prints)."""
import argparse, json, os, struct, time
import numpy as np
import torch
import torch.distributed as dist


def parser(doc, epochs):
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/mnist", help="folder with MNIST IDX files (default: data/mnist)")
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs to time (default: {epochs})")
    p.add_argument("--batch-size", type=int, default=128, help="minibatch size, the global one with --ddp (default: 128)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: 2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (default: 0 = all 60000)")
    p.add_argument("--ddp", action="store_true",
                   help="run as one rank of DistributedDataParallel on gloo (start it with torchrun): each rank takes "
                        "its consecutive share of every global batch, rank 0 prints (default: one process)")
    return p


def start(a):
    """Threads, seed, and the process group with --ddp; prints the version line. Returns (rank, world)."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rank, world = 0, 1
    if a.ddp:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)
    return rank, world


def images(a, scale):
    """The first --limit MNIST training images, float32 [N, 1, 28, 28]: grey levels / scale."""
    path = os.path.join(a.data, "train-images-idx3-ubyte")
    with open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803, f"{path}: not an IDX image file"
        x = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, 1, rows, cols)
    x = torch.from_numpy(x.astype(np.float32) / scale)
    return x[:a.limit] if a.limit > 0 else x


def share(n, rank, world):
    """The consecutive share (start, stop) of `rank` among `world` ranks in a batch of n: equal
    shares, the first n % world ranks one more (as the workspace's data-parallel training)."""
    q, r = divmod(n, world)
    first = rank * q + min(rank, r)
    return first, first + q + (1 if rank < r else 0)


def summed(value):
    """value summed over the ranks of the process group."""
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return t.item()


def epoch_done(rank, epoch, seconds, images, loss):
    if rank == 0:
        print(json.dumps({"epoch": epoch, "seconds": seconds, "images": images, "loss": loss}), flush=True)


def train(a, rank, world, x_all, opt, lr, warmup, step):
    """Times a.epochs epochs of shuffled global batches of a.batch_size, this rank taking its share of
    each, the learning rate warmed up linearly from 0 over `warmup` steps; step(x, k) runs the k-th
    optimisation step on the share x and returns its loss."""
    n, k = x_all.shape[0], 0
    for epoch in range(1, a.epochs + 1):
        start_time = time.perf_counter()
        total, batches = 0.0, 0
        perm = torch.randperm(n)
        for i in range(0, n, a.batch_size):
            k += 1
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, k / warmup)
            batch = perm[i:i + a.batch_size]
            lo, hi = share(len(batch), rank, world)
            total += step(x_all.index_select(0, batch[lo:hi]), k)
            batches += 1
        epoch_done(rank, epoch, time.perf_counter() - start_time, n, total / batches)
