"""ECA-NS: ECA with non-shared weights (Wang et al., CVPR 2020, Table 2), as the authors' released module.

Every channel i gets its own k weights over the k adjacent channels of the pooled vector, the same
windows as ECA's convolution (zero padding, left (k - 1) // 2 and right k // 2, so even k keeps all C
channels): pad, unfold the C windows, and apply a grouped ``Conv1d`` with C groups and no bias, k * C
parameters. ECA is the case where every channel's weights are one shared vector. The kernel size
follows ECA's rules (fixed, per stage, or adaptive by Eq. 12) and ECA's checks, normalisation and id
tokens; there is no bias, as in ECA and the released module.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecabench.attention.eca import ECA
from ecabench.registry import register_attention


@register_attention("eca_ns")
class ECANS(ECA):
    def make_conv(self) -> nn.Module:
        """One row of k weights per channel: channel i's window is its own group of the grouped conv."""
        return nn.Conv1d(self.channels, self.channels, kernel_size=self.k, groups=self.channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        windows = F.pad(x.mean((2, 3)), self.padding).unfold(1, self.k, 1)  # (N, C, k): channel i's window
        y = self.conv(windows)  # (N, C, 1)
        return x * torch.sigmoid(y).view(n, c, 1, 1)
