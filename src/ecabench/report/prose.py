"""The report's sentences: what each comparison says, in words, next to its table.

A table row shows a difference and its interval; the sentence says what that means (inside the
noise, better or worse beyond it, or why no comparison could be made), so a reader who skips the
statistics columns still gets the conclusion, and the conclusion never claims more than the interval.
"""
from __future__ import annotations

import pandas as pd

from ecabench.analysis import paired as stats
from ecabench.report.formatting import fmt_p, is_missing

READING_GUIDE = (
    "How to read the tables: accuracy is the test top-1 of runs that completed (status ok), mean ± sample std "
    "over seeds, with a t-based 95% confidence interval that never leaves [0, 100]. Δ is the variant minus the "
    "study's baseline on the same backbone and dataset, paired by seed: for one seed every variant saw the same "
    "data, batch order and augmentation and started from the same backbone weights, so the paired difference "
    "measures the attention, not the draw (paired t-test over the seeds both completed). A difference whose 95% "
    "CI includes zero is labelled \"inside the noise\". MDE is the smallest true difference the comparison would "
    "detect with 80% power (two-sided, α = 0.05) given the measured sd of the paired differences and n; \"seeds for "
    "0.5 / 1.0\" say how many seeds would detect a 0.5- or 1-point difference. p-values are not corrected for the "
    "number of variants (the raw CSV also has Holm-adjusted p_holm). Throughput is measured once per (backbone, "
    "input, device) for all architectures together, in alternating rounds after warm-up; \"Rel. throughput\" is "
    "the median within-round ratio to the baseline with its 95% CI (order statistics), for the implementation "
    "named in the table (eager: the modules as written; compile: torch.compile of the whole model)."
)
TUNED_NOTE = (
    "Tuned with Optuna: every variant had the same trial budget, its best setting was chosen on the "
    "validation split and then trained with each evaluation seed and scored on the test split (the rows "
    "below). Throughput columns are filled only for architectures the sweep also measured."
)
PAPER_INTRO = (
    "The ECA paper's Table 3 (ImageNet, 224×224) prints parameters in units of 2^20 and FLOPs counted with thop "
    "divided by 2^30 (\"G\") or 2^20 (\"M\"). Beside them, the suite's own counts for the same ImageNet models "
    "(1000 classes, 3×224×224, batch 1): parameters exact and in 10^6 and 2^20 units, MACs from fvcore (one "
    "multiply-add = 1) in 10^9 and 2^30 units, and the elementwise FLOPs fvcore ignores in a separate column. "
    "\"diff %\" compares the suite's count with the paper's after converting both to absolute numbers. The paper's "
    "accuracy and FPS (4× RTX 2080Ti) are quoted as published; the suite does not re-train ImageNet here."
)

__all__ = ["PAPER_INTRO", "READING_GUIDE", "TUNED_NOTE", "group_prose", "odd_even_prose", "pairing_text",
           "precision_sentence", "study_summary"]


def _pts(x: float) -> str:
    return f"{x:+.2f}"


