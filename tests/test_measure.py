"""Measurements: parameter counts, the two FLOP columns, throughput protocol, environment."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ecabench.measure import count_flops, count_params, environment, measure_throughput
from ecabench.models import build_model
from ecabench.registry import ATTENTION


def _eca_class():
    return ATTENTION.get("eca")


# ----------------------------------------------------------------------------- params


class _Nested(nn.Module):
    """An attention module that contains another one (registered temporarily in a test)."""

    def __init__(self, channels: int):
        super().__init__()
        self.inner = _eca_class()(channels, k=3)  # 3 parameters
        self.scale = nn.Parameter(torch.ones(channels))  # channels parameters

    def forward(self, x):
        return self.inner(x) * self.scale.view(1, -1, 1, 1)


@pytest.fixture
def nested_attention_registered():
    """The registered class (a plain nn.Module comes back with AttentionVariant mixed in)."""
    registered = ATTENTION.register("test_nested_attention", _Nested)
    try:
        yield registered
    finally:
        ATTENTION.unregister("test_nested_attention")


def test_count_params_by_hand(nested_attention_registered):
    eca = _eca_class()(4, k=3)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),  # 3*4*9 + 4 = 112
        nn.BatchNorm2d(4),  # 4 + 4 = 8 (running stats are buffers, not parameters)
        eca,  # 3
        eca,  # the same module again: counted once
        nested_attention_registered(4),  # 3 + 4 = 7, its inner ECA is not counted twice
        nn.Flatten(),
        nn.Linear(4, 2),  # 4*2 + 2 = 10
    )
    model[0].bias.requires_grad_(False)  # frozen parameters still count in the total
    counts = count_params(model)
    assert counts == {
        "params_total": 112 + 8 + 3 + 7 + 10,
        "params_trainable": 112 + 8 + 3 + 7 + 10 - 4,
        "params_attention": 3 + 7,
    }


def test_count_params_rejects_non_modules():
    with pytest.raises(TypeError, match="nn.Module"):
        count_params("resnet50")


# ----------------------------------------------------------------------------- flops: hand counts


def test_flops_conv_linear_exact():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 8 outputs * (3*3*3) MACs * 10*10 positions
        nn.Flatten(),
        nn.Linear(8 * 10 * 10, 5),  # 800 * 5 MACs, 5 bias adds
    )
    out = count_flops(model, (3, 10, 10))
    assert out["macs_by_op"] == {"conv": 8 * 27 * 100, "linear": 800 * 5}
    assert out["macs"] == 21600 + 4000
    assert out["elementwise_by_op"] == {"bias_add": 5}
    assert out["elementwise_flops"] == 5
    assert out["unsupported_ops"] == {}
    assert out["macs_attention"] == out["elementwise_flops_attention"] == 0


def test_flops_conv_bias_is_elementwise_not_macs():
    out = count_flops(nn.Conv2d(2, 3, 1, bias=True), (2, 4, 4))
    assert out["macs"] == 3 * 2 * 16
    assert out["elementwise_by_op"] == {"bias_add": 3 * 16}


@pytest.mark.parametrize("k", [3, 4, 5])
def test_flops_eca_module_alone(k):
    C, H, W = 32, 5, 7
    out = count_flops(_eca_class()(C, k=k), (C, H, W))
    # mean over H*W reads every input once; sigmoid per channel; the rescale multiplies every element
    assert out["elementwise_by_op"] == {"mean": C * H * W, "sigmoid": C, "mul": C * H * W}
    assert out["elementwise_flops"] == C * H * W + C + C * H * W
    assert out["macs_by_op"] == {"conv": C * k}  # 1-D conv, 1 in/1 out channel, no bias (even k keeps C)
    assert out["macs_attention"] == C * k
    assert out["elementwise_flops_attention"] == out["elementwise_flops"]
    assert out["unsupported_ops"] == {}


def test_flops_pool_norm_activation_conventions():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):  # x: (1, 2, 6, 6), 72 elements
            y = torch.relu(self.bn(x))  # BN 2*72, relu 72
            a = F.max_pool2d(y, 3, stride=2, padding=1)  # out (1,2,3,3) = 18 outputs * 9 window reads
            b = F.avg_pool2d(y, 2)  # out 18 * 4
            c = F.adaptive_avg_pool2d(y, 4)  # windows of 6 -> 4 are 2,2,2,2 (overlapping): 2 * 8*8 reads
            d = F.adaptive_avg_pool2d(y, 1)  # 72 reads
            e = torch.max(y, dim=1)[0]  # reduction: 72 reads
            f = torch.max(y, y * 2)  # binary elementwise max: 72 outputs; the mul: 72
            g = torch.sigmoid(y.amax((2, 3)))  # amax 72 reads, sigmoid 2
            return a.sum() + b.sum() + c.sum() + d.sum() + e.sum() + f.sum() + g.sum()

    out = count_flops(M(), (2, 6, 6))
    by_op = out["elementwise_by_op"]
    assert by_op["batch_norm"] == 2 * 72
    assert by_op["relu"] == 72
    assert by_op["max_pool2d"] == 18 * 9
    assert by_op["avg_pool2d"] == 18 * 4
    assert by_op["adaptive_avg_pool2d"] == 2 * 8 * 8 + 72
    assert by_op["max"] == 72 + 72
    assert by_op["mul"] == 72
    assert by_op["amax"] == 72
    assert by_op["sigmoid"] == 2
    # 7 sums over 18+18+32+2+36+72+2 elements, 6 scalar adds
    assert by_op["sum"] == 18 + 18 + 32 + 2 + 36 + 72 + 2
    assert by_op["add"] == 6
    assert out["macs"] == 0
    assert out["unsupported_ops"] == {}


def test_flops_eval_mode_and_modes_restored():
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model.train()
    model[2].eval()  # a per-module flag that must survive
    out = count_flops(model, (1, 3, 3))
    assert out["elementwise_by_op"] == {"batch_norm": 2 * 18}  # eval-mode BN; dropout is free
    assert model.training and model[0].training and model[1].training
    assert not model[2].training


def test_flops_unsupported_ops_reported_not_guessed():
    class M(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    out = count_flops(M(), (2, 3, 3))
    assert out["unsupported_ops"] == {"aten::cumsum": 1}
    assert out["macs"] == out["elementwise_flops"] == 0


@pytest.mark.parametrize("bad", [(3, 32), (3, 0, 32), (3, 32.0, 32), "3x32x32", (True, 4, 4)])
def test_flops_rejects_bad_input_shape(bad):
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(nn.Identity(), bad)


# ----------------------------------------------------------------------------- ResNet-50 at 224

# (channels, height, width) of each attention site, one entry per bottleneck block
R50_BLOCKS = [(256, 56, 56)] * 3 + [(512, 28, 28)] * 4 + [(1024, 14, 14)] * 6 + [(2048, 7, 7)] * 3
R50_STAGE = [0] * 3 + [1] * 4 + [2] * 6 + [3] * 3
R50_SPECS = {
    "none": "none",
    "eca": "eca",  # adaptive, gamma=2, b=1, odd -> k = [5, 5, 5, 7]
    "eca3557": "eca(k=[3,5,5,7])",
    "se": "se",
    "cbam": "cbam",
}


@pytest.fixture(scope="module")
def r50():
    """Each ResNet-50 variant built and traced once for the whole module."""
    torch.manual_seed(0)
    out = {}
    for key, spec in R50_SPECS.items():
        model = build_model("resnet50", spec, num_classes=1000)
        out[key] = {"params": count_params(model), "flops": count_flops(model, (3, 224, 224))}
    return out


def test_r50_baseline_absolute(r50):
    base = r50["none"]
    assert base["params"]["params_total"] == 25_557_032
    assert base["params"]["params_attention"] == 0
    # fvcore's well-known ResNet-50 count: convolutions + the 2048x1000 classifier
    assert base["flops"]["macs"] == 4_089_184_256
    assert base["flops"]["macs_by_op"] == {"conv": 4_087_136_256, "linear": 2_048_000}
    assert base["flops"]["elementwise_by_op"] == {
        "adaptive_avg_pool2d": 2048 * 7 * 7,
        "add": sum(C * H * W for C, H, W in R50_BLOCKS),  # 16 residual additions
        "batch_norm": 22_227_968,  # 2 per element of every BN input (53 BNs)
        "bias_add": 1000,
        "max_pool2d": 64 * 56 * 56 * 9,
        "relu": 9_608_704,
    }
    for key in R50_SPECS:
        assert r50[key]["flops"]["unsupported_ops"] == {}, key


def test_r50_params_match_reference(r50):
    totals = {k: v["params"]["params_total"] for k, v in r50.items()}
    assert totals == {
        "none": 25_557_032, "eca": 25_557_118, "eca3557": 25_557_112, "se": 28_088_024, "cbam": 28_089_624,
    }
    assert r50["eca"]["params"]["params_attention"] == 86
    assert r50["eca3557"]["params"]["params_attention"] == 80


@pytest.mark.parametrize("key, ks", [("eca", [5, 5, 5, 7]), ("eca3557", [3, 5, 5, 7])])
def test_r50_eca_overhead_exact(r50, key, ks):
    base, eca = r50["none"]["flops"], r50[key]["flops"]
    # MACs: the 1-D conv of each of the 16 modules, C*k
    hand_macs = sum(C * ks[s] for (C, _, _), s in zip(R50_BLOCKS, R50_STAGE))
    assert hand_macs == (87_808 if key == "eca" else 86_272)
    assert eca["macs"] - base["macs"] == hand_macs
    assert eca["macs_attention"] == hand_macs
    # elementwise: mean (C*H*W reads) + sigmoid (C) + rescale mul (C*H*W) per module
    hand_ew = sum(C * H * W + C + C * H * W for C, H, W in R50_BLOCKS)
    assert hand_ew == 11_053_824
    assert eca["elementwise_flops"] - base["elementwise_flops"] == hand_ew
    assert eca["elementwise_flops_attention"] == hand_ew


def test_r50_se_overhead_exact(r50):
    base, se = r50["none"]["flops"], r50["se"]["flops"]
    hand_macs = sum(2 * C * (C // 16) for C, _, _ in R50_BLOCKS)  # FC C->C/16 and C/16->C
    assert hand_macs == 2_514_944
    assert se["macs"] - base["macs"] == hand_macs
    # mean (C*H*W) + fc1 bias (C/16) + ReLU (C/16, counted: a comparison) + fc2 bias (C)
    # + sigmoid (C) + rescale mul (C*H*W)
    hand_ew = sum(C * H * W + C // 16 + C // 16 + C + C + C * H * W for C, H, W in R50_BLOCKS)
    assert hand_ew == 11_070_816
    assert se["elementwise_flops"] - base["elementwise_flops"] == hand_ew
    assert se["elementwise_flops_attention"] == hand_ew


def test_r50_cbam_overhead_exact(r50):
    base, cbam = r50["none"]["flops"], r50["cbam"]["flops"]
    # channel gate: the shared MLP runs twice (avg and max vectors); spatial gate: 7x7 conv 2->1
    hand_macs = sum(2 * (2 * C * (C // 16)) + 2 * 49 * H * W for C, H, W in R50_BLOCKS)
    assert cbam["macs"] - base["macs"] == hand_macs
    hand_ew = sum(
        C * H * W + C * H * W  # mean and amax over H*W
        + 2 * (C // 16 + C // 16 + C)  # each MLP pass: 2 bias adds + ReLU
        + C + C + C * H * W  # sum of the two MLP outputs, sigmoid, channel rescale
        + C * H * W + C * H * W  # amax and mean over channels
        + 2 * H * W + H * W + H * W * C  # BN (eval, 2/element), sigmoid, spatial rescale
        for C, H, W in R50_BLOCKS
    )
    assert cbam["elementwise_flops"] - base["elementwise_flops"] == hand_ew
    assert cbam["elementwise_flops_attention"] == hand_ew


# ----------------------------------------------------------------------------- throughput


def _tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), _eca_class()(8, k=3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    )


FAST = dict(batch_size=4, warmup=1, repeats=3, latency_repeats=5, min_time_s=0.0, num_threads=1)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("initially_training", [True, False])
def test_throughput_cpu_fields_and_caller_model_untouched(initially_training):
    model = _tiny_model().train(initially_training)
    before = _snapshot(model)
    threads = torch.get_num_threads()
    r = measure_throughput(model, (3, 8, 8), **FAST)
    for key in ("inference_images_per_s", "train_images_per_s", "latency_b1_p50_ms", "latency_b1_p95_ms"):
        assert isinstance(r[key], float) and r[key] > 0 and math.isfinite(r[key]), key
    for prefix in ("inference_images_per_s", "train_images_per_s"):
        assert r[f"{prefix}_min"] <= r[f"{prefix}_p25"] <= r[prefix] <= r[f"{prefix}_p75"] <= r[f"{prefix}_max"]
        assert r[f"{prefix}_iqr"] >= 0
        assert len(r[f"{prefix}_samples"]) == 3
    assert r["latency_b1_p95_ms"] >= r["latency_b1_p50_ms"]
    assert r["peak_memory_mb"] is None  # CPU: no allocator peak (documented)
    assert r["process_max_rss_mb"] is None or r["process_max_rss_mb"] > 0
    assert r["device"] == "cpu" and isinstance(r["device_name"], str) and r["device_name"]
    assert (r["batch_size"], r["dtype"], r["memory_format"]) == (4, "float32", "contiguous")
    assert (r["repeats"], r["warmup"], r["threads"]) == (3, 1, 1)
    # the caller's model: same weights and buffers, same mode everywhere, same device
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert all(m.training == initially_training for m in model.modules())
    assert torch.get_num_threads() == threads


def test_throughput_bf16_channels_last_and_min_time():
    r = measure_throughput(_tiny_model(), (3, 8, 8), **{**FAST, "min_time_s": 0.01}, dtype="bfloat16",
                           channels_last=True, latency=False, train=False)
    assert r["inference_images_per_s"] > 0
    assert (r["dtype"], r["memory_format"]) == ("bfloat16", "channels_last")
    assert r["iters_per_repeat_inference"] >= 1
    assert r["train_images_per_s"] is None and r["latency_b1_p50_ms"] is None


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
        (dict(repeats=0), r"repeats must be an integer >= 1, got 0"),
        (dict(warmup=-1), r"warmup must be an integer >= 0, got -1"),
        (dict(latency_repeats=0), r"latency_repeats must be an integer >= 1"),
        (dict(dtype="float64"), r"dtype must be one of \['bfloat16', 'float32'\], got 'float64'"),
        (dict(min_time_s=-1.0), r"min_time_s must be a finite number >= 0"),
        (dict(device="tpu"), r"device 'tpu' is not supported; use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        (dict(input_shape=(3, 8)), r"input_shape must be \(channels, height, width\)"),
    ],
)
def test_throughput_bad_args(kwargs, pattern):
    shape = kwargs.pop("input_shape", (3, 8, 8))
    with pytest.raises(ValueError, match=pattern):
        measure_throughput(_tiny_model(), shape, **{**FAST, **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_throughput_cuda_unavailable_message():
    with pytest.raises(ValueError, match=r"device 'cuda' was requested but no CUDA GPU is available.*'auto' or 'cpu'"):
        measure_throughput(_tiny_model(), (3, 8, 8), device="cuda", **FAST)


def test_measure_device_auto_is_the_cpu_here():
    """One device resolver: `auto` is accepted wherever a device is (the measure job's config included)."""
    r = measure_throughput(_tiny_model(), (3, 8, 8), device="auto", **FAST)
    assert r["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_measure_job_with_device_auto_measures_where_training_runs(tmp_path):
    """A workflow config's ``measure: {device: auto}`` reaches the measure job as it is written (the
    config schema accepts it) and the job resolves it as training does: the result records that device."""
    import json

    from ecabench.measure.group import measure_group
    from ecabench.plan import load_config, measure_job_config
    from ecabench.plan.measurements import add_references, measurement_group
    from ecabench.runconfig import make_run_config
    from ecabench.runtime import measure_options
    from ecabench.specs import parse_spec

    config = load_config({"studies": ["attention_zoo"], "datasets": ["digits"], "backbones": ["resnet20"], "seeds": [0],
                          "measure": {"device": "auto", "batch_size": 2, "modes": ["inference"], "warmup": 0,
                                      "rounds": 3, "min_time_s": 0.001}})
    run = make_run_config(backbone="resnet20", attention="eca", dataset="digits")
    jobs: dict = {}
    job = measurement_group(jobs, run)
    job["architectures"]["eca"] = {"spec": "eca", "attention": parse_spec("eca").to_dict()}
    add_references(jobs)
    out = tmp_path / "measure.json"
    result = measure_group(measure_job_config(job), out_path=out, num_threads=1, **measure_options(config))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert result["status"] == "ok", result["error"]
    assert json.loads(out.read_text())["setup"]["device"].split(":")[0] == expected


def test_measure_device_is_checked_when_the_config_is_read():
    from ecabench.plan import PlanError, load_config

    with pytest.raises(PlanError, match=r"measure\.device.*'tpu'|'tpu'.*measure"):
        load_config({"studies": ["attention_zoo"], "datasets": ["digits"], "backbones": ["resnet20"], "seeds": [0],
                     "measure": {"device": "tpu"}})


def test_the_config_names_the_measure_jobs_options():
    """One list of measure option names: the config's ``measure`` keys are the job's timing options and
    its device (the timing seed is fixed by the job)."""
    from ecabench.measure.group import TIMING_OPTIONS
    from ecabench.schemas import schema

    keys = set(schema("config")["properties"]["measure"]["properties"])
    assert keys == {"device", *TIMING_OPTIONS} - {"seed"}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype, channels_last", [("float32", False), ("bfloat16", True)])
def test_throughput_cuda(dtype, channels_last):
    model = _tiny_model()
    before = _snapshot(model)
    r = measure_throughput(model, (3, 16, 16), device="cuda", dtype=dtype, channels_last=channels_last, **FAST)
    assert r["device"].startswith("cuda") and r["device_name"] == torch.cuda.get_device_name(0)
    assert r["inference_images_per_s"] > 0 and r["train_images_per_s"] > 0
    assert r["latency_b1_p95_ms"] >= r["latency_b1_p50_ms"] > 0
    assert r["peak_memory_mb"] > 0 and r["peak_memory_train_mb"] > 0 and r["peak_memory_inference_mb"] > 0
    assert r["cudnn_benchmark"] is True
    assert next(model.parameters()).device.type == "cpu"  # the caller's model stayed where it was
    for k, v in model.state_dict().items():
        assert torch.equal(before[k], v), k


# ----------------------------------------------------------------------------- environment

ENV_KEYS = {
    "python", "platform", "torch", "torchvision", "fvcore", "numpy", "cuda", "cudnn", "cuda_available",
    "devices", "cpu_model", "cpu_capability", "cpu_count", "num_threads", "git_commit", "git_dirty",
}


def test_environment_keys():
    env = environment()
    assert ENV_KEYS <= env.keys()
    assert env["torch"] == torch.__version__
    assert env["num_threads"] == torch.get_num_threads()
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert isinstance(env["devices"], list)
    if not torch.cuda.is_available():
        assert env["cuda"] is None and env["cudnn"] is None and env["devices"] == []


def test_environment_records_the_kernel_set_torch_runs_not_just_the_cpu():
    # ATEN_CPU_CAPABILITY picks torch's CPU kernels; AVX2 and AVX512 kernels give different numbers for
    # the same run, so the record must say which ran (docs/workflow.md, "Same config, same numbers")
    code = "from ecabench.measure import environment; print(environment()['cpu_capability'])"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ATEN_CPU_CAPABILITY": "default"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "DEFAULT"


def test_environment_outside_git(tmp_path, monkeypatch):
    assert environment(cwd=tmp_path)["git_commit"] is None
    monkeypatch.chdir(tmp_path)
    env = environment()
    assert env["git_commit"] is None and env["git_dirty"] is None
    assert ENV_KEYS <= env.keys()


def test_environment_in_a_git_checkout(tmp_path):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    run = dict(cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "a.txt").write_text("x")
    subprocess.run(["git", "add", "a.txt"], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"], **run)
    env = environment(cwd=tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", env["git_commit"]) and env["git_dirty"] is False
    (tmp_path / "a.txt").write_text("y")
    assert environment(cwd=tmp_path)["git_dirty"] is True


class _Sleeper(torch.nn.Module):
    """A forward that takes a known time, so the direction of a paired ratio is known."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        time.sleep(self.seconds)
        return x * self.scale


def test_interleaved_returns_one_ratio_with_ci_per_architecture():
    from ecabench.measure import measure_interleaved

    models = {"ref": _Sleeper(0.002), "slow": _Sleeper(0.008), "same": _Sleeper(0.002)}
    r = measure_interleaved(models, (3, 4, 4), reference="ref", batch_size=2, warmup=1, rounds=7, min_time_s=0.0,
                            num_threads=1)
    rows = {row["key"]: row for row in r["rows"]}
    assert set(rows) == set(models) and len(r["rows"]) == 3
    for row in rows.values():
        assert row["implementation"] == "eager" and row["mode"] == "inference"
        assert len(row["rel_samples"]) == len(row["images_per_s_samples"]) == 7
        assert row["rel_ci_low"] <= row["rel"] <= row["rel_ci_high"]
        assert row["images_per_s_ci_low"] <= row["images_per_s"] <= row["images_per_s_ci_high"]
    assert rows["ref"]["rel"] == rows["ref"]["rel_ci_low"] == rows["ref"]["rel_ci_high"] == 1.0
    # 4x the time per forward -> about a quarter of the images/s (sleep overshoot only pushes it up)
    assert 0.1 < rows["slow"]["rel"] < 0.6
    assert 0.8 < rows["same"]["rel"] < 1.25
    assert r["setup"]["threads"] == 1 and r["setup"]["rounds"] == 7 and r["setup"]["reference"] == "ref"
    assert r["setup"]["implementations"] == ["eager"] and r["setup"]["timer"] == "time.perf_counter"


def test_interleaved_times_every_implementation_and_mode_alike():
    from ecabench.measure import measure_interleaved

    models = {s: build_model("resnet20", s, num_classes=10, in_channels=1, seed=0) for s in ("none", "eca")}
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}
    r = measure_interleaved(models, (1, 8, 8), batch_size=2, warmup=1, rounds=3, min_time_s=0.0,
                            implementations=["eager", "compile"], modes=["inference", "train"], num_threads=1)
    got = {(row["implementation"], row["mode"], row["key"]) for row in r["rows"]}
    assert got == {(i, m, k) for i in ("eager", "compile") for m in ("inference", "train") for k in models}
    assert all(row["images_per_s"] > 0 and row["peak_memory_mb"] is None for row in r["rows"])  # CPU: no peak
    assert r["setup"]["implementations"] == ["eager", "compile"] and r["setup"]["modes"] == ["inference", "train"]
    for k, m in models.items():  # the callers' models are untouched (training ran on copies)
        assert all(torch.equal(a, b) for a, b in zip(before[k], m.parameters()))


@pytest.mark.parametrize("kwargs, needle", [
    (dict(implementations=["jit"]), "unknown implementation 'jit'; allowed: eager, compile"),
    (dict(modes=["inference", "inference"]), "modes lists a value twice"),
    (dict(reference="nope"), "reference 'nope' is not one of the models: a"),
    (dict(rounds=0), "rounds must be an integer >= 1, got 0"),
    (dict(dtype="float16"), "dtype must be one of float32, bfloat16"),
])
def test_interleaved_rejects_bad_options_before_timing(kwargs, needle):
    from ecabench.measure import measure_interleaved

    with pytest.raises(ValueError) as info:
        measure_interleaved({"a": _Sleeper(10.0)}, (3, 4, 4), **kwargs)
    assert needle in str(info.value)


def test_median_ci_is_the_order_statistic_interval():
    from scipy import stats as st

    from ecabench.measure.interleaved import median_ci

    x = [0.91, 0.95, 0.93, 0.97, 0.90, 0.99, 0.94, 0.92, 0.96, 0.98, 0.89, 1.00, 0.88, 0.95, 0.93]
    med, lo, hi = median_ci(x)
    assert med == pytest.approx(0.94)
    ci = st.quantile_test(x, q=med, p=0.5).confidence_interval(0.95)
    assert (lo, hi) == (ci.low, ci.high)
    srt = sorted(x)
    assert (lo, hi) == (srt[3], srt[11])  # 15 samples: the 4th and 12th order statistics cover >= 95%
