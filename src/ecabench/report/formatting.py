"""Report tables, formatted: the raw tables of :mod:`ecabench.analysis.variant_table` as strings for people.

One place decides how a number reads (two decimals for points of top-1, exact counts with thousands
separators for parameters, decimal prefixes for MACs, "–" for a missing value), so the Markdown,
LaTeX and HTML files and the report pages agree. The writers (:mod:`ecabench.report.writers`) only
lay the strings out.
"""
from __future__ import annotations

import math

import pandas as pd

from ecabench.analysis import paired as stats
from ecabench.analysis.variant_table import STATUS_ORDER

MISSING = "–"

__all__ = ["MISSING", "fmt_ci", "fmt_count", "fmt_int", "fmt_num", "fmt_p", "fmt_rel_throughput", "fmt_si",
           "fmt_signed", "format_incomplete", "format_odd_even", "format_variant_table", "headline_table",
           "is_missing", "row_classes", "status_text", "throughput_table"]


# ------------------------------------------------------------------------------------------ cells
def is_missing(x) -> bool:
    """None, NaN or pandas' NA (and never an error for strings or lists, which are values)."""
    try:
        return x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x)
    except (TypeError, ValueError):
        return False


def fmt_num(x, digits: int = 2) -> str:
    return MISSING if is_missing(x) else f"{x:.{digits}f}"


def fmt_signed(x, digits: int = 2) -> str:
    return MISSING if is_missing(x) else f"{x:+.{digits}f}"


def fmt_count(x) -> str:
    """Exact integers with thousands separators (parameter counts are compared to the unit)."""
    return MISSING if is_missing(x) else f"{int(round(x)):,}"


def fmt_int(x) -> str:
    return MISSING if is_missing(x) else str(int(x))


def fmt_si(x, digits: int = 3) -> str:
    """4.11 G, 40.8 M, 953 k - decimal prefixes (10^3 steps)."""
    if is_missing(x):
        return MISSING
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.{digits}g} {prefix}"
    return f"{x:.{digits}g}"


def fmt_p(p) -> str:
    """Four decimals below 0.01 and a floor at 0.0001, so a tiny p never reads as zero."""
    if is_missing(p):
        return MISSING
    if p < 1e-4:
        return "<0.0001"
    return f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def fmt_ci(lo, hi, digits: int = 2, signed: bool = False) -> str:
    if is_missing(lo) or is_missing(hi):
        return MISSING
    f = fmt_signed if signed else fmt_num
    return f"[{f(lo, digits)}, {f(hi, digits)}]"


def fmt_rel_throughput(r) -> str:
    """``0.973× [0.95, 0.99]``: the median within-round ratio and its 95% CI."""
    v = r["throughput_rel_baseline"]
    if is_missing(v):
        return MISSING
    if is_missing(r.get("throughput_rel_ci_low")):
        return f"{v:.3f}×"
    return f"{v:.3f}× [{r['throughput_rel_ci_low']:.3f}, {r['throughput_rel_ci_high']:.3f}]"


def status_text(row) -> str:
    parts = [f"{int(row[s])} {s}" for s in STATUS_ORDER if row.get(s, 0)]
    return ", ".join(parts) if parts else "0 runs"


# ----------------------------------------------------------------------------------------- tables
def format_variant_table(raw: pd.DataFrame, baseline_label: str = "baseline") -> pd.DataFrame:
    """Strings for Markdown/LaTeX/HTML; one row per raw row, same order."""
    return pd.DataFrame([_variant_cells(r, baseline_label) for _, r in raw.iterrows()]).fillna("")


