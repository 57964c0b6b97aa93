"""The baseline: no attention. Registered so `none` is a spec like any other."""
from __future__ import annotations

import torch

from ecabench.attention.base import AttentionVariant
from ecabench.registry import register_attention


@register_attention("none")
class NoAttention(AttentionVariant):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
