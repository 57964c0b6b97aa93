"""SE: Squeeze-and-Excitation (Hu et al., CVPR 2018), as the reference code writes it: FC layers with bias."""
from __future__ import annotations

import torch
from torch import nn

from ecabench.attention.base import AttentionVariant, check_positive_int
from ecabench.registry import register_attention


@register_attention("se")
class SE(AttentionVariant):
    def __init__(self, channels: int, r: int = 16):
        super().__init__()
        self.check_params({"r": r})
        self.channels = channels
        hidden = max(channels // r, 1)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        w = torch.sigmoid(self.fc2(self.relu(self.fc1(x.mean((2, 3))))))
        return x * w.view(n, c, 1, 1)

    @classmethod
    def check_params(cls, params: dict) -> None:
        check_positive_int("se", "r", params.get("r", 16))
