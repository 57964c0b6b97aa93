"""ECA: Efficient Channel Attention (Wang et al., CVPR 2020), as the paper's code writes it.

Global average pool -> 1-D convolution across channels (no bias) -> sigmoid -> scale. The kernel
size is fixed, given per backbone stage, or chosen from the channel count by the paper's Eq. 12.
Padding is explicit and asymmetric so even kernel sizes keep all C channels: the common
``padding=(k - 1) // 2`` returns C - 1 channels for even k and fails at the multiply.

This is the plain PyTorch formulation on every device, like SE's and CBAM's: a benchmark compares
the implementations users run, so no variant gets a faster path of its own (``torch.compile`` is
an implementation choice applied to whole models alike, see :mod:`ecabench.measure.interleaved`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ecabench.attention.base import AttentionVariant
from ecabench.registry import register_attention
from ecabench.util import is_int, is_number


def adaptive_kernel_size(channels: int, gamma: float = 2, b: float = 1, odd: bool = True) -> int:
    """Eq. 12 as in the paper's code: t = int(|(log2(C) + b) / gamma|); odd rounds an even t up."""
    t = int(abs((math.log2(channels) + b) / gamma))
    if odd and t % 2 == 0:
        t += 1
    return max(t, 1)


def same_padding_1d(k: int) -> tuple[int, int]:
    """(left, right) padding that keeps the length for any k, odd or even."""
    return (k - 1) // 2, k // 2


@register_attention("eca")
class ECA(AttentionVariant):
    per_stage_params = ("k",)

    def __init__(self, channels: int, k: int | str = "adaptive", gamma: float = 2, b: float = 1,
                 odd: bool = True):
        super().__init__()
        self.check_params({"k": k, "gamma": gamma, "b": b, "odd": odd})
        self.check_channels(channels, {"k": k})
        self.channels = channels
        self.k = adaptive_kernel_size(channels, gamma, b, odd) if k == "adaptive" else int(k)
        self.padding = same_padding_1d(self.k)
        self.conv = self.make_conv()

    def make_conv(self) -> nn.Module:
        """One kernel of k weights shared by every channel (ECA-NS gives each channel its own)."""
        return nn.Conv1d(1, 1, kernel_size=self.k, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        y = self.conv(F.pad(x.mean((2, 3)).view(n, 1, c), self.padding))
        return x * torch.sigmoid(y).view(n, c, 1, 1)

    def resolved_params(self) -> dict:
        return {"k": self.k}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, k={self.k}"

    @classmethod
    def check_params(cls, params: dict) -> None:
        k = params.get("k", "adaptive")
        ks = k if isinstance(k, (list, tuple)) else [k]
        for item in ks:
            if item == "adaptive" and not isinstance(k, (list, tuple)):
                continue
            if not is_int(item) or item < 1:
                raise ValueError(
                    f"{cls.variant_name}: k must be 'adaptive', an integer >= 1, or a list with one integer >= 1 per "
                    f"stage; got k={k!r}"
                )
        gamma = params.get("gamma", 2)
        if not is_number(gamma) or not math.isfinite(gamma) or gamma <= 0:
            raise ValueError(f"{cls.variant_name}: gamma must be a number > 0, got gamma={gamma!r}")
        b = params.get("b", 1)
        if not is_number(b) or not math.isfinite(b):
            raise ValueError(f"{cls.variant_name}: b must be a finite number, got b={b!r}")
        if not isinstance(params.get("odd", True), bool):
            raise ValueError(f"{cls.variant_name}: odd must be true or false, got odd={params['odd']!r}")

    @classmethod
    def check_channels(cls, channels: int, params: dict, where: str | None = None) -> None:
        """A fixed k wider than the channel axis is refused (k == channels is fine; adaptive never is).

        ``where`` ("stage 0 on cifar_resnet20") names the module's place in the model when known.
        """
        k = params.get("k", "adaptive")
        if k == "adaptive" or not is_int(k) or k <= channels:
            return
        of = f" of {where}" if where else ""
        raise ValueError(
            f"{cls.variant_name}: k={k} is larger than the {channels} channels{of} (a kernel wider than the channel "
            f"axis only sees zero padding); use k <= {channels} or 'adaptive'"
        )

    @classmethod
    def normalize_params(cls, params: dict) -> dict:
        # gamma, b and odd only matter for the adaptive rule; with a fixed k they are noise in the id.
        if params["k"] != "adaptive":
            params = {**params, "gamma": 2, "b": 1, "odd": True}
        return params

    @classmethod
    def format_param(cls, name: str, value) -> str:
        if name == "odd":
            return "odd" if value else "even"
        if name == "k" and isinstance(value, (list, tuple)):
            return "k" + "_".join(str(v) for v in value)
        return {"gamma": "g"}.get(name, name) + str(value)