def _variant_cells(r: pd.Series, baseline_label: str) -> dict:
    top1 = MISSING if is_missing(r["top1_mean"]) else (
        f"{r['top1_mean']:.2f} ± {r['top1_std']:.2f}" if not is_missing(r["top1_std"]) else f"{r['top1_mean']:.2f}")
    status = status_text(r)
    if r["diverged"] or r["failed"] or r["missing"]:
        status = "⚠ " + status
    base = bool(r["is_baseline"])
    return {
        "Variant": r["spec"], "Parameters": r.get("parameters") or "", "Runs": status, "n": str(int(r["n"])),
        "Top-1 % (mean ± std)": top1, "Top-1 95% CI": fmt_ci(r["top1_ci_low"], r["top1_ci_high"]),
        **_delta_cells(r, baseline_label),
        "Δ sd (paired)": "" if base else fmt_num(r["delta_std"]),
        "p (paired t)": "" if base else fmt_p(r["p_value"]),
        "Verdict": _verdict_cell(r),
        "MDE (80% power)": "" if base else fmt_num(r["mde_80"]),
        "Seeds for 0.5 / 1.0": "" if base else f"{fmt_int(r['seeds_for_0_5'])} / {fmt_int(r['seeds_for_1_0'])}",
        "Params": fmt_count(r["params_total"]), "Attention params": fmt_count(r["params_attention"]),
        "MACs": fmt_si(r["macs"]), "Elementwise FLOPs": fmt_si(r["elementwise_flops"]),
        "Inference img/s": fmt_num(r["inference_images_per_s"], 1), "Rel. throughput": fmt_rel_throughput(r),
        "k per stage": r["k_per_stage"] or "", "Same architecture as": r["same_architecture_as"] or "",
        **_precision_cells(r),
    }


def _precision_cells(r: pd.Series) -> dict:
    """"±0.62 of ±1.50: target met" for a study with a two-stage seed rule; nothing without one."""
    if is_missing(r.get("target_half_width")):
        return {}  # the baseline's cell (or a study without the rule): empty
    text = (f"±{fmt_num(r['half_width'])} of ±{fmt_num(r['target_half_width'])}: {r['precision']} "
            f"(n {fmt_int(r['n_pairs'])}, cap {fmt_int(r['max_seeds'])})")
    return {"Precision (95% CI half-width)": text}


def _delta_cells(r: pd.Series, baseline_label: str) -> dict:
    if r["is_baseline"]:
        return {f"Δ top-1 vs {baseline_label}": "(baseline)", "Δ 95% CI": ""}
    return {f"Δ top-1 vs {baseline_label}": fmt_signed(r["delta_top1"]),
            "Δ 95% CI": fmt_ci(r["delta_ci_low"], r["delta_ci_high"], signed=True)}


def _verdict_cell(r: pd.Series) -> str:
    """The verdict, with the number of pairs where n is what stopped a conclusion."""
    if r["is_baseline"]:
        return "baseline"
    verdict = r["verdict"] if isinstance(r["verdict"], str) else ""
    if verdict == stats.N_TOO_SMALL and not is_missing(r["delta_top1"]):
        verdict = f"{stats.N_TOO_SMALL} (n={int(r['n_pairs'])})"
    return verdict