def _p_text(p) -> str:
    text = fmt_p(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def _no_comparison(r: pd.Series, base: str) -> str | None:
    """The sentence for a row without a difference ("" when nothing needs saying), None when it has one."""
    if r["is_baseline"]:
        if r["n"] == 0:
            return f"The baseline {base} has no completed run here, so no difference can be computed."
        return ""
    if r["verdict"] == "no baseline":
        if r["note"] == "the study has no baseline":
            return ""
        return f"{r['spec']}: the baseline {base} has no runs on this backbone/dataset; no comparison."
    if is_missing(r["delta_top1"]):
        return f"{r['spec']}: no completed seed shared with {base}; no comparison."
    return None


def _cost_extras(r: pd.Series) -> str:
    """The attention's price in parameters and throughput, as a parenthesis (empty when unmeasured)."""
    extras = []
    if not is_missing(r["params_attention"]):
        extras.append(f"{int(r['params_attention']):,} attention parameters")
    if not is_missing(r["throughput_rel_baseline"]):
        how = (f", 95% CI {r['throughput_rel_ci_low']:.3f}–{r['throughput_rel_ci_high']:.3f} over rounds timed "
               "in alternation" if not is_missing(r.get("throughput_rel_ci_low")) else "")
        extras.append(f"{r['throughput_rel_baseline']:.3f}× the baseline's inference throughput ({r['implementation']})"
                      f"{how}")
    return f" ({'; '.join(extras)})" if extras else ""


def _verdict_tail(r: pd.Series) -> str:
    if r["verdict"] == stats.INSIDE_NOISE:
        tail = " — inside the noise: the interval includes zero"
        if r["note"] == stats.ZERO_VARIANCE_TIE:
            tail += " (identical results on every seed)"
        return tail
    if r["verdict"] == "better":
        return " — better than the baseline beyond seed noise (the interval excludes zero)"
    return " — worse than the baseline beyond seed noise (the interval excludes zero)"


def variant_sentence(r: pd.Series, base: str) -> str | None:
    """One row of the per-variant table in words (None: nothing to say, e.g. a baseline with runs)."""
    none = _no_comparison(r, base)
    if none is not None:
        return none or None
    name, extra = r["spec"], _cost_extras(r)
    if r["verdict"] == stats.N_TOO_SMALL:
        return (f"{name} vs {base}: Δ top-1 = {_pts(r['delta_top1'])} points from {int(r['n_pairs'])} paired seed(s) — "
                f"n too small for a confidence interval, so it cannot be told apart from seed noise{extra}.")
    ci = f"95% CI {_pts(r['delta_ci_low'])} to {_pts(r['delta_ci_high'])}"
    mde = (f"; smallest difference detectable with 80% power: {r['mde_80']:.2f} points"
           if not is_missing(r.get("mde_80")) else "")
    head = (f"{name} vs {base}: Δ top-1 = {_pts(r['delta_top1'])} points ({ci}, paired t-test {_p_text(r['p_value'])}, "
            f"n = {int(r['n_pairs'])} seeds{mde})")
    if r["note"] == stats.CLIPPED:
        head += " (the interval was cut at the metric's range: too few seeds for an informative interval)"
    return head + _verdict_tail(r) + extra + "."


def group_prose(vt: pd.DataFrame, base: str) -> list[str]:
    """The sentences under one (backbone, dataset) table: every comparison, then every lost run."""
    out = [s for s in (variant_sentence(r, base) for _, r in vt.iterrows()) if s]
    bad = vt[(vt["failed"] + vt["diverged"] + vt["missing"]) > 0]
    for _, r in bad.iterrows():
        parts = [f"{int(r[s])} {s}" for s in ("failed", "diverged", "missing") if r[s]]
        out.append(f"{r['spec']}: {', '.join(parts)} run(s) — excluded from the statistics and listed below.")
    return out


def pairing_text(gain: dict) -> str:
    """How much seed variance the pairing removed (:func:`ecabench.analysis.variant_table.pairing_gain`) in words."""
    if is_missing(gain["single"]) or is_missing(gain["paired"]):
        return ""
    text = (f"Seed noise: single runs vary with sd {gain['single']:.2f} points (pooled over variants), so an unpaired "
            f"difference would have sd {gain['unpaired']:.2f}; the paired differences (same data order, same backbone "
            f"initialisation per seed) have sd {gain['paired']:.2f}")
    if not is_missing(gain["removed"]):
        text += f" — the pairing removed {100 * gain['removed']:.0f}% of the variance of a difference"
    return text + "."


def study_summary(vt: pd.DataFrame) -> str:
    """How many of the study's differences are inside the noise, better, worse or undecidable."""
    cmp = vt[~vt["is_baseline"] & vt["verdict"].isin([stats.INSIDE_NOISE, "better", "worse", stats.N_TOO_SMALL])]
    if cmp.empty:
        return ""
    count = {v: int((cmp["verdict"] == v).sum()) for v in (stats.INSIDE_NOISE, "better", "worse", stats.N_TOO_SMALL)}
    text = (f"{count[stats.INSIDE_NOISE]} of {len(cmp)} differences from the baseline are inside the noise "
            "(95% CI includes zero)")
    bits = [f"{count[v]} {label}" for v, label in (("better", "better"), ("worse", "worse"),
                                                    (stats.N_TOO_SMALL, "with n too small to tell")) if count[v]]
    if bits:
        text += "; " + ", ".join(bits)
    return text + "."


def precision_sentence(title: str, vt: pd.DataFrame) -> str:
    """How many comparisons of a study with the two-stage seed rule met their target ("" without the rule)."""
    if "precision" not in vt or vt["precision"].isna().all():
        return ""
    cmp = vt[~vt["is_baseline"].astype(bool) & vt["precision"].notna()]
    counts = cmp["precision"].value_counts()
    target = float(cmp["target_half_width"].iloc[0])
    text = (f"{title}: {int(counts.get('target met', 0))} of {len(cmp)} comparisons met their target 95% CI "
            f"half-width of ±{target:.2f} points")
    extra = [f"{int(counts[k])} {k}" for k in ("cap reached", "target missed") if counts.get(k)]
    return text + (f"; {', '.join(extra)}" if extra else "") + " (Stein's two-stage seed rule, docs/statistics.md)."


def odd_even_prose(raw: pd.DataFrame) -> list[str]:
    """One sentence per odd-minus-even pair; equal kernel sizes are called out as the same model."""
    out = []
    for _, r in raw.iterrows():
        where = f"{r['backbone']}/{r['dataset']}"
        if r["same_architecture"]:
            out.append(f"{where}, {r['odd_spec']} vs {r['even_spec']}: both rules give k = {r['k_odd']} — the same "
                       f"architecture, so any difference is seed noise by construction.")
            continue
        if r["verdict"] == stats.N_TOO_SMALL:
            out.append(f"{where}, {r['odd_spec']} vs {r['even_spec']}: n too small for a confidence interval.")
            continue
        label = {"better": "odd rule better beyond the noise", "worse": "odd rule worse beyond the noise"}.get(
            r["verdict"], "inside the noise")
        out.append(f"{where}, {r['odd_spec']} (k={r['k_odd']}) − {r['even_spec']} (k={r['k_even']}): "
                   f"{_pts(r['delta_odd_minus_even'])} points, 95% CI {_pts(r['delta_ci_low'])} to "
                   f"{_pts(r['delta_ci_high'])}, {_p_text(r['p_value'])} — {label}.")
    return out
