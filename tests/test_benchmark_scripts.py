"""The benchmark scripts under benchmarks/ run and report what they say (tiny settings, no timing claims)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_sweep_power_reports_paired_sd_and_ci_per_variant(tmp_path, capsys):
    sp = _script("sweep_power")
    out = tmp_path / "power.json"
    assert sp.main(["--dataset", "digits", "--specs", "none", "eca", "--seeds", "0", "1", "2", "--subset", "300",
                    "--val-size", "50", "--batch-size", "32", "--jobs", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["runs"]) == 6 and all(r["status"] == "ok" for r in data["runs"])
    rows = {r["spec"]: r for r in data["summary"]}
    assert rows["none"]["delta_sd"] == 0 and rows["eca"]["ci_half"] > 0
    # the printed table matches the file
    assert f"{rows['eca']['delta_sd']:6.2f}" in capsys.readouterr().out
