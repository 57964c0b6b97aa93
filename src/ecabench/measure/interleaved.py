"""Throughput of several architectures timed in alternating rounds, with relative throughput and CIs.

Timings taken minutes apart on a shared machine drift by more than an attention module costs, so
every architecture of one (backbone, input, device) is timed in the same job: after warm-up, each
round times every architecture once (the order rotating, and reversed every other round), and each
architecture's throughput relative to the reference is the median over rounds of its within-round
ratio. Equal-cost architectures then agree, and each ratio comes with a distribution-free 95%
confidence interval for that median (order statistics: ``scipy.stats.quantile_test``).

The same protocol for every variant and every implementation: ``eager`` runs the modules as
written, ``compile`` wraps each whole model in ``torch.compile`` (compiled during warm-up). On CUDA,
each timing is bracketed by ``torch.cuda.Event`` records and synchronised; ``dtype`` bfloat16 means
autocast around the forward (and the loss); peak memory per architecture is
``torch.cuda.max_memory_allocated`` over one step of that architecture alone, net of the other
models resident on the device. On the CPU the job records the torch threads it timed with.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ecabench.device import resolve_device
from ecabench.measure.throughput import DTYPES, MIB, cpu_model_name
from ecabench.util import check_int

IMPLEMENTATIONS = ("eager", "compile")
MODES = ("inference", "train")


def check_choices(name: str, values: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list drawn from {', '.join(allowed)}, got {values!r}")
    bad = [v for v in values if v not in allowed]
    if bad or len(set(values)) != len(values):
        what = f"unknown {name[:-1]} {bad[0]!r}" if bad else f"{name} lists a value twice"
        raise ValueError(f"{what}; allowed: {', '.join(allowed)} (got {list(values)!r})")
    return tuple(values)


def median_ci(samples: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Median and its distribution-free confidence interval (order statistics of the samples)."""
    from scipy import stats  # not at import time: training jobs import this package and never need it

    x = np.asarray(samples, dtype=float)
    med = float(np.median(x))
    if x.size < 2:
        return med, math.nan, math.nan
    ci = stats.quantile_test(x, q=med, p=0.5).confidence_interval(confidence_level=level)
    lo, hi = float(ci.low), float(ci.high)
    return med, (lo if math.isfinite(lo) else float(x.min())), (hi if math.isfinite(hi) else float(x.max()))


class _Timer:
    """Seconds for ``iters`` calls of ``step``: perf_counter on the CPU, CUDA events on a GPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"

    def __call__(self, step: Callable[[], None], iters: int) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(self.device)
            start.record()
            for _ in range(iters):
                step()
            end.record()
            torch.cuda.synchronize(self.device)
            return max(start.elapsed_time(end) / 1e3, 1e-12)
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        return max(time.perf_counter() - t0, 1e-12)


def _steps(models: Mapping[str, nn.Module], mode: str, x: torch.Tensor, labels: torch.Tensor,
           autocast: Callable[[], Any]) -> dict[str, Callable[[], None]]:
    steps = {}
    for key, model in models.items():
        if mode == "inference":
            def step(model=model):
                with torch.inference_mode(), autocast():
                    model(x)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

            def step(model=model, optimizer=optimizer):
                optimizer.zero_grad(set_to_none=True)
                with autocast():
                    loss = nn.functional.cross_entropy(model(x).float(), labels)
                loss.backward()
                optimizer.step()
        steps[key] = step
    return steps


def _random_labels(model: nn.Module, x: torch.Tensor, generator: torch.Generator, dev: torch.device) -> torch.Tensor:
    """Seeded class labels for the training step (the class count read from the model's output)."""
    probe = copy.deepcopy(model).eval()
    with torch.no_grad():
        num_classes = int(probe(x[:1].cpu()).reshape(1, -1).shape[1])
    return torch.randint(0, num_classes, (x.shape[0],), generator=generator).to(dev)


def _peak_memory_mb(step: Callable[[], None], model: nn.Module, device: torch.device) -> float | None:
    """Weights plus the peak extra memory of one step of this model (others resident are excluded)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    return (torch.cuda.max_memory_allocated(device) - before + weights) / MIB


def _round_order(keys: list[str], r: int) -> list[str]:
    shift = r % len(keys)
    order = keys[shift:] + keys[:shift]
    return order[::-1] if r % 2 else order


def _time_rounds(steps: dict[str, Callable[[], None]], timer: _Timer, *, batch_size: int, warmup: int,
                 rounds: int, min_time_s: float) -> tuple[dict[str, list[float]], int]:
    keys = list(steps)
    single = {}
    for key in keys:
        for _ in range(warmup):
            steps[key]()
        single[key] = timer(steps[key], 1)
    iters = max(1, math.ceil(min_time_s / max(single.values()))) if min_time_s > 0 else 1
    rates: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for key in _round_order(keys, r):
            rates[key].append(batch_size * iters / timer(steps[key], iters))
    return rates, iters


def _prepare(model: nn.Module, device: torch.device, memory_format, implementation: str, mode: str) -> nn.Module:
    work = copy.deepcopy(model).to(device).to(memory_format=memory_format)
    work.train(mode == "train")
    return torch.compile(work) if implementation == "compile" else work


def measure_interleaved(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    *,
    reference: str | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    dtype: str = "float32",
    channels_last: bool = False,
    implementations: Sequence[str] = ("eager",),
    modes: Sequence[str] = ("inference",),
    warmup: int = 2,
    rounds: int = 15,
    min_time_s: float = 0.1,
    num_threads: int | None = None,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Time every model in ``models`` (key -> module) in alternating rounds; see the module docstring.

    Returns ``{"setup": {...}, "rows": [...]}`` with one row per (implementation, mode, key):
    ``images_per_s`` (median over rounds) with ``_p25``/``_p75`` and its CI, ``rel`` (median
    within-round ratio to ``reference``; default: the first key) with ``rel_ci_low``/``rel_ci_high``,
    ``peak_memory_mb`` (CUDA) and the per-round samples. The callers' models are not touched.
    """
    reference, shape, implementations, modes = _check(models, input_shape, reference, dtype, implementations, modes,
                                                      batch_size=batch_size, warmup=warmup, rounds=rounds,
                                                      num_threads=num_threads)
    dev = resolve_device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch_size, *shape), generator=generator).to(dev).contiguous(memory_format=memory_format)
    ctx = {"dev": dev, "memory_format": memory_format, "x": x, "reference": reference, "level": level,
           "autocast": nullcontext if dtype == "float32" else (lambda: torch.autocast(dev.type, dtype=DTYPES[dtype])),
           "timing": {"batch_size": batch_size, "warmup": warmup, "rounds": rounds, "min_time_s": min_time_s}}
    old_threads, old_benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    try:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        torch.backends.cudnn.benchmark = dev.type == "cuda" or old_benchmark
        ctx["labels"] = _random_labels(models[reference], x, generator, dev) if "train" in modes else None
        rows = [row for impl in implementations for mode in modes for row in _time_setting(models, impl, mode, ctx)]
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
        torch.backends.cudnn.benchmark = old_benchmark
    setup = {
        "device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_model_name(),
        "batch_size": int(batch_size), "input_shape": list(shape), "dtype": dtype,
        "memory_format": "channels_last" if channels_last else "contiguous", "threads": threads,
        "implementations": list(implementations), "modes": list(modes), "warmup": int(warmup), "rounds": int(rounds),
        "min_time_s": float(min_time_s), "reference": reference, "confidence_level": level,
        "timer": "cuda events" if dev.type == "cuda" else "time.perf_counter",
    }
    return {"setup": setup, "rows": rows}


