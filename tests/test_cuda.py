"""What only a GPU can check: the reference modules agree with the CPU, training and interleaved timing
run on CUDA (with CUDA-event timing and peak memory). benchmarks/gpu_check.sh runs `pytest -m cuda`."""

import math

import pytest
import torch

from ecabench.data import load_dataset
from ecabench.measure import measure_interleaved
from ecabench.models import build_model
from ecabench.registry import ATTENTION
from ecabench.runconfig import TrainConfig
from ecabench.train import train

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("name, params", [("eca", {}), ("eca", {"k": 5}), ("se", {}), ("cbam", {})])
def test_attention_on_cuda_matches_cpu(name, params):
    torch.manual_seed(0)
    module = ATTENTION.get(name)(64, **params).eval()
    x = torch.randn(4, 64, 14, 14)
    with torch.no_grad():
        cpu = module(x)
        gpu = module.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-5)


def test_seeded_init_is_the_same_on_either_device():
    cpu = build_model("resnet20", "eca", num_classes=10, in_channels=1, seed=3)
    gpu = build_model("resnet20", "eca", num_classes=10, in_channels=1, seed=3).cuda()
    for (name, a), b in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        assert torch.equal(a, b.cpu()), name


def test_training_runs_on_cuda():
    data = load_dataset("digits", subset=400, val_size=100)
    model = build_model("resnet20", "eca", num_classes=10, in_channels=1, seed=0)
    result = train(model, data, TrainConfig(epochs=1, batch_size=64, device="cuda"), progress=False)
    assert result.status == "ok" and result.device.startswith("cuda")
    assert math.isfinite(result.final["train_loss"])


def test_interleaved_timing_on_cuda_uses_events_and_reports_peak_memory():
    models = {s: build_model("resnet20", s, num_classes=10, in_channels=3, seed=0) for s in ("none", "eca")}
    r = measure_interleaved(models, (3, 32, 32), device="cuda", batch_size=32, dtype="bfloat16",
                            channels_last=True, modes=["inference", "train"], warmup=1, rounds=3, min_time_s=0.01)
    assert r["setup"]["timer"] == "cuda events"
    assert {(row["mode"], row["key"]) for row in r["rows"]} == {(m, k) for m in ("inference", "train")
                                                               for k in models}
    assert all(row["images_per_s"] > 0 and row["peak_memory_mb"] > 0 for row in r["rows"])
    assert all(next(m.parameters()).device.type == "cpu" for m in models.values())
