"""The ecabench command line: list, describe, measure, and one-line errors."""
import json
import subprocess
import sys

import pytest

from ecabench.cli import build_parser, main


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


# ------------------------------------------------------------------ measure: classes and aliases
def test_measure_num_classes_follows_the_input_and_aliases_are_timed_once(capsys):
    assert main(["measure", "none", "eca", "eca(k=3)", "--backbone", "resnet20", "--input", "1x28x28",
                 "--batch-size", "2", "--rounds", "2", "--warmup", "0", "--min-time-s", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert "--num-classes not given: using 10 (fashion-mnist" in captured.err
    d = json.loads(captured.out)
    assert d["num_classes"] == 10
    aliases = [(a["spec"], a["same_as"]) for a in d["architectures"]]
    assert aliases == [("none", None), ("eca", None), ("eca(k=3)", "eca")]
    assert sorted({r["key"] for r in d["rows"]}) == ["eca", "none"]  # two architectures timed
    assert main(["measure", "none", "eca", "eca(k=3)", "--backbone", "resnet20", "--input", "1x28x28",
                 "--no-throughput"]) == 0
    out = capsys.readouterr().out
    assert "resnet20 at 1x28x28, 10 classes: 2 architectures" in out
    assert "eca(k=3)             is eca on resnet20 (the same architecture; timed once)" in out


@pytest.mark.parametrize("args, classes, why", [
    (["--input", "3x32x32"], 10, "cifar10, whose images are 3x32x32"),
    (["--input", "1x8x8"], 10, "digits"),
    (["--input", "3x224x224"], 1000, "ImageNet's classes"),
    ([], 1000, "ImageNet's classes for a 3x224x224 input"),
    (["--input", "3x48x48"], 10, "a small 3x48x48 input"),
    (["--dataset", "cifar100"], 100, "cifar100"),
])
def test_measure_num_classes_rule(capsys, args, classes, why):
    assert main(["measure", "se", "--backbone", "resnet20", *args, "--no-throughput", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["num_classes"] == classes
    assert f"--num-classes not given: using {classes} ({why}" in captured.err


def test_measure_dataset_gives_the_input_shape_and_num_classes_wins(capsys):
    assert main(["measure", "none", "--backbone", "resnet20", "--dataset", "fashion-mnist", "--num-classes", "7",
                 "--no-throughput", "--json"]) == 0
    captured = capsys.readouterr()
    d = json.loads(captured.out)
    assert d["input_shape"] == [1, 28, 28] and d["num_classes"] == 7 and "not given" not in captured.err


def test_a_kernel_wider_than_the_stage_is_refused_before_any_work(capsys):
    for argv in (["run", "--backbone", "resnet20", "--attention", "eca(k=100000)", "--dataset", "digits"],
                 ["describe", "eca(k=100000)", "--backbone", "resnet20"],
                 ["measure", "none", "eca(k=[3,5,65])", "--backbone", "resnet20", "--input", "3x32x32"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is larger than the" in err and "Traceback" not in err
    assert "k=65 is larger than the 64 channels of stage 2 on resnet20" in err


# ------------------------------------------------------------------------------ run: --val-size
def test_val_size_parses_counts_as_int_and_fractions_as_float(capsys):
    parse = build_parser().parse_args
    assert parse(["run", "--val-size", "500"]).val_size == 500
    assert isinstance(parse(["run", "--val-size", "500"]).val_size, int)
    assert parse(["run", "--val-size", "500.0"]).val_size == 500
    assert parse(["run", "--val-size", "0.1"]).val_size == 0.1
    assert isinstance(parse(["run", "--val-size", "0"]).val_size, float)
    for bad in ("2.5", "abc"):
        with pytest.raises(SystemExit) as exc:
            parse(["run", "--val-size", bad])
        assert exc.value.code == 2
    assert "'2.5': a value >= 1 is a count of validation images and must be a whole number" in capsys.readouterr().err


@pytest.mark.slow
def test_run_val_size_count_holds_out_that_many_images(tmp_path, capsys):
    assert main(["run", "--dataset", "digits", "--epochs", "1", "--subset", "100", "--val-size", "500",
                 "--batch-size", "64", "--quiet", "--out", str(tmp_path)]) == 0
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert record["config"]["dataset"]["val_size"] == 500 and record["environment"]["n_val"] == 500


def test_every_command_warns_about_a_plugin_that_failed_to_load(tmp_path, capsys, clean_plugins):
    (tmp_path / "broken.py").write_text("def oops(:\n")
    assert main(["--plugins", str(tmp_path), "describe", "eca", "--backbone", "resnet20"]) == 0
    err = capsys.readouterr().err
    assert f"warning: plugin 'broken' ({tmp_path / 'broken.py'}) failed to load: SyntaxError" in err
