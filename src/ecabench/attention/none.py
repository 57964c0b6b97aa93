"""The baseline: no attention. Registered so `none` is a spec like any other."""
from __future__ import annotations

import torch
from torch import nn

from ecabench.registry import register_attention


@register_attention("none")
class NoAttention(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
