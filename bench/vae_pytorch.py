"""The PyTorch peer of the VAE benchmark: pytorch/examples' VAE (784-400-20-400-784, ReLU,
Bernoulli likelihood as BCE with logits, Adam 1e-3, batch 128) trained on MNIST.

Prints a JSON line with the versions and thread counts, then one per epoch:
{"epoch": e, "seconds": s, "images": n, "loss": mean negative ELBO per image}.
Run with Debian's python3-torch (same libtorch 1.13 as the .NET side); OpenBLAS reads its thread
count from the environment when it loads, so set it there (`research bench vae` does):
    OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=1 /usr/bin/python3 bench/vae_pytorch.py --data data/mnist --epochs 3 --threads 1
With --ddp it is one rank of PyTorch's own DistributedDataParallel on gloo, started by torchrun
(`research bench vae --ranks 2` starts two of one thread each); every rank takes its consecutive
share of each global batch and rank 0 prints.
"""
import argparse, json, os, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP


def read_idx_images(path):
    with open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803, f"{path}: not an IDX image file"
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols)


class VAE(nn.Module):
    def __init__(self, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


def loss_fn(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def share(n, rank, world):
    """The consecutive share (start, stop) of `rank` among `world` ranks in a batch of n: equal
    shares, the first n % world ranks one more (as the workspace's data-parallel training)."""
    q, r = divmod(n, world)
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/mnist", help="folder with MNIST IDX files (default: data/mnist)")
    p.add_argument("--epochs", type=int, default=3, help="epochs to time (default: 3)")
    p.add_argument("--batch-size", type=int, default=128, help="minibatch size (default: 128)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: 2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (default: 0 = all 60000)")
    p.add_argument("--ddp", action="store_true",
                   help="run as one rank of DistributedDataParallel on gloo (start it with torchrun): each rank takes "
                        "its consecutive share of every global batch, rank 0 prints (default: one process)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rank, world = 0, 1
    if a.ddp:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)
    x_all = torch.from_numpy(read_idx_images(os.path.join(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 255.0)
    if a.limit > 0:
        x_all = x_all[:a.limit]
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if a.ddp:
        model = DDP(model)
    n = x_all.shape[0]
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        total = 0.0
        perm = torch.randperm(n)
        for i in range(0, n, a.batch_size):
            batch = perm[i:i + a.batch_size]
            lo, hi = share(len(batch), rank, world)
            x = x_all.index_select(0, batch[lo:hi])
            opt.zero_grad()
            logits, mu, logvar = model(x)
            loss = loss_fn(logits, x, mu, logvar)
            loss.backward()
            opt.step()
            total += loss.item()
        if rank == 0:
            print(json.dumps({"epoch": epoch, "seconds": time.perf_counter() - start, "images": n, "loss": total / n}), flush=True)


if __name__ == "__main__":
    main()
