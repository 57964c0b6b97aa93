"""Allocator policy for timing on glibc: keep freed memory in the heap.

With glibc's defaults, a module's fresh multi-MB outputs are often new pages that fault on first
touch (~2 us per 4 KiB page on the project's VM), which is allocator policy, not the module; a copy
into a preallocated buffer never pays it. jemalloc and tcmalloc keep freed memory anyway.
Used by the benchmark scripts and tests/benchmarks (docs/performance.md, "Allocator").
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
KEPT = "glibc heap kept (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2**31-1)"


def keep_freed_memory() -> str:
    """Never trim the heap, never mmap single allocations; returns the label to record with timings
    (``"default"`` where that is not possible, e.g. not glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
            return "default (not glibc)"
        ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except OSError:
        return "default"
    return KEPT if ok else "default"
