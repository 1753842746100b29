"""The PyTorch peer of the GAN benchmark: the workspace's two GANs, trained on MNIST as
`research gan train` trains them (Adam 2e-4, betas (0.5, 0.999), batch 128, images in [-1, 1]; one
D step on real images and detached fakes, then one G step on the same fakes with the non-saturating
loss, as pytorch/examples' dcgan):
  mlp:   seed 004's G latent-128-256-512-1024-784 (BatchNorm on all hidden layers but the first,
         LeakyReLU 0.2, tanh) and D 784-512-256-1 (LeakyReLU 0.2, dropout 0.3);
  dcgan: G ConvT(k7) 2ngf x 7 x 7 -> ConvT(k4, s2) ngf x 14 x 14 -> ConvT(k4, s2) 1 x 28 x 28 with
         BatchNorm and ReLU, tanh; D Conv(k4, s2) ndf -> Conv(k4, s2) 2ndf with BatchNorm -> Conv(k7) 1,
         LeakyReLU 0.2; ngf = ndf = 32.

Prints a JSON line with the versions and thread counts, then one per epoch:
{"epoch": e, "seconds": s, "images": n, "loss": mean D loss + G loss per step}.
Run with Debian's python3-torch (the same libtorch 1.13 as the .NET side); set OPENBLAS_NUM_THREADS
in the environment (`research bench gan` does):
    OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=1 /usr/bin/python3 bench/gan_pytorch.py --arch mlp --data data/mnist --epochs 1 --threads 1
With --ddp it is one rank of PyTorch's own DistributedDataParallel on gloo, started by torchrun
(`research bench gan --arch dcgan --ranks 2` starts two of one thread each); every rank takes its consecutive
share of each global batch and rank 0 prints.
"""
import os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/peer.py, also when imported
import peer


def mlp_gan(latent):
    sizes = [latent, 128, 256, 512, 1024]
    g = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        g += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if i > 0 else []) + [nn.LeakyReLU(0.2)]
    G = nn.Sequential(*g, nn.Linear(1024, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                      nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(256, 1), nn.Flatten(0))
    return G, D


def dcgan(latent, ngf=32, ndf=32):
    G = nn.Sequential(nn.Unflatten(1, (latent, 1, 1)),
                      nn.ConvTranspose2d(latent, 2 * ngf, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(),
                      nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(),
                      nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                      nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.2),
                      nn.Conv2d(2 * ndf, 1, 7, 1, 0, bias=False), nn.Flatten(0))
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return G, D


def main():
    p = peer.parser(__doc__, epochs=1)
    p.add_argument("--arch", choices=["mlp", "dcgan"], default="mlp", help="architecture (default: mlp)")
    p.add_argument("--latent", type=int, default=100, help="latent size (default: 100)")
    a = p.parse_args()
    rank, world = peer.start(a)
    x_all = peer.images(a, 255.0)
    G, D = (mlp_gan if a.arch == "mlp" else dcgan)(a.latent)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if a.ddp:
        G, D = DDP(G), DDP(D)
    bce = F.binary_cross_entropy_with_logits
    n = x_all.shape[0]
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        total, steps = 0.0, 0
        perm = torch.randperm(n)
        for i in range(0, n, a.batch_size):
            batch = perm[i:i + a.batch_size]
            lo, hi = peer.share(len(batch), rank, world)
            x = x_all.index_select(0, batch[lo:hi]) * 2 - 1
            b = x.shape[0]
            fake = G(torch.randn(b, a.latent))
            opt_d.zero_grad()
            # As pytorch/examples' dcgan: one backward per forward of D (which DDP needs).
            d_real = bce(D(x), torch.ones(b))
            d_real.backward()
            d_fake = bce(D(fake.detach()), torch.zeros(b))
            d_fake.backward()
            d_loss = d_real + d_fake
            opt_d.step()
            opt_g.zero_grad()
            g_loss = bce(D(fake), torch.ones(b))
            g_loss.backward()
            opt_g.step()
            total += d_loss.item() + g_loss.item()
            steps += 1
        peer.epoch_done(rank, epoch, time.perf_counter() - start, n, total / steps)


if __name__ == "__main__":
    main()
