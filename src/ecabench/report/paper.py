"""The ECA paper's Table 3 beside the suite's own parameter and MAC counts, in both unit conventions.

The paper prints ResNet parameters in units of 2^20 ("24.37 M" = 24.37 * 2^20 = 25.55 million) and
FLOPs counted with thop divided by 2^30 ("G") or 2^20 ("M"); the suite counts in decimal units
(10^6 parameters, 10^9 MACs, fvcore convention: one multiply-add = 1). The table shows the paper's
figures as printed and converted to decimal, and the suite's counts in decimal and converted to the
paper's binary units, so both can be compared like for like.

The report never builds a model: the suite's counts come from the workflow's ``paper_counts`` job
(:mod:`ecabench.reference.counts`), read as a ``{"backbone|spec": counts}`` mapping; the table itself
from :mod:`ecabench.reference`.
"""
from __future__ import annotations

import math
import os

import pandas as pd

from ecabench.reference import (
    EXTRA_ROWS,
    configured_reference,
    find_reference_csv,
    load_reference,
    packaged_reference,
    spec_for,
)
from ecabench.report.formatting import MISSING, fmt_num, fmt_signed, is_missing

MIB = 2 ** 20
GIB = 2 ** 30

__all__ = ["comparison_table", "format_comparison", "paper_comparison"]


def _unit_factor(unit: str) -> float:
    u = str(unit).strip().upper()
    return {"G": GIB, "M": MIB, "K": 2 ** 10, "": 1.0}.get(u, math.nan)


def _power_text(factor: float) -> str:
    return f"2^{int(math.log2(factor))}" if factor == factor and factor > 0 else "?"


def _reference_rows(reference: pd.DataFrame) -> list[tuple[pd.Series, str | None, str]]:
    """(paper row, suite spec, note) for every paper row, then the :data:`EXTRA_ROWS` whose paper row exists."""
    rows = [(r, spec_for(r["backbone"], r["method"]), "") for _, r in reference.iterrows()]
    for backbone, method, spec, note in EXTRA_ROWS:
        match = reference[(reference["backbone"] == backbone) & (reference["method"] == method)]
        if len(match):
            rows.append((match.iloc[0], spec, note))
    return rows


def _note(r: pd.Series, spec: str | None, note: str, counts: dict) -> str:
    """What the reader must know about a row: the paper's r=8 SE, a failed count, a method the suite lacks."""
    if note == "" and r["backbone"] == "mobilenet_v2" and r["method"] == "se":
        note = "paper's SE on MobileNetV2 uses r=8"
    if "error" in counts:
        note = (note + "; " if note else "") + "suite count failed: " + counts["error"]
    if spec is None:
        note = (note + "; " if note else "") + f"no suite spec for method {r['method']!r}"
    return note


def _comparison_row(r: pd.Series, spec: str | None, note: str, c: dict) -> dict:
    f_unit = _unit_factor(r["flops_unit"])
    paper_params = float(r["params_paper"]) * _unit_factor(r["params_unit"])  # absolute, paper's binary unit
    paper_flops = float(r["flops_paper"]) * f_unit
    sp, sm, se = (c.get(k, math.nan) for k in ("params_total", "macs", "elementwise_flops"))
    return {
        "backbone": r["backbone"], "method": r["method"], "suite_spec": spec or "",
        "paper_params": float(r["params_paper"]), "paper_params_unit": f"{r['params_unit']} (2^20)",
        "paper_params_1e6": paper_params / 1e6,
        "suite_params_1e6": sp / 1e6, "suite_params_2p20": sp / MIB,
        "suite_params_exact": sp, "suite_params_attention": c.get("params_attention", math.nan),
        "params_diff_pct": (sp / paper_params - 1) * 100 if paper_params else math.nan,
        "paper_flops": float(r["flops_paper"]), "paper_flops_unit": f"{r['flops_unit']} ({_power_text(f_unit)})",
        "paper_flops_1e9": paper_flops / 1e9,
        "suite_macs_1e9": sm / 1e9, "suite_macs_2p30": sm / GIB,
        "suite_macs_exact": sm, "suite_elementwise_flops_1e9": se / 1e9,
        "macs_diff_pct": (sm / paper_flops - 1) * 100 if paper_flops else math.nan,
        "paper_top1": r.get("top1", math.nan), "paper_top5": r.get("top5", math.nan),
        "paper_train_fps": r.get("train_fps", math.nan), "paper_infer_fps": r.get("infer_fps", math.nan),
        "note": _note(r, spec, note, c),
    }


