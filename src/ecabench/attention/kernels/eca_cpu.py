"""ECA's fused CPU inference forward (``eca_cpu.c``) behind ctypes.

ATen runs ECA as five small ops (pool, channel conv, sigmoid, view, multiply); on cache-resident
activations such as ResNet-50's layer4 their fixed costs alone exceed the bandwidth bound
(docs/performance.md). The C kernel does the same function in three passes (pool; gate = sigmoid of
the channel convolution; scale) in one call, with the numbers of the reference to fp32 rounding
(<= 1e-6, tests/test_eca_cpu_kernel.py).

:func:`forward` returns None whenever it does not apply, and the caller runs its ATen path: autograd
needed (training), not fp32, not contiguous or channels-last, the switch off
(``with cpu_kernel(False):`` or ``ECABENCH_CPU_KERNEL=0``), no library (no C compiler), or a
non-finite pooled value (the kernel's sigmoid assumes finite logits; the reference propagates
NaN/inf exactly).
"""
from __future__ import annotations

import contextlib
import ctypes

import torch

from ecabench.attention.fast import Switch
from ecabench.attention.kernels.build import Library, load_library

__all__ = ["cpu_kernel", "forward", "library", "status"]

_SWITCH = Switch("ECABENCH_CPU_KERNEL")

# Work below this many elements per thread stays on one thread (as ATen's GRAIN_SIZE): waking a
# second thread costs more than it saves on small maps.
GRAIN = 32768
# Outputs of at least this many bytes are written with streaming (non-temporal) stores, which do not
# read the output's cache lines before overwriting them. A fresh output tensor is mostly not in cache,
# so from ResNet-50's layer3 map (6.4 MB at N=8) up this is 1.1-1.6x faster on the project's machine
# (AMD EPYC, 1 MiB L2 per core, 32 MiB L3); at layer4's 3.2 MB it is slower (measured: docs/performance.md).
STREAM_MIN_BYTES = 4 << 20


def cpu_kernel(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Use the C kernel (when it applies) inside the block, or not: e.g. to time ECA's ATen fast
    path side by side; restores the previous setting on exit."""
    return _SWITCH(enabled)


def library() -> Library:
    """The built library (built on first call), or why there is none."""
    lib = load_library("eca_cpu")
    if lib.lib is not None:
        fn = lib.lib.ecabench_eca_forward
        fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3 + [ctypes.c_int] * 5
        fn.restype = ctypes.c_int
    return lib


_FN: list = []  # the typed kernel function (or None), looked up once per process


def _kernel():
    if not _FN:
        lib = library().lib
        _FN.append(lib.ecabench_eca_forward if lib is not None else None)
    return _FN[0]


def status() -> str:
    """One line for run records: whether ECA's CPU inference uses the C kernel, and how it was built."""
    if not _SWITCH.enabled:
        return "off (ECABENCH_CPU_KERNEL=0 or cpu_kernel(False))"
    lib = library()
    return f"fused C kernel ({lib.describe()})" if lib.lib is not None else lib.describe()


def forward(x: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor | None:
    """ECA(x) through the C kernel, or None where it does not apply (module docstring)."""
    if not _SWITCH.enabled or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return None
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return None
    if x.is_contiguous():
        channels_last = 0
    elif x.is_contiguous(memory_format=torch.channels_last):
        channels_last = 1
    else:
        return None
    fn = _kernel()
    if fn is None or x.numel() == 0 or not weight.is_contiguous():
        return None
    n, c, h, w = x.shape
    out = torch.empty_like(x)  # same strides as x: x is dense in one of the two layouts
    threads = max(1, min(torch.get_num_threads(), x.numel() // GRAIN))
    rc = fn(x.data_ptr(), out.data_ptr(), weight.data_ptr(), n, c, h * w, weight.shape[-1], padding[0],
            channels_last, x.numel() * 4 >= STREAM_MIN_BYTES, threads)
    if rc == 0:
        return out
    if rc == 2:  # a non-finite pooled value: the reference defines what happens
        return None
    raise MemoryError(f"ecabench eca_cpu kernel: could not allocate scratch for {n}x{c} means (code {rc})")
