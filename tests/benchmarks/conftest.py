"""Micro-benchmark set-up (pytest-benchmark). How to run and read them: docs/performance.md.

* **Off unless asked for.** A plain ``pytest`` (CI) collects these tests and runs every benchmarked
  function exactly once, as a correctness test (shapes, finite values), with no timing: the
  ``benchmark`` fixture below is put in pytest-benchmark's disabled mode unless the command line has
  ``--benchmark-only`` or ``--benchmark-enable``. (pytest-benchmark refuses ``--benchmark-only``
  together with ``--benchmark-disable`` unless ``--benchmark-enable`` is given too, so the project's
  addopts must not carry ``--benchmark-disable``; this fixture does that job instead.)
* ``ECABENCH_BENCH_THREADS=N``: ``torch.set_num_threads(N)`` for the benchmark session (restored after).
* ``ECABENCH_BENCH_BATCH=N``: the batch size N of the tensor shapes (default 8 on CPU, 64 on CUDA).
* ``ECABENCH_BENCH_CHANNELS_LAST=1``: also benchmark channels-last inputs.
* Allocator: when benchmarking for real on glibc, freed memory stays in the process heap
  (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``), as jemalloc/tcmalloc
  would keep it. With glibc's defaults a module's freshly allocated multi-MB output and gradient
  tensors are often new pages that fault on first touch (~1 us per 4 KiB page on this VM: a
  forward+backward of ECA at (8, 2048, 7, 7) took 3.5 ms instead of 0.5 ms), which is allocator
  policy, not the module. ``ECABENCH_BENCH_MALLOC=default`` keeps glibc's defaults. The choice is
  recorded in every benchmark's ``extra_info["allocator"]``.
* ECA's fused C kernel (``ecabench.attention.kernels.eca_cpu``) runs in the CPU ``fwd`` benchmarks
  when it could be built; ``extra_info["eca_cpu_kernel"]`` says whether it did, and
  ``ECABENCH_CPU_KERNEL=0`` times ECA's ATen fast path instead.
"""
from __future__ import annotations

import os

import pytest
import torch

from ecabench.attention.kernels import eca_cpu
from ecabench.measure.allocator import keep_freed_memory


def benchmarking_enabled(config) -> bool:
    """Real timing only on request: ``--benchmark-only`` or ``--benchmark-enable``."""
    return bool(config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False))


def _keep_freed_memory() -> str:
    """Keep freed memory in glibc's heap unless ECABENCH_BENCH_MALLOC=default; return the allocator label."""
    if os.environ.get("ECABENCH_BENCH_MALLOC", "tuned") == "default":
        return "default"
    return keep_freed_memory()


@pytest.fixture(scope="session")
def bench_env(request):
    """Session settings every benchmark records: threads, allocator, whether timing is on."""
    enabled = benchmarking_enabled(request.config)
    old_threads = torch.get_num_threads()
    threads = os.environ.get("ECABENCH_BENCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    allocator = _keep_freed_memory() if enabled else "default"
    try:
        yield {"enabled": enabled, "threads": torch.get_num_threads(), "allocator": allocator,
               "eca_cpu_kernel": eca_cpu.status()}
    finally:
        torch.set_num_threads(old_threads)


@pytest.fixture
def benchmark(benchmark, request, bench_env):
    """pytest-benchmark's fixture, disabled (run once, no timing) unless benchmarking was asked for."""
    if not bench_env["enabled"]:
        benchmark.disabled = True
    return benchmark