def comparison_table(reference: pd.DataFrame, counts: dict[str, dict]) -> pd.DataFrame:
    """Raw comparison: one row per paper row (plus :data:`ecabench.reference.EXTRA_ROWS`)."""
    rows = []
    for r, spec, note in _reference_rows(reference):
        c = counts.get(f"{r['backbone']}|{spec}", {}) if spec else {}
        rows.append(_comparison_row(r, spec, note, c))
    return pd.DataFrame(rows)


def _fps(train, infer) -> str:
    return MISSING if is_missing(train) or is_missing(infer) else f"{int(train)}/{int(infer)}"


def format_comparison(raw: pd.DataFrame) -> pd.DataFrame:
    def col(name: str, digits: int = 2, fmt=fmt_num) -> list[str]:
        return [fmt(x, digits) for x in raw[name]]

    return pd.DataFrame({
        "Backbone": raw["backbone"], "Method": raw["method"], "Suite spec": raw["suite_spec"],
        "Paper params (2^20)": col("paper_params"), "Paper params (10^6)": col("paper_params_1e6"),
        "Suite params (10^6)": col("suite_params_1e6", 3), "Suite params (2^20)": col("suite_params_2p20", 3),
        "Suite params (exact)": [MISSING if math.isnan(x) else f"{int(x):,}" for x in raw["suite_params_exact"]],
        "Params diff %": col("params_diff_pct", fmt=fmt_signed),
        "Paper FLOPs (as printed)": [f"{x:g} {u.split()[0]}"
                                     for x, u in zip(raw["paper_flops"], raw["paper_flops_unit"])],
        "Paper FLOPs (10^9)": col("paper_flops_1e9", 3),
        "Suite MACs (10^9)": col("suite_macs_1e9", 3), "Suite MACs (2^30)": col("suite_macs_2p30", 3),
        "Suite elementwise FLOPs (10^9)": col("suite_elementwise_flops_1e9", 3),
        "MACs diff %": col("macs_diff_pct", fmt=fmt_signed),
        "Paper top-1 %": col("paper_top1"),
        "Paper FPS train/infer": [_fps(a, b) for a, b in zip(raw["paper_train_fps"].astype(float),
                                                             raw["paper_infer_fps"].astype(float))],
        "Note": raw["note"],
    })


def paper_comparison(reference_csv: str | os.PathLike | None = None, config: dict | None = None,
                     counts: dict[str, dict] | None = None) -> dict:
    """{"path": reference or None, "raw": DataFrame | None, "formatted": DataFrame | None, "message": str}.

    ``counts``: the suite's counts by "backbone|spec" (the ``paper_counts`` job's JSON); None leaves the
    suite's columns empty and says so. A missing or unreadable table is a message, not an error, so
    the rest of the report is still written.
    """
    path = find_reference_csv(reference_csv, config)
    if path is None:
        given = configured_reference(reference_csv, config)
        where = f" at {given}" if given else f" (the package's copy, {packaged_reference()}, is missing)"
        return {"path": None, "raw": None, "formatted": None,
                "message": f"The paper's reference table was not found{where}; no comparison is made."}
    try:
        ref = load_reference(path)
    except (OSError, ValueError) as exc:
        return {"path": path, "raw": None, "formatted": None,
                "message": f"The reference table {path} could not be read: {exc}"}
    message = "" if counts is not None else ("The suite's own counts were not computed for this report "
                                             "(report.paper_comparison is off).")
    raw = comparison_table(ref, counts or {})
    return {"path": path, "raw": raw, "formatted": format_comparison(raw), "message": message}
