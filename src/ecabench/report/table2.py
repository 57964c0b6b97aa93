"""The ECA paper's Table 2 beside the suite's own answer, for a study that runs its designs.

The paper's figures (ResNet-50, ImageNet; shipped as ``ecabench/reference/eca_paper_table2.csv``)
are quoted as published; beside each row, the suite's Δ top-1 of the same design against the plain
backbone, paired by seed, per setting. The paper ran one seed per design, so its differences carry
no interval; ours do.
"""
from __future__ import annotations

import pandas as pd

from ecabench.reference import TABLE2_CITATION, TABLE2_SPECS, load_table2
from ecabench.report.formatting import MISSING, fmt_ci, fmt_num, fmt_signed, is_missing
from ecabench.specs import parse_spec

MIN_MATCHED = 5  # a study is "the Table-2 study" when it runs at least this many of the paper's designs

__all__ = ["table2_table"]


def _spec_ids() -> dict[str, str]:
    return {parse_spec(spec).id: method for method, spec in TABLE2_SPECS.items()}


def table2_table(vt: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str] | None:
    """(raw, formatted, note) for a study's per-variant table, or None when it is not a Table-2 study."""
    ids = _spec_ids()
    if vt.empty or len(set(vt["spec_id"]) & set(ids)) < MIN_MATCHED:
        return None
    paper = load_table2()
    vanilla = float(paper.loc[paper["method"] == "vanilla", "top1"].iloc[0])
    settings = list(dict.fromkeys(zip(vt["backbone"], vt["dataset"])))
    raw, fmt = [], []
    for _, p in paper.iterrows():
        spec_id = next((i for i, m in ids.items() if m == p["method"]), "")
        row = {"method": p["method"], "suite_spec": TABLE2_SPECS.get(p["method"], ""), "spec_id": spec_id,
               "paper_top1": p["top1"], "paper_top5": p["top5"], "paper_delta_top1": p["top1"] - vanilla,
               "params_formula": p["params_formula"]}
        cells = {"Method (paper)": p["method"], "Suite spec": row["suite_spec"], "Paper top-1": fmt_num(p["top1"]),
                 "Paper top-5": fmt_num(p["top5"]), "Paper Δ top-1": fmt_signed(row["paper_delta_top1"]),
                 "Attention params": p["params_formula"]}
        for backbone, dataset in settings:
            hit = vt[(vt["spec_id"] == spec_id) & (vt["backbone"] == backbone) & (vt["dataset"] == dataset)]
            r = hit.iloc[0] if len(hit) else None
            key = f"{backbone}/{dataset}"
            row[f"{key} delta"] = r["delta_top1"] if r is not None else float("nan")
            row[f"{key} ci_low"] = r["delta_ci_low"] if r is not None else float("nan")
            row[f"{key} ci_high"] = r["delta_ci_high"] if r is not None else float("nan")
            cells[f"Ours Δ top-1, {key} [95% CI]"] = (
                "(baseline)" if r is not None and r["is_baseline"] else MISSING if r is None or is_missing(
                    r["delta_top1"]) else f"{fmt_signed(r['delta_top1'])} "
                                          f"{fmt_ci(r['delta_ci_low'], r['delta_ci_high'], signed=True)}")
        raw.append(row)
        fmt.append(cells)
    notes = [f"{p['method']}: {p['note']}" for _, p in paper.iterrows() if str(p["note"]).strip()]
    note = (f"Paper: {TABLE2_CITATION} (ResNet-50, ImageNet, one run per design). Ours: Δ vs the plain backbone, "
            "paired by seed, per setting of this study. " + " ".join(notes))
    return pd.DataFrame(raw), pd.DataFrame(fmt), note
