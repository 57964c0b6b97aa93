"""The benchmark scripts under benchmarks/ run and report what they say (tiny shapes, no timing claims)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_attention_bound_times_the_aten_path_and_the_kernel_call_beside_the_module():
    bound = _script("attention_bound")
    result = bound.measure(["eca", "se"], [("tiny", (32, 6, 6))], batch_size=2, rounds=2, aten=True,
                           min_s=1e-4, log=lambda *a, **k: None)
    rows = result["results"]["tiny"]["rows"]
    assert set(rows) == {"copy", "eca", "eca (aten)", "eca (kernel call)", "se", "se (aten)"}
    for row in rows.values():
        assert row["median_s"] > 0 and len(row["samples_s"]) == 2
    assert "eca (kernel call)" in bound.table(result)


def test_model_throughput_attention_time_reports_time_inside_the_modules():
    mt = _script("model_throughput")
    shares = mt.attention_time("cifar_resnet20", ("eca", "eca@aten", "se"), batch_size=2, image_size=16,
                               in_channels=1, num_classes=10, repeats=2)
    assert set(shares) == {"eca", "eca@aten", "se"}
    for r in shares.values():
        assert 0 < r["attention_ms"] < r["forward_ms"]
        assert 0 < r["share"] < 1


def test_model_throughput_rejects_an_unknown_variant_suffix():
    mt = _script("model_throughput")
    with pytest.raises(SystemExit, match="only suffix is '@aten'"):
        mt.run("cifar_resnet20", ("none", "eca@fast"), batch_size=1, image_size=8, in_channels=1, num_classes=10,
               repeats=1, iters=1, warmup=0, log=lambda *a: None)
