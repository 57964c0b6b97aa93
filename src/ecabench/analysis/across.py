"""Is a variant better than the baseline across settings (backbone x dataset), and how sure are we?

Input everywhere: the per-seed frame of :mod:`ecabench.analysis.frames` (``setting, seed, variant,
value``), paired by (setting, seed). Every interval here is calibrated by ``benchmarks/calibration.py``:

* :func:`per_setting` - paired difference per setting (t over its seeds, or Stein's for a two-stage design);
* :func:`across_settings` - per variant: the equal-weight average over the settings run (Welch-Satterthwaite
  t, :mod:`~ecabench.analysis.pooling`), what to expect on a new setting (>= 3 settings only), win / tie /
  loss counts with a Clopper-Pearson interval, mean ranks with Friedman and Holm-corrected Wilcoxon tests,
  and the Bayesian signed-rank test with a ROPE (baycomp);
* :func:`pairwise` - every pair of variants per setting and averaged over settings, Holm within a family;
* :func:`verdict_words` - one row in plain words, claiming no more than the intervals.

What cannot be computed is NaN with a ``note``; nothing raises or warns for degenerate input.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ecabench.analysis import bayes, frames, paired, pooling, ranks, wins

ONE_SETTING = "no setting with two or more paired seeds: no average across settings"
NO_PAIRS = "no (setting, seed) with both this variant and the baseline: nothing to compare"
PER_SETTING_COLUMNS = ["variant", "baseline", "setting", "n", "delta", "sd", "df", "variance", "ci_low", "ci_high",
                       "p_value", "method", "note"]
COLUMNS = ["variant", "baseline", "settings", "n_pairs", "avg_delta", "avg_ci_low", "avg_ci_high", "avg_df", "avg_p",
           "new_mean", "new_ci_low", "new_ci_high", "new_pi_low", "new_pi_high", "tau2", "i2", "wins", "ties",
           "losses", "win_rate", "win_ci_low", "win_ci_high", "mean_rank", "p_friedman", "p_holm", "bayes_worse",
           "bayes_rope", "bayes_better", "rope", "note", "level"]

__all__ = ["per_setting", "across_settings", "pairwise", "verdict_words", "COLUMNS", "PER_SETTING_COLUMNS"]


def per_setting(df: pd.DataFrame, baseline: str, *, level: float = 0.95, stage1: dict | None = None) -> pd.DataFrame:
    """One row per (variant, setting): paired ``delta = variant - baseline`` over the seeds both have
    (``paired.paired_difference``; Stein's interval where ``stage1`` names the setting's stage-1 seeds),
    its ``sd`` and ``df`` and ``variance = sd^2 / n`` - what the average across settings combines."""
    rows, w = [], frames.wide(df)
    for v in [x for x in frames.variants(frames.tidy(df)) if x != baseline]:
        p = frames.pairs(df, v, baseline, w)
        for setting, g in p.groupby("setting", sort=False):
            first = (stage1 or {}).get(setting)
            r = paired.paired_difference(list(zip(g["seed"], g["a"])), list(zip(g["seed"], g["b"])), level,
                                         paired.PCT_DELTA_RANGE, stage1=first)
            var = r.delta_std ** 2 / r.n_pairs if math.isfinite(r.delta_std) else math.nan
            rows.append({"variant": v, "baseline": baseline, "setting": setting, "n": r.n_pairs, "delta": r.delta_mean,
                         "sd": r.delta_std, "df": r.df, "variance": var, "ci_low": r.ci_low, "ci_high": r.ci_high,
                         "p_value": r.p_value, "method": r.method, "note": r.note})
    return pd.DataFrame(rows, columns=PER_SETTING_COLUMNS)


def _average(ps: pd.DataFrame, level: float) -> dict:
    """The equal-weight average of the settings with a variance (>= 2 pairs), or NaN and why not."""
    ok = ps[np.isfinite(ps["variance"].astype(float)) & np.isfinite(ps["delta"].astype(float))] if len(ps) else ps
    out = {"settings": len(ok), "n_pairs": int(ok["n"].sum()) if len(ok) else 0}
    if ok.empty:
        return {**out, **dict.fromkeys(["avg_delta", "avg_ci_low", "avg_ci_high", "avg_df", "avg_p"], math.nan),
                "note": ONE_SETTING}
    a = pooling.equal_weight_average(ok["delta"], ok["sd"], ok["n"], ok["df"], level=level)
    lo, hi, _ = paired._bounded(float(a.low), float(a.high), paired.PCT_DELTA_RANGE)
    dropped = len(ps) - len(ok)
    note = f"{dropped} setting(s) with fewer than two pairs left out of the average" if dropped else ""
    return {**out, "avg_delta": float(a.mean), "avg_ci_low": lo, "avg_ci_high": hi, "avg_df": float(a.df),
            "avg_p": float(a.p_value), "note": note}


def _new_setting(ps: pd.DataFrame, level: float) -> dict:
    ns = pooling.new_setting(ps["delta"].astype(float).to_numpy(), level=level) if len(ps) else None
    tau2, i2 = pooling.heterogeneity(ps["delta"], ps["variance"]) if len(ps) else (math.nan, math.nan)
    keys = ["new_mean", "new_ci_low", "new_ci_high", "new_pi_low", "new_pi_high"]
    values = [float(x) for x in ns] if ns is not None else [math.nan] * 5
    return {**dict(zip(keys, values)), "tau2": tau2, "i2": i2}


def across_settings(df: pd.DataFrame, baseline: str, *, rope: float = 0.5, seed: int = 0, level: float = 0.95,
                    bayes_samples: int = 50000, stage1: dict | None = None) -> pd.DataFrame:
    """Estimands: the average over the settings run of the paired difference, the effect on a new setting,
    the share of (setting, seed) pairs won, ranks and the posterior of the pooled pairs (per column group).

    One row per non-baseline variant: is it better than ``baseline`` across settings? Columns
    :data:`COLUMNS`; ``attrs["ranks"]`` (:func:`ranks.rank_summary`) and ``attrs["per_setting"]``.

    ``avg_*``: the equal-weight average over the settings run; ``new_*``: a new setting (NaN below
    three settings); ``wins/ties/losses`` and ``win_*`` over every (setting, seed) pair; the Wilcoxon
    (Holm over the variants) and Bayesian tests use every pair of the two; ranks the complete blocks.
    """
    ps = per_setting(df, baseline, level=level, stage1=stage1)
    rk = ranks.rank_summary(df)
    mean_rank = dict(zip(rk["variant"], rk["mean_rank"]))
    rows = [_variant_row(df, ps[ps["variant"] == v], v, baseline, rope=rope, seed=seed, level=level,
                         bayes_samples=bayes_samples)
            for v in frames.variants(frames.tidy(df)) if v != baseline]
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "p_holm"] + ["_p_wilcoxon"])
    out["mean_rank"] = out["variant"].map(mean_rank).astype(float)
    out["p_friedman"] = float(rk["p_friedman"].iloc[0]) if len(rk) else math.nan
    out["p_holm"] = paired.holm(out["_p_wilcoxon"]) if len(out) else []
    if len(rk) and rk["note"].iloc[0]:
        out["note"] = [_join(n, rk["note"].iloc[0]) for n in out["note"]]
    out = out.drop(columns="_p_wilcoxon")[COLUMNS]
    out.attrs.update(baseline_mean_rank=float(mean_rank.get(baseline, math.nan)), ranks=rk, per_setting=ps)
    return out


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _variant_row(df, ps, v, baseline, *, rope, seed, level, bayes_samples) -> dict:
    pr = frames.pairs(df, v, baseline)
    x, y = pr["a"].to_numpy(dtype=float), pr["b"].to_numpy(dtype=float)
    wr = wins.win_rate([g["a"].to_numpy(float) - g["b"].to_numpy(float) for _, g in pr.groupby("setting", sort=False)],
                       level=level)
    worse, rope_p, better, bnote = bayes.signed_rank(x, y, rope, seed, bayes_samples)
    avg = _average(ps, level)
    few = pooling.FEW_SETTINGS if avg["settings"] < pooling.MIN_NEW_SETTING and avg["settings"] else ""
    return {"variant": v, "baseline": baseline, **avg, **_new_setting(ps, level), "wins": wr["wins"],
            "ties": wr["ties"], "losses": wr["losses"], "win_rate": wr["p"], "win_ci_low": wr["low"],
            "win_ci_high": wr["high"], "bayes_worse": worse, "bayes_rope": rope_p, "bayes_better": better,
            "rope": rope, "note": _join(NO_PAIRS if pr.empty else avg["note"], few, bnote), "level": level,
            "_p_wilcoxon": ranks.wilcoxon(x, y)}


def pairwise(df: pd.DataFrame, *, level: float = 0.95, stage1: dict | None = None) -> pd.DataFrame:
    """Estimand: the expected a - b per setting, and its average over the settings run (``setting == "all"``).

    Every unordered pair (a, b) of variants, ``delta = a - b``: per setting the paired t (or Stein's)
    interval and p; across settings (``backbone = dataset = "all"``) the equal-weight average with its
    Welch-Satterthwaite t interval and p. Holm over the pairs within each family (one setting, or "all")."""
    d = frames.tidy(df)
    rows = []
    for a, b in itertools.combinations(frames.variants(d), 2):
        sub = per_setting(d[d["variant"].isin([a, b])], b, level=level, stage1=stage1)
        for _, r in sub.iterrows():
            where = dict(zip(("backbone", "dataset"), frames.split_setting(r["setting"])))
            rows.append({"setting": r["setting"], **where,
                         "a": a, "b": b, "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "p_value": r["p_value"], "n": r["n"], "note": r["note"]})
        if len(sub) >= 2:
            avg = _average(sub, level)
            rows.append({"setting": "all", "backbone": "all", "dataset": "all", "a": a, "b": b,
                         "delta": avg["avg_delta"], "ci_low": avg["avg_ci_low"], "ci_high": avg["avg_ci_high"],
                         "p_value": avg["avg_p"], "n": avg["n_pairs"], "note": avg["note"]})
    cols = ["backbone", "dataset", "a", "b", "delta", "ci_low", "ci_high", "p_value", "p_holm", "n", "setting", "note"]
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "p_holm"])
    out["p_holm"] = (out.groupby("setting", sort=False)["p_value"].transform(lambda p: paired.holm(p))
                     if len(out) else [])
    return out[cols]


def _num(x: float, signed: bool = False) -> str:
    return (f"{x:+.1f}" if signed else f"{x:.1f}").replace("-", "\u2212") if math.isfinite(x) else "n/a"


def verdict_words(row) -> str:
    """One :func:`across_settings` row in plain words: the average over the settings run (and for a new
    setting only with >= 3 settings), the win counts and the Bayesian probabilities."""
    r = dict(row)
    v, b, k = r["variant"], r["baseline"], int(r["settings"])
    pct = round(100 * float(r.get("level", 0.95)))
    over = f"averaged over these {k} setting{'s' if k != 1 else ''}"
    if not math.isfinite(r["avg_delta"]):
        parts = [f"{v} vs {b}: {r['note'] or ONE_SETTING}"]
    else:
        ci = f"{pct}% CI {_num(r['avg_ci_low'], True)} to {_num(r['avg_ci_high'], True)}"
        if paired.inside_noise(r["avg_ci_low"], r["avg_ci_high"]):
            parts = [f"{v} vs {b}: {_num(r['avg_delta'], True)} points {over} ({ci}) — inside the noise"]
        else:
            word = "better" if r["avg_delta"] > 0 else "worse"
            parts = [f"{v} is {_num(abs(r['avg_delta']))} points {word} than {b} {over} ({ci})"]
        if math.isfinite(r["new_pi_low"]):
            parts.append(f"on a new setting expect {_num(r['new_pi_low'], True)} to {_num(r['new_pi_high'], True)} "
                         f"(prediction, at least {pct}%)")
        elif k:
            parts.append(f"with {k} setting{'s' if k != 1 else ''} the design cannot speak for a new backbone")
    if r["wins"] + r["ties"] + r["losses"]:
        n = r["wins"] + r["ties"] + r["losses"]
        parts.append(f"better on {r['wins']} of {n} paired seeds ({r['ties']} ties; P(better on a seed) "
                     f"{r['win_ci_low']:.2f} to {r['win_ci_high']:.2f}, at least {pct}%)")
    if math.isfinite(r["bayes_worse"]):
        parts.append(f"Bayesian: P(worse) {r['bayes_worse']:.2f}, P(within \u00b1{r['rope']:g}) {r['bayes_rope']:.2f}, "
                     f"P(better) {r['bayes_better']:.2f}")
    return "; ".join(parts)
