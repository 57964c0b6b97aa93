"""A variant that always diverges: checks that a NaN run is reported, not lost or fatal."""

from torch import nn

from ecabench.registry import register_attention


@register_attention("smoke_nan")
class NaNAttention(nn.Module):
    """Multiplies by NaN, so the first training step diverges."""

    def __init__(self, channels: int):
        super().__init__()

    def forward(self, x):
        return x * float("nan")
