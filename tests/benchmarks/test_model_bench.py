"""Model-level benchmarks: inference forward of whole networks with each built-in attention variant.

One group per (device, backbone, input): ResNet-50 at batch 8 (CPU; 64 on CUDA), 3x224x224 and the
CIFAR ResNet-20 at batch 8 (64), 3x32x32, for ``none``, ``eca``, ``se``, ``cbam`` (eval mode,
``torch.inference_mode``, fp32, contiguous). ``extra_info["ratio_to_none"]`` is the variant's
throughput over the baseline's in the same group in this session (each timed on its own, so load on
the machine between the two skews it); for the side-by-side, interleaved comparison use
``benchmarks/model_throughput.py``. When benchmarking is disabled (plain ``pytest``) each model runs
once on a batch of 1 at 32x32 px, as a correctness check (quick in CI).
"""
from __future__ import annotations

import os

import pytest
import torch

from ecabench.models import build_model

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
MODELS = [("resnet50", 224, 32), ("resnet20", 32, 32)]  # (backbone, benchmark size, disabled-run size)
VARIANTS = ["none", "eca", "se", "cbam"]

THROUGHPUT: dict[str, float] = {}  # group -> the baseline's images/s in this session


def _batch(device: str) -> int:
    return int(os.environ.get("ECABENCH_BENCH_MODEL_BATCH", 8 if device == "cpu" else 64))


@pytest.mark.benchmark(warmup=True, warmup_iterations=1, min_rounds=3, max_time=5.0)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("backbone, size, small", MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("device", DEVICES)
def test_model_inference(benchmark, bench_env, device, backbone, size, small, variant):
    enabled = bench_env["enabled"]
    n = _batch(device) if enabled else 1
    size = size if enabled else small
    group = f"{device} model {backbone} inference ({n}, 3, {size}, {size})"
    benchmark.group = group
    torch.manual_seed(0)
    model = build_model(backbone, variant, num_classes=1000 if backbone == "resnet50" else 10).to(device).eval()
    x = torch.randn(n, 3, size, size, device=device)

    def forward():
        out = model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    with torch.inference_mode():
        out = benchmark(forward)
    assert out.shape[0] == n and torch.isfinite(out).all()
    benchmark.extra_info.update(variant=variant, backbone=backbone, device=device, batch_size=n,
                                input_shape=[3, size, size], threads=bench_env["threads"])
    if not enabled:
        return
    images_per_s = n / benchmark.stats.stats.median
    if variant == "none":
        THROUGHPUT[group] = images_per_s
    benchmark.extra_info["images_per_s"] = images_per_s
    if group in THROUGHPUT:
        benchmark.extra_info["ratio_to_none"] = images_per_s / THROUGHPUT[group]
