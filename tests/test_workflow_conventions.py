"""The workflow follows Snakemake's conventions: lint-clean but for the conda/container advice (the
environment is pip-installed, see README), snakefmt-formatted, a log for every rule."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
CONDA_ADVICE = "Specify a conda environment or container for each rule."


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def test_snakemake_lint_reports_only_the_conda_advice():
    done = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    text = done.stdout + done.stderr
    headers = re.findall(r"^Lints for (.*?) \(", text, flags=re.M)
    lints = re.findall(r"^    \* (.*?):?$", text, flags=re.M)
    assert headers, f"snakemake --lint printed no lints at all (expected the conda advice):\n{text[-2000:]}"
    assert all(h.startswith("rule ") for h in headers), f"snakefile-level lints: {headers}"
    assert set(lints) == {CONDA_ADVICE}, f"unexpected lints: {sorted(set(lints) - {CONDA_ADVICE})}"
    assert len(lints) == len(headers)


def test_snakefmt_check_passes():
    done = subprocess.run([_tool("snakefmt"), "--check", *map(str, WORKFLOW_FILES)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_has_a_log():
    rules_without_log = []
    for path in WORKFLOW_FILES:
        blocks = re.split(r"^(?=rule |checkpoint )", path.read_text(), flags=re.M)
        for block in blocks:
            m = re.match(r"(?:rule|checkpoint) (\w+):", block)
            does_work = re.search(r"^\s+(output|shell|run|script):", block, flags=re.M)  # not a target-only rule
            if m and does_work and not re.search(r"^\s+log:", block, flags=re.M):
                rules_without_log.append(f"{path.name}:{m.group(1)}")
    assert not rules_without_log, f"rules without log: {rules_without_log}"