def format_incomplete(raw: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not complete; errors cut at 300 characters (the run record has the rest)."""
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"], "Variant": raw["spec"],
        "Seed": [(MISSING if is_missing(s) else str(int(s))) for s in raw["seed"]],
        "Status": [s.upper() for s in raw["status"]], "Run": raw["run_id"],
        "Error": [(e or "")[:300] for e in raw["error"]],
    })


def _short(x) -> str:
    return fmt_num(x, 2).rstrip("0").rstrip(".")


def format_odd_even(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return raw
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"],
        "γ": [_short(x) for x in raw["gamma"]], "b": [_short(x) for x in raw["b"]],
        "Odd spec": raw["odd_spec"], "Even spec": raw["even_spec"], "k (odd)": raw["k_odd"], "k (even)": raw["k_even"],
        "Same architecture": ["yes" if s else "no" for s in raw["same_architecture"]],
        "Δ odd − even": [fmt_signed(x) for x in raw["delta_odd_minus_even"]],
        "Δ 95% CI": [fmt_ci(lo, hi, signed=True) for lo, hi in zip(raw["delta_ci_low"], raw["delta_ci_high"])],
        "p (paired t)": [fmt_p(p) for p in raw["p_value"]],
        "n pairs": [str(int(n)) for n in raw["n_pairs"]],
        "Verdict": raw["verdict"],
    })


def throughput_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every measured (implementation, mode) of every variant: images/s and the ratio to the plain
    backbone with its 95% CI (one measure job per backbone and input, so these all come from one
    set of alternating rounds)."""
    m = df[(df["source"] == "measure") & (df["implementation"] != "")] if len(df) else df
    if m.empty:
        return pd.DataFrame()
    m = m.drop_duplicates(["backbone", "dataset", "spec_id", "implementation", "metric"])
    rows = []
    for (backbone, dataset, spec, impl), g in m.groupby(["backbone", "dataset", "spec", "implementation"], sort=False):
        v = dict(zip(g["metric"], g["value"]))
        for mode in ("inference", "train"):
            if f"{mode}_images_per_s" not in v:
                continue
            rel = v.get(f"{mode}_rel_none")
            rows.append({"Backbone": backbone, "Dataset": dataset, "Variant": spec, "Implementation": impl,
                         "Mode": mode, "img/s": fmt_num(v[f"{mode}_images_per_s"], 1),
                         "× none [95% CI]": (MISSING if is_missing(rel) else
                                             f"{rel:.3f} " + fmt_ci(v.get(f"{mode}_rel_none_ci_low"),
                                                                    v.get(f"{mode}_rel_none_ci_high"), 3)),
                         "Peak memory MiB": fmt_num(v.get(f"peak_memory_{mode}_mb"), 0)})
    return pd.DataFrame(rows)


def headline_table(title: str, vt: pd.DataFrame) -> list[dict]:
    """The first-screen summary of one study: per setting, the best variant against the baseline.

    When the baseline is itself an attention variant (a design study: adaptive ECA), the plain backbone
    the study lists for reference is no candidate: the row answers the study's question, not "none vs ECA".
    """
    rows = []
    for (backbone, dataset), g in vt.groupby(["backbone", "dataset"], sort=False):
        cand = g[~g["is_baseline"] & g["top1_mean"].notna()]
        base_variant = g.loc[g["is_baseline"], "variant"]
        if len(base_variant) and base_variant.iloc[0] != "none":
            cand = cand[cand["variant"] != "none"]
        if cand.empty:
            continue
        r = cand.loc[cand["top1_mean"].astype(float).idxmax()]
        base = g.loc[g["is_baseline"], "spec"]
        rows.append({
            "Study": title, "Setting": f"{backbone} / {dataset}",
            "Best variant": r["spec"], "Baseline": base.iloc[0] if len(base) else MISSING,
            "Δ top-1 [95% CI]": (f"{fmt_signed(r['delta_top1'])} "
                                 f"{fmt_ci(r['delta_ci_low'], r['delta_ci_high'], signed=True)}"),
            "Verdict": r["verdict"] if isinstance(r["verdict"], str) else "",
            "MDE (80% power)": fmt_num(r.get("mde_80")),
            "n": MISSING if is_missing(r.get("n_pairs")) else str(int(r["n_pairs"])),
        })
    return rows


def row_classes(raw: pd.DataFrame) -> list[str]:
    """The HTML row class per raw row: baseline, a variant with lost runs, or a difference inside the noise."""
    out = []
    for _, r in raw.iterrows():
        if r.get("is_baseline"):
            out.append("baseline")
        elif r.get("failed") or r.get("diverged") or r.get("missing"):
            out.append("warn")
        elif r.get("verdict") == stats.INSIDE_NOISE:
            out.append("noise")
        else:
            out.append("")
    return out
