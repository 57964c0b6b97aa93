"""Throughput and latency on random data: inference and training images/s, batch-1 latency.

Protocol (the same on every device):

* The caller's model is never touched: one deep copy is moved to the device (and to channels-last
  when asked) and used for inference, latency and, last, training; the caller's weights, device and
  ``training`` flags are exactly as they were.
* Each phase runs ``warmup`` untimed iterations, then ``repeats`` timed repeats. A repeat runs as
  many iterations as needed to last at least ``min_time_s`` (calibrated once from a single timed
  iteration after warm-up; at least 1), so fast models on fast devices are not timed at the clock's
  resolution. Images/s of a repeat = batch_size * iterations / elapsed seconds; the reported value
  is the median over repeats, with p25/p75 (``_iqr`` = p75 - p25), min and max, and the raw samples.
* Inference: eval mode under ``torch.inference_mode``. Training: train mode, forward + cross-entropy
  on random labels + backward + SGD step (lr 0.01, momentum 0.9), optimizer state created during
  warm-up (training warm-up is at least 1 iteration so momentum buffers exist before timing).
  The number of classes is read from the model's output.
* Latency: batch size 1, eval mode, each of ``latency_repeats`` forwards timed on its own (after the
  warm-up); p50 and p95 in milliseconds.
* CUDA: ``torch.cuda.synchronize()`` before starting and before stopping every clock;
  ``cudnn.benchmark`` is on during the measurement (and restored). ``bfloat16`` means
  ``torch.autocast(device_type, dtype=torch.bfloat16)`` around forward and loss (weights stay fp32).
* Memory: on CUDA ``peak_memory_mb`` is ``torch.cuda.max_memory_allocated`` over the whole
  measurement (inference and training, the peak is training's), with per-phase peaks too; like
  any ``max_memory_allocated`` it includes whatever else the process holds on that device (e.g. the
  caller's model if it already lives there), so measure from a model kept on the CPU. On CPU
  there is no allocator peak to read, so ``peak_memory_mb`` is ``None``; ``process_max_rss_mb`` is
  the process's resident-set high-water mark (``resource.getrusage``) after the measurement, which
  includes everything the process ever held (an upper bound, not the model's footprint).
  MB here means MiB (2**20 bytes).
"""
from __future__ import annotations

import copy
import math
import numbers
import platform
import resource
import sys
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ecabench.device import resolve_device
from ecabench.util import check_int, is_int

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MIB = 2**20


# ----------------------------------------------------------------------------- helpers


def cpu_model_name() -> str | None:
    """The CPU model from /proc/cpuinfo (Linux), else :func:`platform.processor`, else None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _max_rss_mb() -> float | None:
    try:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / MIB if sys.platform == "darwin" else rss * 1024 / MIB  # bytes on macOS, KiB else
    except Exception:  # pragma: no cover - platforms without resource
        return None


def _check_args(input_shape, batch_size, dtype, warmup, repeats, min_time_s, latency_repeats, num_threads):
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(is_int(s) and s >= 1 for s in shape):
        raise ValueError(f"input_shape must be (channels, height, width) with positive ints, got {input_shape!r}")
    check_int("batch_size", batch_size, 1)
    check_int("warmup", warmup, 0)
    check_int("repeats", repeats, 1)
    check_int("latency_repeats", latency_repeats, 1)
    if num_threads is not None:
        check_int("num_threads", num_threads, 1)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if (
        not isinstance(min_time_s, numbers.Real) or isinstance(min_time_s, bool)
        or not math.isfinite(min_time_s) or min_time_s < 0
    ):
        raise ValueError(f"min_time_s must be a finite number >= 0 (seconds), got {min_time_s!r}")
    return tuple(int(s) for s in shape)


class _Clock:
    """Wall-clock timer that synchronises CUDA before reading the clock."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def _summary(prefix: str, samples: list[float]) -> dict:
    arr = np.asarray(samples, dtype=float)
    p25, p50, p75 = np.percentile(arr, [25, 50, 75])
    return {
        f"{prefix}": float(p50),
        f"{prefix}_p25": float(p25),
        f"{prefix}_p75": float(p75),
        f"{prefix}_iqr": float(p75 - p25),
        f"{prefix}_min": float(arr.min()),
        f"{prefix}_max": float(arr.max()),
        f"{prefix}_samples": [float(s) for s in arr],
    }


