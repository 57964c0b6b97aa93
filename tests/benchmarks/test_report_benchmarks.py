"""ecabench.report.benchmarks renders pytest-benchmark JSON: module time / bound from the group's copy."""
import json

import pytest

from ecabench.report.benchmarks import render


def _bench(name, group, median, extra=None, iqr=1e-6, rounds=10):
    return {"name": name, "group": group, "extra_info": extra or {},
            "stats": {"median": median, "min": median * 0.9, "iqr": iqr, "rounds": rounds}}


@pytest.fixture
def saved(tmp_path):
    g = "cpu fwd resnet50.layer4 nchw (8, 2048, 7, 7)"
    gb = "cpu fwdbwd resnet50.layer4 nchw (8, 2048, 7, 7)"
    gm = "cpu model resnet50 inference (8, 3, 224, 224)"
    info = dict(pass_="fwd", device="cpu", shape=[8, 2048, 7, 7], label="resnet50.layer4",
                memory_format="contiguous", threads=1, bound_passes=3)
    data = {
        "machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2}, "python_version": "3.11"},
        "commit_info": {"id": "abc123", "dirty": True},
        "datetime": "2026-01-01T00:00:00",
        "benchmarks": [
            _bench("test_attention[cpu-fwd-resnet50.layer4-nchw-copy]", g, 100e-6, {**info, "variant": "copy"}),
            _bench("test_attention[cpu-fwd-resnet50.layer4-nchw-eca]", g, 300e-6,
                   {**info, "variant": "eca", "paired_time_over_bound": 1.9}),
            # no extra_info at all: variant and pass come from the test id
            _bench("test_attention[cpu-fwdbwd-resnet50.layer4-nchw-copy]", gb, 100e-6),
            _bench("test_attention[cpu-fwdbwd-resnet50.layer4-nchw-se]", gb, 700e-6),
            _bench("test_model_inference[cpu-resnet50-none]", gm, 0.8, {"variant": "none", "backbone": "resnet50",
                                                                        "batch_size": 8}),
            _bench("test_model_inference[cpu-resnet50-eca]", gm, 0.82, {"variant": "eca", "backbone": "resnet50",
                                                                       "batch_size": 8}),
        ],
    }
    path = tmp_path / "0001_run.json"
    path.write_text(json.dumps(data))
    return path


def test_frame_computes_time_over_bound(saved):
    df = render(saved, fmt="frame").set_index("name")
    eca = df.loc["test_attention[cpu-fwd-resnet50.layer4-nchw-eca]"]
    assert eca["bound_s"] == pytest.approx(150e-6)  # 1.5 x copy
    assert eca["time_over_bound"] == pytest.approx(2.0)
    assert eca["paired_time_over_bound"] == pytest.approx(1.9)
    se = df.loc["test_attention[cpu-fwdbwd-resnet50.layer4-nchw-se]"]
    assert se["pass"] == "fwdbwd" and se["variant"] == "se"
    assert se["time_over_bound"] == pytest.approx(700 / 350)  # 3.5 x copy
    model = df.loc["test_model_inference[cpu-resnet50-eca]"]
    assert model["ratio_to_none"] == pytest.approx(0.8 / 0.82)


def test_markdown_has_summary_and_group_tables(saved):
    md = render(saved)
    assert "## Summary" in md and "Test CPU" in md
    assert "| resnet50.layer4 (8, 2048, 7, 7) | 100 us | 2.00 (1.90) |" in md
    assert "#### cpu model resnet50 inference (8, 3, 224, 224)" in md
    assert "| eca | 820 ms |" in md


def test_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no benchmark JSON"):
        render(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a pytest-benchmark JSON"):
        render(bad)
    with pytest.raises(ValueError, match="fmt must be"):
        render(bad, fmt="html")
