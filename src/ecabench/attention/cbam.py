"""CBAM (Woo et al., ECCV 2018): channel gate, then spatial gate, as the reference code builds them.

Channel gate: a shared MLP (with bias) over the average- and max-pooled vectors, summed, sigmoid.
Spatial gate: channel-wise max and mean (in the reference code's order) -> kxk conv 2->1 without
bias -> BatchNorm -> sigmoid.
"""
from __future__ import annotations

import torch
from torch import nn

from ecabench.attention.base import AttentionVariant, check_positive_int
from ecabench.registry import register_attention


@register_attention("cbam")
class CBAM(AttentionVariant):
    def __init__(self, channels: int, r: int = 16, kernel_size: int = 7):
        super().__init__()
        self.check_params({"r": r, "kernel_size": kernel_size})
        self.channels = channels
        hidden = max(channels // r, 1)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        gate = self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3)))
        x = x * torch.sigmoid(gate).view(n, c, 1, 1)
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], dim=1)
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
