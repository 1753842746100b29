"""The PyTorch peer of the flow benchmark: the workspace's multi-scale RealNVP flow, trained on MNIST
as `research flow train` trains it (batch 128, Adam 1e-3 with 200 steps of linear warm-up, gradients
clipped to norm 10, the mean bits per dimension as the loss):
  uniform dequantization (x + u) / 256 and the logit transform (alpha 1e-5);
  4 checkerboard affine couplings on 1 x 28 x 28 (nets of 32 channels);
  squeeze; 2 channel couplings on 4 x 14 x 14 (48); split (half the channels to the prior);
  squeeze; 4 channel couplings on 8 x 7 x 7 (64).
Each coupling's net is conv3x3 - ReLU - conv3x3 - ReLU - conv3x3 (the last zero-initialised), and
its scale is s = tanh(s_raw / e^c) e^c with a learned c per channel (the UvA tutorial's).

Prints a JSON line with the versions and thread counts, then one per epoch:
{"epoch": e, "seconds": s, "images": n, "loss": mean bits per dimension}.
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/flow_pytorch.py --data data/mnist --epochs 1 --threads 2 --limit 2560
With --ddp it is one rank of PyTorch's own DistributedDataParallel on gloo, started by torchrun
(`research bench flow --ranks 2` starts two of one thread each); every rank takes its consecutive
share of each global batch and rank 0 prints.
"""
import math, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/peer.py, also when imported
import peer

ALPHA = 1e-5


class Coupling(nn.Module):
    def __init__(self, channels, hidden, mask):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, 2 * channels, 3, padding=1))
        nn.init.zeros_(self.net[4].weight)
        nn.init.zeros_(self.net[4].bias)
        self.scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("mask", mask)

    def forward(self, z, ldj):
        out = self.net(z * self.mask)
        s, t = out.chunk(2, dim=1)
        factor = self.scale.exp()
        s = torch.tanh(s / factor) * factor * (1 - self.mask)
        t = t * (1 - self.mask)
        return (z + t) * s.exp(), ldj + s.flatten(1).sum(1)


def checkerboard(h, w, flip):
    r, c = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (((r + c) % 2 == 0) != flip).float().view(1, 1, h, w)


def channel_mask(c, flip):
    return ((torch.arange(c) < c // 2) != flip).float().view(1, c, 1, 1)


def squeeze(z):
    b, c, h, w = z.shape
    return z.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def prior_log_prob(z):
    return (-0.5 * (math.log(2 * math.pi) + z ** 2)).flatten(1).sum(1)


class Flow(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale1 = nn.ModuleList([Coupling(1, 32, checkerboard(28, 28, i % 2 == 1)) for i in range(4)])
        self.scale2 = nn.ModuleList([Coupling(4, 48, channel_mask(4, i % 2 == 1)) for i in range(2)])
        self.scale3 = nn.ModuleList([Coupling(8, 64, channel_mask(8, i % 2 == 1)) for i in range(4)])

    def forward(self, x):
        return self.log_prob(x)

    def log_prob(self, x):
        d = x[0].numel()
        v = (x + torch.rand_like(x)) / 256
        ldj = torch.full((x.shape[0],), -d * math.log(256.0))
        s = v * (1 - 2 * ALPHA) + ALPHA
        ldj = ldj + (math.log(1 - 2 * ALPHA) - s.log() - (1 - s).log()).flatten(1).sum(1)
        z = s.log() - (1 - s).log()
        for layer in self.scale1:
            z, ldj = layer(z, ldj)
        z = squeeze(z)
        for layer in self.scale2:
            z, ldj = layer(z, ldj)
        z, z2 = z.chunk(2, dim=1)
        ldj = ldj + prior_log_prob(z2)
        z = squeeze(z)
        for layer in self.scale3:
            z, ldj = layer(z, ldj)
        return prior_log_prob(z) + ldj


def main():
    a = peer.parser(__doc__, epochs=1).parse_args()
    rank, world = peer.start(a)
    flow = Flow()
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    model = DDP(flow) if a.ddp else flow

    def step(x, _):
        opt.zero_grad()
        bpd = -model(x) / (x[0].numel() * math.log(2))
        bpd.mean().backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 10.0)
        opt.step()
        return bpd.mean().item()

    peer.train(a, rank, world, peer.images(a, 1.0), opt, 1e-3, 200, step)


if __name__ == "__main__":
    main()
