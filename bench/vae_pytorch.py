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
import os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/peer.py, also when imported
import peer


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


def main():
    a = peer.parser(__doc__, epochs=3).parse_args()
    rank, world = peer.start(a)
    x_all = peer.images(a, 255.0).flatten(1)
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
            lo, hi = peer.share(len(batch), rank, world)
            x = x_all.index_select(0, batch[lo:hi])
            opt.zero_grad()
            logits, mu, logvar = model(x)
            loss = loss_fn(logits, x, mu, logvar)
            loss.backward()
            opt.step()
            total += loss.item()
        seconds = time.perf_counter() - start
        if a.ddp:  # each rank summed the losses of its shares; the epoch's mean is over all images
            total = peer.summed(total)
        peer.epoch_done(rank, epoch, seconds, n, total / n)


if __name__ == "__main__":
    main()
