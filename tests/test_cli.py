"""The ecabench command line: list, describe, measure, and one-line errors."""
import json
import subprocess
import sys

from ecabench.cli import main


def test_list_shows_variants_backbones_params_and_sources(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "eca        k=adaptive, gamma=2, b=1, odd=true  [per stage: k]" in out
    assert "se         r=16" in out
    assert "simam" in out and "ablations/plugins/simam.py" in out
    assert "resnet50         stages=4" in out


def test_list_json(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {v["name"] for v in data["attention"]}
    assert {"none", "eca", "se", "cbam", "simam"} <= names
    eca = next(v for v in data["attention"] if v["name"] == "eca")
    assert eca["params"] == {"k": "adaptive", "gamma": 2, "b": 1, "odd": True}


def test_describe_eca_resnet50(capsys):
    assert main(["describe", "eca", "--backbone", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "params total:     25,557,118" in out
    assert "params attention: 86  in 16 modules" in out
    for line in ["stage 0: 3 blocks, channels [256], k=5", "stage 3: 3 blocks, channels [2048], k=7"]:
        assert line in out


def test_describe_json_per_stage(capsys):
    assert main(["describe", "eca(odd=false)", "--backbone", "resnet50", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [s["resolved"][0]["k"] for s in d["stages"]] == [4, 5, 5, 6]


def test_bad_spec_is_one_line_error_exit_2(capsys):
    assert main(["describe", "eca(k=[3,5])", "--backbone", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecabench describe: error: eca: k=[3,5] has 2 values but resnet50 has 4 stages")
    assert "Traceback" not in err


def test_measure_counts_only(capsys):
    assert main(["measure", "se", "--backbone", "resnet20", "--input", "3x32x32", "--num-classes", "10",
                 "--no-throughput", "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)["architectures"]
    assert d["spec"] == "se" and d["params_attention"] > 0 and d["macs"] > 0 and d["elementwise_flops"] > 0


def test_measure_times_several_specs_in_alternating_rounds(capsys):
    assert main(["measure", "none", "eca", "se", "--backbone", "resnet20", "--input", "1x8x8", "--num-classes", "10",
                 "--batch-size", "2", "--rounds", "3", "--threads", "1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [a["spec"] for a in d["architectures"]] == ["none", "eca", "se"]
    rows = {r["key"]: r for r in d["rows"]}
    assert rows["none"]["rel"] == 1.0 and rows["eca"]["rel_ci_low"] <= rows["eca"]["rel"] <= rows["eca"]["rel_ci_high"]
    assert d["setup"]["reference"] == "none" and d["setup"]["threads"] == 1 and d["setup"]["rounds"] == 3
    assert main(["measure", "none", "eca", "--backbone", "resnet20", "--implementations", "jit"]) == 2
    assert "unknown implementation 'jit'" in capsys.readouterr().err


def test_measure_bad_input_shape(capsys):
    assert main(["measure", "eca", "--backbone", "resnet20", "--input", "3x32"]) == 2
    assert "--input must look like CxHxW" in capsys.readouterr().err


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "ecabench.cli", "list"], capture_output=True, text=True)
    assert out.returncode == 0 and "cbam" in out.stdout