def _timed_rates(step: Callable[[], None], clock: _Clock, *, batch_size: int, warmup: int, repeats: int,
                 min_time_s: float) -> tuple[list[float], int]:
    """Images/s of each repeat, and the iterations per repeat."""
    for _ in range(warmup):
        step()
    start = clock.now()
    step()
    single = max(clock.now() - start, 1e-9)
    iters = max(1, math.ceil(min_time_s / single)) if min_time_s > 0 else 1
    rates = []
    for _ in range(repeats):
        start = clock.now()
        for _ in range(iters):
            step()
        elapsed = max(clock.now() - start, 1e-12)
        rates.append(batch_size * iters / elapsed)
    return rates, iters


def _autocast(dev: torch.device, dtype: str) -> Callable[[], Any]:
    """A context-manager factory: autocast to ``dtype`` on ``dev``, or nothing for float32."""
    if dtype == "float32":
        return nullcontext
    return lambda: torch.autocast(device_type=dev.type, dtype=DTYPES[dtype])


def _batch(batch_size: int, shape: tuple, generator: torch.Generator, dev: torch.device,
           memory_format: torch.memory_format) -> torch.Tensor:
    """The seeded random input batch, on ``dev`` in ``memory_format``."""
    return torch.randn((batch_size, *shape), generator=generator).to(dev).contiguous(memory_format=memory_format)


@contextmanager
def _threads(num_threads: int | None):
    if num_threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def _cudnn_benchmark(enabled: bool):
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


# ----------------------------------------------------------------------------- public API