def _check(models, input_shape, reference, dtype, implementations, modes, **ints) -> tuple:
    """Every option checked before any model is touched; the reference key and the normalised choices."""
    if not models:
        raise ValueError("measure_interleaved needs at least one model")
    keys = list(models)
    reference = keys[0] if reference is None else reference
    if reference not in models:
        raise ValueError(f"reference {reference!r} is not one of the models: {', '.join(keys)}")
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"input_shape must be (channels, height, width) with positive ints, got {input_shape!r}")
    implementations = check_choices("implementations", implementations, IMPLEMENTATIONS)
    modes = check_choices("modes", modes, MODES)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    for name, minimum in (("batch_size", 1), ("warmup", 0), ("rounds", 1)):
        check_int(name, ints[name], minimum)
    if ints["num_threads"] is not None:
        check_int("num_threads", ints["num_threads"], 1)
    return reference, shape, implementations, modes


def _time_setting(models: Mapping[str, nn.Module], implementation: str, mode: str, ctx: dict) -> list[dict]:
    """One (implementation, mode): every model prepared alike, peak memory, then the alternating rounds."""
    dev = ctx["dev"]
    works = {k: _prepare(m, dev, ctx["memory_format"], implementation, mode) for k, m in models.items()}
    steps = _steps(works, mode, ctx["x"], ctx["labels"], ctx["autocast"])
    peaks = {k: _peak_memory_mb(steps[k], works[k], dev) for k in works}
    rates, iters = _time_rounds(steps, _Timer(dev), **ctx["timing"])
    ref = np.asarray(rates[ctx["reference"]])
    rows = [_row(k, implementation, mode, np.asarray(rates[k]), ref, iters, peaks[k], ctx["level"]) for k in works]
    del works, steps
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def _row(key: str, implementation: str, mode: str, rates: np.ndarray, ref: np.ndarray, iters: int,
         peak: float | None, level: float) -> dict:
    ratios = rates / ref
    med, lo, hi = median_ci(rates, level)
    rel, rel_lo, rel_hi = median_ci(ratios, level)
    p25, p75 = np.percentile(rates, [25, 75])
    return {
        "key": key, "implementation": implementation, "mode": mode,
        "images_per_s": med, "images_per_s_p25": float(p25), "images_per_s_p75": float(p75),
        "images_per_s_ci_low": lo, "images_per_s_ci_high": hi,
        "rel": rel, "rel_ci_low": rel_lo, "rel_ci_high": rel_hi,
        "peak_memory_mb": peak, "iters_per_timing": int(iters),
        "images_per_s_samples": [float(v) for v in rates], "rel_samples": [float(v) for v in ratios],
    }


__all__ = ["IMPLEMENTATIONS", "MODES", "check_choices", "measure_interleaved", "median_ci"]
