"""``build_report``: read the tidy table and the plan, collect every section, render HTML and Markdown.

See :mod:`ecabench.report` for the files it writes. The sections (:mod:`ecabench.report.sections`)
write their own tables and figures and return plain data; the templates (:mod:`ecabench.report.render`)
turn that data into the two pages, so the pages cannot disagree about a number.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import pandas as pd

from ecabench.aggregate import read_curves, read_meta, read_summary, sibling
from ecabench.plan.reader import load_plan
from ecabench.report import sections
from ecabench.report.render import render_html, render_markdown
from ecabench.util import atomic_write_text

__all__ = ["build_report"]


def _curves(summary_path: Path, curves_path) -> pd.DataFrame | None:
    """The per-epoch curves: the given file, else ``<summary stem>_curves.{parquet,csv}`` beside the summary."""
    if curves_path is None:
        for cand in (sibling(summary_path, "_curves", ".parquet"), sibling(summary_path, "_curves", ".csv")):
            if cand.exists():
                curves_path = cand
                break
    return read_curves(curves_path) if curves_path is not None and Path(curves_path).exists() else None


def _studies(plan: dict, meta: dict, df: pd.DataFrame) -> dict:
    """The plan's studies, the tuning studies aggregation evaluated, and any study only the table names."""
    studies = dict(plan["studies"])
    studies.update(meta.get("tuned_studies") or {})  # tuning studies' test-split evaluations (aggregate)
    for name in pd.unique(df["study"]):  # studies present in the table but not in the plan
        if name not in studies:
            studies[name] = {"title": name, "description": "", "kind": "other", "baseline": "none", "runs": []}
    return studies


def build_report(summary_path: str | os.PathLike, plan_path: str | os.PathLike | dict | None,
                 out_dir: str | os.PathLike = "reports", config: dict | None = None,
                 reference_csv: str | os.PathLike | None = None, curves_path: str | os.PathLike | None = None,
                 *, paper_comparison: bool = True, meta_path: str | os.PathLike | None = None,
                 metric: str = "test_top1_pct", title: str = "ecabench report",
                 paper_counts: str | os.PathLike | None = None, rope: float = 0.5) -> Path:
    """Write the report (see :mod:`ecabench.report`) and return the path of ``index.html``.

    ``rope``: the region of practical equivalence of the Bayesian signed-rank test, in points of top-1.
    ``config``: the workflow configuration shown in the report (default: the plan's ``config``).
    ``reference_csv``: the paper's Table 3 (default: found by :func:`ecabench.reference.find_reference_csv`).
    ``curves_path``: the curves table (default: ``<summary stem>_curves.parquet`` beside the summary).
    ``paper_counts``: the suite's ImageNet counts written by the workflow's ``paper_counts`` job; without
    it, ``paper_comparison=True`` counts them here (:mod:`ecabench.reference.counts`) and ``False``
    skips them (the paper's figures are still shown). ``metric``: the accuracy metric of the tables.
    """
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    summary_path = Path(summary_path)
    df = read_summary(summary_path)
    plan = load_plan(plan_path)
    if config is None:
        config = plan.get("config") or {}
    meta = read_meta(summary_path) if meta_path is None else json.loads(Path(meta_path).read_text())

    ctx = {"out_dir": out_dir, "metric": metric, "curves": _curves(summary_path, curves_path),
           "precision": meta.get("precision") or {}, "rope": rope, "bayes_samples": 20000}
    studies, headline = [], []
    for name, study in _studies(plan, meta, df).items():
        section, rows = sections.study_section(name, study, df[df["study"] == name], ctx)
        studies.append(section)
        headline += rows
    data = {
        "title": title, "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "summary_path": str(summary_path), "plan_path": str(plan_path if not isinstance(plan_path, dict) else "<dict>"),
        "overview": sections.overview_section(df, meta, studies, headline),
        "studies": studies,
        "paper": sections.paper_section(out_dir, config, reference_csv, paper_counts, paper_comparison),
        "environment": sections.environment_section(meta),
        "config": sections.config_section(config),
    }
    html_path = out_dir / "index.html"
    atomic_write_text(out_dir / "index.md", render_markdown(data))
    atomic_write_text(html_path, render_html(data))
    return html_path
