"""Micro-benchmarks: every registered attention variant against a memory-bandwidth reference.

For each device (CPU; CUDA when present, synchronised), pass (``fwd``: inference forward under
``torch.inference_mode`` in eval mode; ``fwdbwd``: train-mode forward plus ``torch.autograd.grad``
of the output, with a fixed random output gradient, w.r.t. the input and every parameter) and
tensor shape, one benchmark group holds every variant registered in ``ecabench.registry.ATTENTION``
(built-ins and plugins, built as ``Variant(C)`` with default parameters) and the **copy reference**
``out.copy_(x)`` into a preallocated buffer: one read and one write of the activation.

Shapes (N = 8 on CPU, 64 on CUDA; ``ECABENCH_BENCH_BATCH`` overrides): the inputs of the attention
modules in ResNet-50's four stages, (N,256,56,56), (N,512,28,28), (N,1024,14,14), (N,2048,7,7), and
in the CIFAR ResNets' three, (N,16,32,32), (N,32,16,16), (N,64,8,8).

**Bound.** A gated rescale y = x * g(x) (ECA, SE, CBAM's gates) must read x at least twice (once to
pool, once to scale: the gate depends on all of x) and write y once: 3 passes over the activation =
1.5 copies' worth of traffic, so ``bound = 1.5 x copy time`` for ``fwd``. With the backward, the
gradient w.r.t. x needs 2 more reads (g and x, for the gate's gradient), 1 more read of g and 1
write: 7 passes, ``bound = 3.5 x copy time`` for ``fwdbwd``. Every benchmark's ``extra_info`` holds
``bound_passes``, ``copy_median_s`` (the copy reference of its group in this session),
``bound_s``, ``time_over_bound`` (its median / bound_s) and ``paired_time_over_bound``: the median,
over 7 rounds run right after the benchmark, of (module time / bound) with module and copy timed
back to back, which other load on the machine skews less. The bound is a lower bound for
ECA/SE/CBAM-like modules only; for ``none`` (identity) it is only a scale.

When benchmarking is disabled (plain ``pytest``) each function runs once, with N = 2 to keep CI
quick, and its result is checked.
"""
from __future__ import annotations

import math
import os
import statistics
import time

import pytest
import torch

from ecabench.registry import ATTENTION, discover

discover()
VARIANTS = [(entry.name, entry.obj) for entry in ATTENTION.entries()]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = [
    ("resnet50.layer1", (256, 56, 56)),
    ("resnet50.layer2", (512, 28, 28)),
    ("resnet50.layer3", (1024, 14, 14)),
    ("resnet50.layer4", (2048, 7, 7)),
    ("cifar.stage1", (16, 32, 32)),
    ("cifar.stage2", (32, 16, 16)),
    ("cifar.stage3", (64, 8, 8)),
]
PASSES = {"fwd": 3, "fwdbwd": 7}  # passes over the activation of the bound (module docstring)
FORMATS = ["nchw"] + (["nhwc"] if os.environ.get("ECABENCH_BENCH_CHANNELS_LAST") == "1" else [])
PAIRED_ROUNDS = 7
COPY = "copy"

# group -> the copy reference's median seconds, filled as the copy rows run (first in each group)
COPY_MEDIANS: dict[str, float] = {}


def batch_size(device: str) -> int:
    return int(os.environ.get("ECABENCH_BENCH_BATCH", 8 if device == "cpu" else 64))


def _cases():
    for device in DEVICES:
        for pass_ in PASSES:
            for fmt in FORMATS:
                for label, chw in SHAPES:
                    for name, cls in [(COPY, None), *VARIANTS]:
                        yield pytest.param(device, pass_, fmt, label, chw, name, cls,
                                           id=f"{device}-{pass_}-{label}-{fmt}-{name}")


def _sync(device: str):
    if device == "cuda":
        return lambda: torch.cuda.synchronize()
    return lambda: None


