"""Attention variants; importing this package registers the built-ins."""
from ecabench.attention.cbam import CBAM
from ecabench.attention.eca import ECA, adaptive_kernel_size, same_padding_1d
from ecabench.attention.none import NoAttention
from ecabench.attention.se import SE

__all__ = ["CBAM", "ECA", "NoAttention", "SE", "adaptive_kernel_size", "same_padding_1d"]
