"""The attention modules' CPU fast paths: the on/off switch and the helpers they share.

ECA, SE and CBAM compute the same function two ways: a plain reference formulation (what tracers,
FLOP counters, TorchScript and non-CPU devices see) and, in eager CPU execution, a faster one with
the same numbers to fp32 rounding (tests/test_attention_fast.py; why: docs/performance.md).
``with fast_path(False):`` or ``ECABENCH_FAST_ATTENTION=0`` runs the reference everywhere.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch
import torch.nn.functional as F

__all__ = ["Switch", "fast_path", "fast_path_enabled", "spatial_mean"]


class Switch:
    """An on/off setting read on every call of a fast path: ``env_var=0`` in the environment starts
    it off; calling it gives a context manager that sets it inside a block and restores it after."""

    def __init__(self, env_var: str):
        self.env_var = env_var
        self.enabled = os.environ.get(env_var, "1") != "0"

    @contextlib.contextmanager
    def __call__(self, enabled: bool = True) -> Iterator[None]:
        old = self.enabled
        self.enabled = bool(enabled)
        try:
            yield
        finally:
            self.enabled = old


_FAST_PATH = Switch("ECABENCH_FAST_ATTENTION")


def fast_path(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Turn the attention modules' CPU fast paths on or off inside the block (e.g. to time or check
    the reference formulation side by side); restores the previous setting on exit."""
    return _FAST_PATH(enabled)


def fast_path_enabled(x: torch.Tensor) -> bool:
    """Whether attention modules may use their CPU fast path for ``x``: switched on (:func:`fast_path`),
    eager (not traced or compiled), CPU, 4-D."""
    return (
        _FAST_PATH.enabled
        and x.is_cpu  # not x.device.type: building a device object costs ~0.3 us per call
        and x.dim() == 4
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
    )


# From this many channels on, a channels-last (NHWC) activation is pooled with avg_pool2d in inference.
NHWC_POOL_MIN_CHANNELS = 128


def spatial_mean(x: torch.Tensor, *, exact: bool = True) -> torch.Tensor:
    """``x.mean((2, 3))`` as (N, C), bitwise in value and gradient, with a cheaper backward.

    ATen's CPU mean is ``sum`` then ``div_`` by the count, so the forward is the same; but
    ``mean``'s backward materialises ``grad / count`` broadcast to the full (N, C, H, W) shape
    (an extra pass over the activation, ~1/4 of ECA's forward+backward), while here the division
    happens on the small (N, C) gradient and ``sum``'s backward is a free broadcast view.

    With ``exact=False`` and without autograd, an NHWC input with many channels goes to
    ``avg_pool2d`` over the whole map instead (ECA uses this; SE's MLP would amplify the rounding
    difference past 1e-6, so SE and CBAM keep the bitwise default): its channels-last kernel sums each pixel's C contiguous values in vector registers,
    0.48 / 0.48 / 0.77 / 0.90 tensor copies on ResNet-50's stage shapes against ``sum``'s 1.28 /
    0.87 / 1.52 / 1.67 (docs/performance.md); same mean to fp32 rounding, not bitwise. Below
    ``NHWC_POOL_MIN_CHANNELS`` channels it is slower than ``sum``, which is kept there.
    """
    n, c, h, w = x.shape
    if (not exact and c >= NHWC_POOL_MIN_CHANNELS and h * w > 1 and not (torch.is_grad_enabled() and x.requires_grad)
            and x.is_contiguous(memory_format=torch.channels_last)):
        return F.avg_pool2d(x, (h, w)).reshape(n, c)
    return x.sum((2, 3)).div_(h * w)
