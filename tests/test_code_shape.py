"""The library stays readable: small modules, short functions, lint-clean (issue: one-way spine)."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ecabench"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_80_lines():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SRC)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed (pip install -e '.[test]')"
    done = subprocess.run([ruff, "check", "."], cwd=SRC.parents[1], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:]


def test_every_function_level_import_says_why():
    """Imports sit at module top; one inside a function (an optional or heavy dependency loaded on
    use) carries a comment on its line or the line above saying which and why."""
    silent = []
    for path in _modules():
        text = path.read_text()
        lines = text.splitlines()
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                line, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                if "#" not in line and not above.startswith("#"):
                    silent.append(f"{path.relative_to(SRC)}:{node.lineno} {ast.unparse(node)}")
    assert not silent, "function-level imports without a reason:\n" + "\n".join(sorted(set(silent)))


@pytest.mark.parametrize("layer, forbidden", [
    ("aggregate", ("ecabench.report", "ecabench.tune", "ecabench.analysis")),
    # the analysis layer reads tidy tables and returns tidy tables: it never formats, plans or trains
    ("analysis", ("ecabench.report", "ecabench.tune", "ecabench.plan", "ecabench.train", "ecabench.models",
                  "ecabench.experiment", "ecabench.measure")),
    ("report", ("ecabench.tune", "ecabench.models", "ecabench.plan.build", "ecabench.plan.groups", "optuna")),
    # planning trains nothing, reads no data and measures nothing (a run's config: ecabench.runconfig)
    ("plan", ("ecabench.aggregate", "ecabench.report", "ecabench.tune", "ecabench.experiment", "ecabench.train",
              "ecabench.data", "ecabench.measure")),
    ("measure", ("ecabench.train", "ecabench.experiment", "ecabench.aggregate", "ecabench.report")),
    ("runconfig", ("ecabench.experiment", "ecabench.train", "ecabench.measure", "ecabench.data.load",
                   "ecabench.data.loaders", "ecabench.data.sources", "ecabench.data.imagefolder")),
])
def test_data_flows_one_way(layer, forbidden):
    """config -> plan -> model -> train/measure -> records -> tidy table -> report: nothing reaches back.
    (The report may read a written plan with ecabench.plan.reader; it never plans or builds models.)"""
    paths = [SRC / f"{layer}.py"] if (SRC / f"{layer}.py").exists() else sorted((SRC / layer).rglob("*.py"))
    assert paths and all(p.exists() for p in paths), layer
    bad = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
                     if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.relative_to(SRC)}: {n}" for n in names if n.startswith(forbidden)]
    assert not bad, bad


def test_report_computes_no_statistic():
    """report/ formats what the analysis layer returns: it imports no statistics library (the layer's own check)."""
    stat_libs = ("scipy", "statsmodels", "baycomp", "scikit_posthocs")
    bad = []
    for path in sorted((SRC / "report").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.relative_to(SRC)}: {n}" for n in names if n.split(".")[0] in stat_libs]
    assert not bad, bad


def test_planning_loads_no_training_data_or_measuring_code():
    """Building a plan (which describes every architecture on the meta device) in a fresh interpreter
    never imports the experiment, training, measuring or data-reading modules."""
    script = """
import sys, yaml
from ecabench.plan import build_plan
build_plan(yaml.safe_load(open("config/config.yaml")), workdir=".", basedir=".")
print(" ".join(sorted(m for m in sys.modules if m.startswith("ecabench."))))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=SRC.parents[1], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(SRC.parent)})
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = done.stdout.split()
    assert "ecabench.runconfig" in loaded and "ecabench.models" in loaded
    forbidden = ("ecabench.experiment", "ecabench.train", "ecabench.measure", "ecabench.data.load",
                 "ecabench.data.loaders", "ecabench.data.sources", "ecabench.data.imagefolder")
    assert not [m for m in loaded if m.startswith(forbidden)]
