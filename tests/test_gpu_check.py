"""benchmarks/gpu_check.sh off the GPU: its argument checks, its no-CUDA line, and its summary page
built from real outputs of the same commands (run small on the CPU)."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ecabench import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check_summary  # noqa: E402


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("args, needle", [
    (["--device", "tpu"], "--device must be cuda or cuda:N, got 'tpu'"),
    (["--device", "cuda:x"], "--device must be cuda or cuda:N, got 'cuda:x'"),
    (["--rounds", "2"], "--rounds must be an integer >= 3, got '2'"),
    (["--rounds", "many"], "--rounds must be an integer >= 3, got 'many'"),
    (["--out"], "--out needs a folder"),
    (["--fast"], "unknown argument '--fast'; allowed: --out DIR, --device cuda[:N], --rounds N, --help"),
])
def test_bad_arguments_fail_before_anything_runs(args, needle, tmp_path):
    done = _run(*args, "--out", str(tmp_path / "out")) if args != ["--out"] else _run(*args)
    assert done.returncode == 2 and done.stderr.strip() == f"gpu_check: {needle}" and done.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the script runs the whole check")
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path):
    done = _run("--out", str(tmp_path / "out"), "--rounds", "5")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines() == [
        "gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False); nothing to check"]
    assert not (tmp_path / "out").exists()


def test_help_lists_every_option():
    done = _run("--help")
    assert done.returncode == 0 and "[--out DIR] [--device cuda[:N]] [--rounds N]" in done.stdout


def _cli_json(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(argv)) == 0
    return out.getvalue()


@pytest.mark.slow
def test_summary_from_the_steps_real_outputs(tmp_path):
    """The same commands as the script, small and on the CPU; then one failed step."""
    measure = ["measure", "none", "eca", "--backbone", "resnet20", "--input", "1x16x16", "--num-classes", "10",
               "--small-input", "--batch-size", "4", "--rounds", "3", "--threads", "1", "--json"]
    (tmp_path / "inference.json").write_text(_cli_json(*measure, "--modes", "inference"))
    (tmp_path / "train.json").write_text(_cli_json(*measure, "--modes", "train"))
    _cli_json("run", "--backbone", "resnet20", "--attention", "eca", "--dataset", "digits", "--epochs", "1",
              "--subset", "200", "--device", "cpu", "--no-throughput", "--quiet",
              "--out", str(tmp_path / "resnet20_fashion_mnist"))
    (tmp_path / "cuda_tests.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="9" failures="0" errors="0" skipped="0"/></testsuites>')
    (tmp_path / "steps.tsv").write_text("cuda_tests\t0\t12.5\ninference\t0\t200.0\ntrain\t0\t50.0\n"
                                        "resnet20_fashion_mnist\t0\t30.0\npaper_miniature\t0\t240.0\n")
    mini = tmp_path / "paper_miniature"  # the records' fields the summary reads (tests/test_paper_miniature.py runs it)
    for sub in ("results/runs", "results/measure", "reports"):
        (mini / sub).mkdir(parents=True)
    for i, (backbone, dataset) in enumerate((("resnet18", "cifar100"), ("mobilenet_v2", "imagefolder"))):
        (mini / "results" / "runs" / f"{i}.json").write_text(json.dumps(
            {"status": "ok", "config": {"backbone": backbone, "dataset": {"name": dataset}}}))
    (mini / "results" / "measure" / "m.json").write_text(json.dumps(
        {"status": "ok", "throughput": [{"implementation": "eager", "mode": m} for m in ("inference", "train")]}))
    (mini / "reports" / "index.html").write_text("<html></html>")

    assert gpu_check_summary.main([str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["cuda_tests"] == {"tests": 9, "failures": 0, "errors": 0, "skipped": 0}
    rows = {(r["mode"], r["spec"]): r for r in summary["inference"]["rows"] + summary["train"]["rows"]}
    assert set(rows) == {(m, s) for m in ("inference", "train") for s in ("none", "eca")}
    assert rows[("inference", "none")]["rel_none"] == 1.0
    assert rows[("train", "eca")]["params_total"] == rows[("train", "none")]["params_total"] + 27  # 9 ECA modules, k=3
    assert summary["resnet20_fashion_mnist"]["status"] == "ok"
    page = (tmp_path / "gpu_check.md").read_text()
    assert "## ResNet-50 inference" in page and "| eca | eager |" in page and "9 tests: 0 failed" in page
    assert summary["paper_miniature"] == {
        "runs": 2, "run_status": {"ok": 2}, "settings": ["mobilenet_v2/imagefolder", "resnet18/cifar100"],
        "measure_jobs": 1, "measure_ok": 1, "timed": ["eager/inference", "eager/train"], "report": True}
    assert "2 runs (2 ok) over 2 settings" in page

    (tmp_path / "train.json").write_text("")  # the step timed out before writing anything
    (tmp_path / "steps.tsv").write_text("train\t124\t90.0\n")
    assert gpu_check_summary.main([str(tmp_path)]) == 1
    page = (tmp_path / "gpu_check.md").read_text()
    assert "| train | 124 (timed out) | 90 |" in page and "not available: JSONDecodeError" in page
