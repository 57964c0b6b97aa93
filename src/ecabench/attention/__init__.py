"""The built-in attention variants, one plain PyTorch module per file, each registered where it is defined.

:mod:`ecabench.attention.base` holds the contract they share. The names below load lazily (module
``__getattr__``), so importing the base class does not import every variant.
"""
from __future__ import annotations

from ecabench.util.lazy import lazy_exports

_EXPORTS = {
    "AttentionVariant": "base", "CBAM": "cbam", "ECA": "eca", "ECANS": "eca_ns", "NoAttention": "none",
    "SE": "se", "SEGC": "se_gc", "SEVar1": "se_var", "SEVar2": "se_var", "SEVar3": "se_var",
    "adaptive_kernel_size": "eca", "same_padding_1d": "eca",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
