"""What the report writes, known from the plan alone; light (no pandas/matplotlib) for Snakefile parse time.

* :func:`figure_kinds` - which figures a study gets;
* :func:`figure_paths` / :func:`table_paths` / :func:`report_paths` - every file ``build_report`` writes.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ecabench.plan.reader import DEFAULT_STUDY, load_plan

KINDS = ("accuracy_vs_cost", "accuracy_vs_k", "gamma_b_heatmap", "odd_vs_even", "training_curves")
FORMATS = ("png", "svg")
TABLE_FORMATS = ("csv", "md", "tex", "html")
# study kinds as the workflow names them (kernel, gamma_b, odd_rule, zoo, other), with or without "eca_"
_KIND_BY_STUDY = {"kernel": "accuracy_vs_k", "gamma_b": "gamma_b_heatmap", "odd_rule": "odd_vs_even"}


def rel_path(path: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """``path`` relative to the report folder (links keep working when the folder moves)."""
    try:
        return Path(path).resolve().relative_to(Path(out_dir).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def file_links(files: dict, out_dir: str | os.PathLike) -> list[dict]:
    """[{"label": "CSV", "href": "tables/x.csv"}, ...] for a {format: path} mapping."""
    return [{"label": k.upper(), "href": rel_path(p, out_dir)} for k, p in files.items()]


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", str(text)).strip("_") or "x"


def _study_kind(kind: Any) -> str:
    kind = str(kind or "other")
    return kind[4:] if kind.startswith("eca_") else kind


def _plan_params(study: dict) -> list[dict]:
    entries = list(study.get("runs") or []) + list(study.get("variants") or [])
    return [dict(r.get("params") or {}) for r in entries if isinstance(r, dict)]


def figure_kinds(study: dict) -> list[str]:
    """Figures a study gets, from its plan entry alone: every study gets ``accuracy_vs_cost`` and
    ``training_curves``; ``kernel``/``gamma_b``/``odd_rule`` studies (or runs that vary an integer k,
    both gamma and b, or the odd rule) get ``accuracy_vs_k``/``gamma_b_heatmap``/``odd_vs_even``."""
    kinds = {"accuracy_vs_cost", "training_curves"}
    if _study_kind(study.get("kind")) in _KIND_BY_STUDY:
        kinds.add(_KIND_BY_STUDY[_study_kind(study.get("kind"))])
    params = _plan_params(study)
    ints = {p["k"] for p in params if isinstance(p.get("k"), int) and not isinstance(p.get("k"), bool)}
    if len(ints) >= 2:
        kinds.add("accuracy_vs_k")
    adaptive = [p for p in params if p.get("k", "adaptive") == "adaptive" and "gamma" in p and "b" in p]
    if len({p["gamma"] for p in adaptive}) >= 2 and len({p["b"] for p in adaptive}) >= 2:
        kinds.add("gamma_b_heatmap")
    if {True, False} <= {p.get("odd") for p in params}:
        kinds.add("odd_vs_even")
    return [k for k in KINDS if k in kinds]


def figure_stem(out_dir: str | os.PathLike, study: str, kind: str) -> Path:
    return Path(out_dir) / "figures" / f"{safe_name(study)}__{kind}"


def _studies(plan: Any) -> dict:
    return load_plan(plan)["studies"] or {DEFAULT_STUDY: {"runs": []}}


def figure_paths(plan: Any, out_dir: str | os.PathLike = "reports", formats: tuple = FORMATS) -> list[Path]:
    """Every figure file ``build_report`` writes for this plan (a plan file, a plan dict or None).

    A figure whose data does not exist yet is still written (as a placeholder saying so), so the list
    can be declared as outputs before any run finishes.
    """
    return [figure_stem(out_dir, name, kind).with_suffix(f".{fmt}")
            for name, study in _studies(plan).items() for kind in figure_kinds(study) for fmt in formats]


def table_paths(plan: Any, out_dir: str | os.PathLike = "reports") -> list[Path]:
    """Every table file ``build_report`` always writes: per study ``variants`` and ``incomplete``
    (``odd_even`` for odd-rule studies), and ``paper_comparison`` (only when the reference CSV is found,
    so it is not listed here)."""
    out = []
    for name, study in _studies(plan).items():
        parts = ["variants", "incomplete"] + (["odd_even"] if "odd_vs_even" in figure_kinds(study) else [])
        for part in parts:
            out += [Path(out_dir) / "tables" / f"{safe_name(name)}__{part}.{ext}" for ext in TABLE_FORMATS]
    return out


def report_paths(plan: Any, out_dir: str | os.PathLike = "reports") -> dict[str, list[Path]]:
    """{"html": [index.html], "md": [index.md], "figures": [...], "tables": [...]} for Snakemake outputs."""
    return {"html": [Path(out_dir) / "index.html"], "md": [Path(out_dir) / "index.md"],
            "figures": figure_paths(plan, out_dir), "tables": table_paths(plan, out_dir)}
