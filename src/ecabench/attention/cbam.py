"""CBAM (Woo et al., ECCV 2018): channel gate, then spatial gate, as the reference code builds them.

Channel gate: a shared MLP (with bias) over the average- and max-pooled vectors, summed, sigmoid.
Spatial gate: channel-wise max and mean (in the reference code's order) -> kxk conv 2->1 without
bias -> BatchNorm -> sigmoid.

Eager CPU execution takes a faster route to the same numbers (bitwise, values and gradients;
tested in tests/test_attention_fast.py; profile in docs/performance.md):

* both means are ``sum`` + ``div_``: ATen's mean does the same inside, but ``mean``'s backward
  materialises ``grad / count`` at full size (an extra pass), while here the division happens on
  the small pooled gradient;
* on small maps with many channels (H*W < 64, C >= 256, e.g. ResNet-50's 7x7 stage) and without
  autograd, the channel-wise max is a halving tree of ``torch.maximum`` (exact), because ATen's
  ``amax(1)`` there runs ~1 ns per element (0.77 ms at (8, 2048, 7, 7), ~10 copies' worth).

Tracers (FLOP counts), ``torch.compile``, TorchScript and other devices see the reference formulation.
"""
from __future__ import annotations

import torch
from torch import nn

from ecabench.attention.base import check_positive_int
from ecabench.attention.fast import fast_path_enabled, spatial_mean
from ecabench.registry import register_attention

# channel_max uses the maximum tree below this many positions per map and from this many channels on:
# measured (1 thread, N=8) tree / amax(1) time: (256, 7x7) 0.68, (2048, 7x7) 0.24, (512, 4x4) 0.30,
# but (64, 8x8) 8.0, (128, 8x8) 7.6, (256, 14x14) 1.7 — ATen's amax(1) is fast there.
_TREE_BELOW_POSITIONS = 64
_TREE_FROM_CHANNELS = 256


def channel_max(x: torch.Tensor) -> torch.Tensor:
    """``x.amax(1, keepdim=True)`` for (N, C, H, W), exact; a halving tree on small maps with many
    channels (H*W < 64, C >= 256) without autograd.

    (The tree's backward, one ``maximum`` backward per level, is slower than ``amax``'s, so under
    autograd ``amax`` is kept, and with it ``amax``'s even split of the gradient between ties.)
    """
    small_map = x.shape[2] * x.shape[3] < _TREE_BELOW_POSITIONS and x.shape[1] >= _TREE_FROM_CHANNELS
    if not small_map or (torch.is_grad_enabled() and x.requires_grad):
        return x.amax(1, keepdim=True)
    c = x.shape[1]
    while c > 1:
        half = (c + 1) // 2  # odd c: the halves share the middle channel, which max(a, a) keeps
        x = torch.maximum(x[:, :half], x[:, c - half:])
        c = half
    return x


@register_attention("cbam")
class CBAM(nn.Module):
    def __init__(self, channels: int, r: int = 16, kernel_size: int = 7):
        super().__init__()
        self.check_params({"r": r, "kernel_size": kernel_size})
        self.channels = channels
        hidden = max(channels // r, 1)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles only the reference branch
            if fast_path_enabled(x):
                return self._forward_fast(x)
        # The reference formulation (what tracers, FLOP counters and other devices see).
        n, c = x.shape[:2]
        gate = self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3)))
        x = x * torch.sigmoid(gate).view(n, c, 1, 1)
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        gate = self.mlp(spatial_mean(x)) + self.mlp(x.amax((2, 3)))
        x = x * torch.sigmoid(gate).view(n, c, 1, 1)
        pooled = torch.cat([channel_max(x), x.sum(1, keepdim=True).div_(c)], dim=1)
        return x * torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))

    @classmethod
    def check_params(cls, params: dict) -> None:
        check_positive_int("cbam", "r", params.get("r", 16))
        k = params.get("kernel_size", 7)
        check_positive_int("cbam", "kernel_size", k)
        if k % 2 == 0:
            raise ValueError(f"cbam: kernel_size must be odd (the spatial map keeps its size), got {k}")

    @classmethod
    def format_param(cls, name: str, value) -> str:
        return {"kernel_size": "s"}.get(name, name) + str(value)
