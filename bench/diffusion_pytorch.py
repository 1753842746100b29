"""The PyTorch peer of the diffusion benchmark: the workspace's noise-predicting U-Net (base C channels,
C, 2C, 2C at 28, 14 and 7 pixels, one residual block per level each way, GroupNorm with 8 groups,
SiLU, a sinusoidal step embedding, self-attention at 7 x 7, the output convolution at zero), trained
on MNIST as `research diffusion train` trains it: images in [-1, 1], the simple loss of Ho et al.
2020 (t uniform over T = 1000 steps of the linear schedule), Adam 1e-3 with 200 steps of warm-up,
gradients clipped to norm 1, and the weights' moving average (decay min(0.999, (1 + n) / (10 + n)))
updated after every step.

Prints a JSON line with the versions and thread counts, then one per epoch:
{"epoch": e, "seconds": s, "images": n, "loss": mean simple loss per step}.
With --ddp it is one rank of PyTorch's own DistributedDataParallel on gloo, started by torchrun
(`research bench diffusion --ranks 2` starts two of one thread each); every rank takes its
consecutive share of each global batch and rank 0 prints.
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/diffusion_pytorch.py --data data/mnist --epochs 1 --threads 2
"""
import copy, math, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/peer.py, also when imported
import peer

GROUPS = 8


def time_embedding(t, dim):
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(GROUPS, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(GROUPS, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(F.silu(temb))[:, :, None, None]
        return self.conv2(F.silu(self.norm2(h))) + self.skip(x)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(GROUPS, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(n, 3, c, h * w).unbind(1)
        weights = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), 2)
        return x + self.proj((v @ weights.transpose(1, 2)).view(n, c, h, w))


class UNet(nn.Module):
    def __init__(self, c=32, attention=True):
        super().__init__()
        self.c, t = c, 4 * c
        self.time1, self.time2 = nn.Linear(c, t), nn.Linear(t, t)
        self.input = nn.Conv2d(1, c, 3, padding=1)
        self.down0, self.down1, self.down2 = ResBlock(c, c, t), ResBlock(c, 2 * c, t), ResBlock(2 * c, 2 * c, t)
        self.shrink0, self.shrink1 = nn.Conv2d(c, c, 3, 2, 1), nn.Conv2d(2 * c, 2 * c, 3, 2, 1)
        self.middle = ResBlock(2 * c, 2 * c, t)
        self.up2, self.up1, self.up0 = ResBlock(4 * c, 2 * c, t), ResBlock(4 * c, 2 * c, t), ResBlock(3 * c, c, t)
        self.grow1, self.grow0 = nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.attend = nn.ModuleList([Attention(2 * c), Attention(2 * c)]) if attention else None
        self.out_norm, self.output = nn.GroupNorm(GROUPS, c), nn.Conv2d(c, 1, 3, padding=1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x, t):
        temb = self.time2(F.silu(self.time1(time_embedding(t, self.c))))
        attend = (lambda i, h: self.attend[i](h)) if self.attend is not None else (lambda i, h: h)
        h0 = self.down0(self.input(x), temb)
        h1 = self.down1(self.shrink0(h0), temb)
        h2 = attend(0, self.down2(self.shrink1(h1), temb))
        m = self.middle(h2, temb)
        u2 = attend(1, self.up2(torch.cat([m, h2], 1), temb))
        u1 = self.up1(torch.cat([self.grow1(F.interpolate(u2, scale_factor=2.0, mode="nearest")), h1], 1), temb)
        u0 = self.up0(torch.cat([self.grow0(F.interpolate(u1, scale_factor=2.0, mode="nearest")), h0], 1), temb)
        return self.output(F.silu(self.out_norm(u0)))


def main():
    p = peer.parser(__doc__, epochs=1)
    p.add_argument("--channels", type=int, default=32, help="the U-Net's base channels (default: 32)")
    a = p.parse_args()
    rank, world = peer.start(a)
    x_all = peer.images(a, 255.0) * 2 - 1
    steps_T = 1000
    betas = torch.linspace(1e-4, 0.02, steps_T, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0).float()
    net = UNet(a.channels)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    model = DDP(net) if a.ddp else net

    def step(x0, k):
        t = torch.randint(0, steps_T, (x0.shape[0],))
        noise = torch.randn_like(x0)
        ab = alpha_bar[t][:, None, None, None]
        loss = F.mse_loss(model(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t), noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.999, (1 + k) / (10 + k))
            for e, w in zip(ema.parameters(), net.parameters()):
                e.mul_(d).add_(w, alpha=1 - d)
        return loss.item()

    peer.train(a, rank, world, x_all, opt, 1e-3, 200, step)


if __name__ == "__main__":
    main()