def _time(fn, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - start) / loops


def _loops(fn, min_s: float = 2e-3) -> int:
    fn()
    return max(1, math.ceil(min_s / max(_time(fn, 1), 1e-7)))


def paired_ratio(fn, copy_fn, passes: int, rounds: int = PAIRED_ROUNDS) -> tuple[float, float]:
    """Median of (fn time / bound) over rounds, fn and the copy timed back to back; and the copy's median."""
    loops = max(_loops(fn), _loops(copy_fn))  # the same count for both (see benchmarks/attention_bound.py)
    ratios, copies = [], []
    for _ in range(rounds):
        t_fn = _time(fn, loops)
        t_copy = _time(copy_fn, loops)
        ratios.append(t_fn / (passes / 2 * t_copy))
        copies.append(t_copy)
    return statistics.median(ratios), statistics.median(copies)


@pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=5)
@pytest.mark.parametrize("device, pass_, fmt, label, chw, name, cls", list(_cases()))
def test_attention(benchmark, bench_env, device, pass_, fmt, label, chw, name, cls):
    n = batch_size(device) if bench_env["enabled"] else 2  # disabled: a quick correctness run
    shape = (n, *chw)
    group = f"{device} {pass_} {label} {fmt} {tuple(shape)}"
    benchmark.group = group
    sync = _sync(device)
    memory_format = torch.channels_last if fmt == "nhwc" else torch.contiguous_format
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device).contiguous(memory_format=memory_format)
    buf = torch.empty_like(x)

    def copy():
        buf.copy_(x)
        sync()
        return buf

    passes = PASSES[pass_]
    if name == COPY:
        fn = copy
        context = torch.inference_mode
    else:
        try:
            module = cls(chw[0])
        except Exception as exc:  # a plugin that needs parameters cannot be benchmarked generically
            pytest.skip(f"{name}({chw[0]}) cannot be built with default parameters: {exc}")
        module = module.to(device)
        if pass_ == "fwd":
            module.eval()
            context = torch.inference_mode

            def fn():
                out = module(x)
                sync()
                return out
        else:
            module.train()
            context = torch.enable_grad
            xg = x.detach().clone().requires_grad_()
            grad_out = torch.randn(shape, generator=gen).to(device).contiguous(memory_format=memory_format)
            params = [p for p in module.parameters() if p.requires_grad]

            def fn():
                grads = torch.autograd.grad(module(xg), [xg, *params], grad_out, allow_unused=True)
                sync()
                return grads

    with context():
        result = benchmark(fn)

    # correctness (also what a plain, benchmark-disabled `pytest` checks)
    if name == COPY:
        assert torch.equal(result, x)
    elif pass_ == "fwd":
        assert result.shape == x.shape and result.dtype == x.dtype
        assert torch.isfinite(result).all()
    else:
        assert result[0].shape == x.shape and torch.isfinite(result[0]).all()
        for g, p in zip(result[1:], params):
            assert g is None or (g.shape == p.shape and torch.isfinite(g).all())

    benchmark.extra_info.update(
        variant=name, pass_=pass_, device=device, shape=list(shape), label=label,
        memory_format="channels_last" if fmt == "nhwc" else "contiguous", dtype="float32",
        threads=bench_env["threads"], bound_passes=passes,
    )
    if not bench_env["enabled"]:
        return
    median = benchmark.stats.stats.median
    if name == COPY:
        COPY_MEDIANS[group] = median
    with context():
        paired, paired_copy = paired_ratio(fn, copy, passes)
    copy_median = COPY_MEDIANS.get(group, paired_copy)
    bound = passes / 2 * copy_median
    benchmark.extra_info.update(
        copy_median_s=copy_median,
        copy_source="copy benchmark of this group" if group in COPY_MEDIANS else "paired timing",
        bound_s=bound,
        time_over_bound=median / bound,
        paired_time_over_bound=paired,
    )
