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
"""
from __future__ import annotations

import os

import pytest
import torch


def benchmarking_enabled(config) -> bool:
    """Real timing only on request: ``--benchmark-only`` or ``--benchmark-enable``."""
    return bool(config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False))


@pytest.fixture(scope="session")
def bench_env(request):
    """Session settings every benchmark records: threads, whether timing is on."""
    enabled = benchmarking_enabled(request.config)
    old_threads = torch.get_num_threads()
    threads = os.environ.get("ECABENCH_BENCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield {"enabled": enabled, "threads": torch.get_num_threads()}
    finally:
        torch.set_num_threads(old_threads)


@pytest.fixture
def benchmark(benchmark, request, bench_env):
    """pytest-benchmark's fixture, disabled (run once, no timing) unless benchmarking was asked for."""
    if not bench_env["enabled"]:
        benchmark.disabled = True
    return benchmark