def measure_throughput(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    dtype: str = "float32",
    channels_last: bool = False,
    warmup: int = 3,
    repeats: int = 10,
    min_time_s: float = 0.2,
    train: bool = True,
    latency: bool = True,
    latency_repeats: int = 50,
    num_threads: int | None = None,
    seed: int = 0,
) -> dict:
    """Measure inference/training images per second and batch-1 latency (see the module docstring).

    ``num_threads`` temporarily sets ``torch.set_num_threads`` (restored afterwards); ``seed`` seeds
    the random inputs and labels. Returns a flat dict::

        inference_images_per_s (median) and _p25/_p75/_iqr/_min/_max/_samples,
        train_images_per_s (same suffixes; None when train=False),
        latency_b1_p50_ms, latency_b1_p95_ms, latency_b1_mean_ms (None when latency=False),
        peak_memory_mb, peak_memory_inference_mb, peak_memory_train_mb (CUDA; None on CPU),
        process_max_rss_mb (CPU and CUDA), device, device_name, batch_size, dtype, memory_format,
        threads, repeats, warmup, min_time_s, iters_per_repeat_inference, iters_per_repeat_train,
        latency_repeats, cudnn_benchmark, input_shape.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"measure_throughput expects an nn.Module, got {type(model).__name__}")
    shape = _check_args(input_shape, batch_size, dtype, warmup, repeats, min_time_s, latency_repeats, num_threads)
    dev = resolve_device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    generator = torch.Generator().manual_seed(seed)
    x = _batch(batch_size, shape, generator, dev, memory_format)
    ctx = {"dev": dev, "autocast": _autocast(dev, dtype), "clock": _Clock(dev), "x": x, "generator": generator,
           "x1": x[:1].clone().contiguous(memory_format=memory_format), "batch_size": batch_size,
           "warmup": warmup, "repeats": repeats, "min_time_s": min_time_s}
    with _threads(num_threads), _cudnn_benchmark(True if dev.type == "cuda" else torch.backends.cudnn.benchmark):
        work = copy.deepcopy(model).to(dev)
        if channels_last:
            work = work.to(memory_format=torch.channels_last)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        result = _inference(work, ctx)
        result.update(_latency(work, ctx, latency_repeats) if latency else
                      dict.fromkeys(("latency_b1_p50_ms", "latency_b1_p95_ms", "latency_b1_mean_ms")))
        result.update(_training(work, ctx) if train else {
            **{f"train_images_per_s{s}": None for s in ("", "_p25", "_p75", "_iqr", "_min", "_max", "_samples")},
            "peak_memory_train_mb": None, "iters_per_repeat_train": None})
        result.update(cudnn_benchmark=bool(torch.backends.cudnn.benchmark) if dev.type == "cuda" else None,
                      threads=torch.get_num_threads())
        del work
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    peaks = [p for p in (result["peak_memory_inference_mb"], result["peak_memory_train_mb"]) if p is not None]
    result.update(
        peak_memory_mb=max(peaks) if peaks else None, process_max_rss_mb=_max_rss_mb(), device=str(dev),
        device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_model_name(),
        batch_size=int(batch_size), dtype=dtype, memory_format="channels_last" if channels_last else "contiguous",
        repeats=int(repeats), warmup=int(warmup), min_time_s=float(min_time_s),
        latency_repeats=int(latency_repeats) if latency else None, input_shape=list(shape),
    )
    return result


def _peak_mb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / MIB if dev.type == "cuda" else None


def _infer(work: nn.Module, ctx: dict, inp: torch.Tensor) -> None:
    with torch.inference_mode(), ctx["autocast"]():
        work(inp)


def _inference(work: nn.Module, ctx: dict) -> dict:
    work.eval()
    rates, iters = _timed_rates(lambda: _infer(work, ctx, ctx["x"]), ctx["clock"], batch_size=ctx["batch_size"],
                                warmup=ctx["warmup"], repeats=ctx["repeats"], min_time_s=ctx["min_time_s"])
    return {**_summary("inference_images_per_s", rates), "peak_memory_inference_mb": _peak_mb(ctx["dev"]),
            "iters_per_repeat_inference": iters}


def _latency(work: nn.Module, ctx: dict, repeats: int) -> dict:
    """Batch-1 forwards, each timed on its own after the warm-up: p50, p95 and mean in ms."""
    clock = ctx["clock"]
    for _ in range(max(ctx["warmup"], 1)):
        _infer(work, ctx, ctx["x1"])
    times = []
    for _ in range(repeats):
        start = clock.now()
        _infer(work, ctx, ctx["x1"])
        times.append((clock.now() - start) * 1e3)
    p50, p95 = np.percentile(times, [50, 95])
    return {"latency_b1_p50_ms": float(p50), "latency_b1_p95_ms": float(p95),
            "latency_b1_mean_ms": float(np.mean(times))}


def _training(work: nn.Module, ctx: dict) -> dict:
    """Forward, cross-entropy on random labels, backward, SGD step, on the private copy."""
    x, batch_size, dev = ctx["x"], ctx["batch_size"], ctx["dev"]
    with torch.no_grad():
        num_classes = int(work(ctx["x1"]).reshape(1, -1).shape[1])
    labels = torch.randint(0, num_classes, (batch_size,), generator=ctx["generator"]).to(dev)
    work.train()
    optimizer = torch.optim.SGD(work.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with ctx["autocast"]():
            loss = loss_fn(work(x).reshape(batch_size, -1).float(), labels)
        loss.backward()
        optimizer.step()

    rates, iters = _timed_rates(step, ctx["clock"], batch_size=batch_size, warmup=max(ctx["warmup"], 1),
                                repeats=ctx["repeats"], min_time_s=ctx["min_time_s"])
    return {**_summary("train_images_per_s", rates), "peak_memory_train_mb": _peak_mb(dev),
            "iters_per_repeat_train": iters}
