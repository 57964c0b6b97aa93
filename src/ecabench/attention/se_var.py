"""SE-Var1, SE-Var2, SE-Var3 (Wang et al., CVPR 2020, Table 2): SE without dimensionality reduction.

Each is global average pooling y (C values) -> a map C -> C -> sigmoid -> scale the input:

- ``se_var1``: sigmoid(y), no parameters;
- ``se_var2``: sigmoid(w * y), one independent weight per channel (a diagonal W), C parameters;
- ``se_var3``: sigmoid(W y), one fully connected layer without reduction, C^2 parameters.

The paper does not say whether the variants have a bias; here they have none unless a spec says
``bias=true`` (+C parameters). The weights keep PyTorch's default init of the layer that holds them.
"""
from __future__ import annotations

import torch
from torch import nn

from ecabench.attention.base import AttentionVariant
from ecabench.registry import register_attention


@register_attention("se_var1")
class SEVar1(AttentionVariant):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x * torch.sigmoid(x.mean((2, 3))).view(n, c, 1, 1)

    def resolved_params(self) -> dict:
        return {}


@register_attention("se_var2")
class SEVar2(AttentionVariant):
    """The diagonal W as a depthwise 1x1 convolution: weight[i, 0, 0] scales channel i's pooled value."""

    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv1d(channels, channels, 1, groups=channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        y = self.conv(x.mean((2, 3)).view(n, c, 1))
        return x * torch.sigmoid(y).view(n, c, 1, 1)


@register_attention("se_var3")
class SEVar3(AttentionVariant):
    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        self.channels = channels
        self.fc = nn.Linear(channels, channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x * torch.sigmoid(self.fc(x.mean((2, 3)))).view(n, c, 1, 1)
