"""Is a variant better than the baseline across settings (backbone x dataset), and how sure are we?

Input everywhere: a tidy per-seed frame with columns ``setting`` ("resnet20/fashion-mnist"), ``seed``,
``variant`` and ``value`` (test top-1 in percent; NaN = a failed run, left out with its pairs only).
Every variant of one (setting, seed) saw the same data and initialisation (common random numbers), so
differences are *paired* by (setting, seed).

* :func:`per_setting` - paired difference variant - baseline per setting (``stats.paired_difference``);
* :func:`across_settings` - the per-setting means pooled by inverse-variance meta-analysis
  (``statsmodels`` ``combine_effects``: fixed effect and DerSimonian-Laird random effects), the
  probability of improvement with a paired two-level bootstrap (Bouthillier et al., MLSys 2021),
  mean ranks with Friedman and Holm-corrected Wilcoxon tests (Demsar, JMLR 2006) and the Bayesian
  signed-rank test with a ROPE (Benavoli et al., JMLR 2017; ``baycomp``);
* :func:`pairwise` - every pair of variants per setting and pooled; :func:`omnibus` - does a factor
  matter at all in one setting; :func:`verdict_words` - one row in plain words.

Conventions follow :mod:`ecabench.stats`: what cannot be computed is NaN with a ``note``; nothing
raises or warns for degenerate input; difference intervals are cut at [-100, 100].
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as _st
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from ecabench import stats

ONE_SETTING = "fewer than two settings: no across-settings estimate; see the per-setting table"
ZERO_SD = "zero paired sd (identical differences on every seed): left out of the inverse-variance pooling"
TWO_VARIANTS = "two variants: no Friedman test (needs three or more)"
NO_BAYES = "baycomp unavailable or failed: no Bayesian signed-rank test"
ALL_TIES = "identical values in every block"
NO_PAIRS = "no (setting, seed) with both this variant and the baseline: nothing to compare"
WILCOXON_ZERO = "pratt"  # zero differences take part in the ranking, then drop out (Pratt 1959)
COLUMNS = ["variant", "baseline", "settings", "n_pairs", "pooled_delta", "pooled_ci_low", "pooled_ci_high",
           "re_delta", "re_ci_low", "re_ci_high", "i2", "tau2", "p_improve", "p_improve_ci_low",
           "p_improve_ci_high", "mean_rank", "p_friedman", "p_holm", "p_worse", "p_rope", "p_better", "rope",
           "note", "p_improve_significant", "level"]

__all__ = ["per_setting", "meta", "across_settings", "rank_summary", "block_matrix", "nemenyi",
           "pairwise", "omnibus", "verdict_words", "p_improve", "COLUMNS"]


def _clip(x: float) -> float:
    return float(np.clip(x, *stats.PCT_DELTA_RANGE)) if math.isfinite(x) else math.nan


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    d = df[["setting", "seed", "variant", "value"]].copy()
    d["value"] = pd.to_numeric(d["value"], errors="coerce")
    return d[np.isfinite(d["value"].to_numpy(dtype=float))]


def _variants(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["variant"]))


def _wide(df: pd.DataFrame) -> pd.DataFrame:
    """(setting, seed) x variant values (NaN where a run is missing or failed)."""
    d = _tidy(df)
    return d.pivot_table(index=["setting", "seed"], columns="variant", values="value", sort=False)


def _pairs(df: pd.DataFrame, a: str, b: str, wide: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (setting, seed) with both ``a`` and ``b`` measured: columns ``setting, seed, a, b``."""
    wide = _wide(df) if wide is None else wide
    if a not in wide or b not in wide:
        return pd.DataFrame(columns=["setting", "seed", "a", "b"])
    pair = wide[[a, b]].dropna().reset_index()
    return pair.set_axis(["setting", "seed", "a", "b"], axis=1)


def per_setting(df: pd.DataFrame, baseline: str, *, level: float = 0.95) -> pd.DataFrame:
    """One row per (variant, setting): paired ``delta = variant - baseline`` over the seeds both have,
    its t interval and p (``stats.paired_difference``), and ``variance = var(d, ddof=1) / n`` - the
    squared standard error the meta-analysis weights by."""
    rows, wide = [], _wide(df)
    for v in [x for x in _variants(_tidy(df)) if x != baseline]:
        p = _pairs(df, v, baseline, wide)
        for setting, g in p.groupby("setting", sort=False):
            r = stats.paired_difference(list(zip(g["seed"], g["a"])), list(zip(g["seed"], g["b"])), level,
                                        stats.PCT_DELTA_RANGE)
            var = r.delta_std ** 2 / r.n_pairs if r.n_pairs >= 2 else math.nan
            rows.append({"variant": v, "baseline": baseline, "setting": setting, "n": r.n_pairs,
                         "delta": r.delta_mean, "variance": var, "ci_low": r.ci_low, "ci_high": r.ci_high,
                         "p_value": r.p_value, "note": r.note})
    cols = ["variant", "baseline", "setting", "n", "delta", "variance", "ci_low", "ci_high", "p_value", "note"]
    return pd.DataFrame(rows, columns=cols)


def meta(effects, variances, *, level: float = 0.95) -> dict:
    """Fixed-effect and DerSimonian-Laird random-effects pooling (``combine_effects(method_re="dl")``).

    Rows with fewer than two pairs (NaN variance) or zero variance are left out (an inverse-variance
    weight of 1/0 would swamp the rest). statsmodels does not truncate the DL estimate of tau^2 at
    zero (a negative tau^2 gives a meaningless random-effects mean), so when Q < k - 1 tau^2 and I^2
    are set to 0 and the random-effects estimate equals the fixed-effect one, as DerSimonian-Laird define it.
    """
    e, v = np.asarray(effects, dtype=float), np.asarray(variances, dtype=float)
    ok = np.isfinite(e) & np.isfinite(v)
    notes = [ZERO_SD] if np.any(ok & (v <= 0)) else []
    ok &= v > 0
    out = dict.fromkeys(["fe", "fe_low", "fe_high", "fe_se", "re", "re_low", "re_high", "i2", "tau2"], math.nan)
    out.update(k=int(ok.sum()), used=ok)
    if ok.sum() < 2:
        out["note"] = "; ".join([ONE_SETTING, *notes])
        return out
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = combine_effects(e[ok], v[ok], method_re="dl")
        ci_fe, ci_re = res.conf_int(alpha=1 - level)[:2]
    out.update(fe=float(res.mean_effect_fe), fe_se=float(res.sd_eff_w_fe), fe_low=_clip(ci_fe[0]),
               fe_high=_clip(ci_fe[1]), re=float(res.mean_effect_re), re_low=_clip(ci_re[0]),
               re_high=_clip(ci_re[1]), i2=float(res.i2), tau2=float(res.tau2))
    if not res.tau2 > 0:  # Q <= k - 1: no between-setting variance detected
        out.update(re=out["fe"], re_low=out["fe_low"], re_high=out["fe_high"], i2=0.0, tau2=0.0)
    out["note"] = "; ".join(notes)
    return out


def _scores(d: np.ndarray) -> np.ndarray:
    """A seed's contribution to P(improve): 1 when the variant wins, 0.5 for a tie, 0 when it loses."""
    return (d > 0) + 0.5 * (d == 0)


def p_improve(groups: list[tuple[np.ndarray, np.ndarray]], *, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95, paired: bool = True) -> tuple[float, float, float]:
    """P(variant beats baseline on a seed), averaged over settings, with a two-level percentile bootstrap.

    ``groups``: per setting, the (variant, baseline) values of its seed pairs. Settings are resampled
    with replacement, then each drawn setting's seed *pairs* (Bouthillier et al., MLSys 2021: the
    common random numbers that make the comparison paired must survive the resampling).
    ``paired=False`` resamples the two sides independently - a control that breaks the pairing, for tests.
    """
    groups = [(np.asarray(x, float), np.asarray(y, float)) for x, y in groups if len(x)]
    if not groups:
        return math.nan, math.nan, math.nan
    point = float(np.mean([_scores(x - y).mean() for x, y in groups]))
    rng = np.random.default_rng(seed)
    k = len(groups)
    drawn = rng.integers(0, k, size=(n_boot, k))
    total = np.zeros(n_boot)
    for j in range(k):
        for s, (x, y) in enumerate(groups):
            rows = np.flatnonzero(drawn[:, j] == s)
            if rows.size == 0:
                continue
            i = rng.integers(0, len(x), size=(rows.size, len(x)))
            i2 = i if paired else rng.integers(0, len(x), size=(rows.size, len(x)))
            total[rows] += _scores(x[i] - y[i2]).mean(axis=1)
    boot = total / k
    tail = 100 * (1 - level) / 2
    return point, float(np.percentile(boot, tail)), float(np.percentile(boot, 100 - tail))


def block_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Blocks (setting, seed) x variants, only blocks in which every variant has a value."""
    d = _tidy(df)
    wide = d.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    return wide.reindex(columns=_variants(d)).dropna()


def rank_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean rank per variant over complete blocks (rank 1 = most accurate, ties averaged) and the
    Friedman test of all variants (``scipy.stats.friedmanchisquare``; Demsar 2006). One row per variant;
    ``friedman_stat``/``p_friedman`` repeat on every row."""
    wide = block_matrix(df)
    ranks = wide.rank(axis=1, ascending=False, method="average")
    out = pd.DataFrame({"variant": list(wide.columns), "mean_rank": ranks.mean().to_numpy(dtype=float),
                        "n_blocks": len(wide)})
    stat, p, note = math.nan, math.nan, ""
    if wide.shape[1] < 3:
        note = TWO_VARIANTS
    elif len(wide) < 2:
        note = stats.N_TOO_SMALL
    elif (wide.max(axis=1) == wide.min(axis=1)).all():
        stat, p, note = 0.0, 1.0, ALL_TIES
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _st.friedmanchisquare(*[wide[c].to_numpy() for c in wide.columns])
        stat, p = float(res.statistic), float(res.pvalue)
    return out.assign(friedman_stat=stat, p_friedman=p, note=note)


def nemenyi(df: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Mean ranks and the Nemenyi post-hoc p-values over complete blocks
    (``scikit_posthocs.posthoc_nemenyi_friedman``): the inputs of a critical-difference diagram (Demsar 2006)."""
    import scikit_posthocs as sp  # heavy optional-use dependency (~1.6 s to import): the Nemenyi test only

    wide = block_matrix(df)
    ranks = wide.rank(axis=1, ascending=False, method="average").mean()
    if wide.shape[1] < 2 or len(wide) < 2:
        return ranks, pd.DataFrame(np.nan, index=wide.columns, columns=wide.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sig = sp.posthoc_nemenyi_friedman(wide.to_numpy())
    sig.index, sig.columns = wide.columns, wide.columns
    return ranks, sig


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> float:
    d = x - y
    if len(d) < 2:
        return math.nan
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_st.wilcoxon(x, y, zero_method=WILCOXON_ZERO, alternative="two-sided").pvalue)


def _holm(p) -> np.ndarray:
    """Holm-corrected p-values (``multipletests(method="holm")``); NaN stays NaN and is not a test."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def _bayes(x: np.ndarray, y: np.ndarray, rope: float, seed: int, nsamples: int) -> tuple[float, float, float, str]:
    """(P(worse), P(rope), P(better)) of x (variant) against y (baseline): ``baycomp.SignedRankTest``.

    baycomp works on ``diff = y - x``: its "left" is x ahead by more than the rope (variant better),
    "right" is y ahead (variant worse). Without a rope it returns only (left, right)."""
    if len(x) < 2:
        return math.nan, math.nan, math.nan, stats.N_TOO_SMALL
    try:
        from baycomp import SignedRankTest  # heavy (~0.9 s) and allowed to fail: the Bayesian columns only

        probs = SignedRankTest.probs(x, y, rope=rope, nsamples=nsamples, random_state=seed)
    except Exception as exc:  # noqa: BLE001 - an optional dependency must not break the table
        return math.nan, math.nan, math.nan, f"{NO_BAYES} ({type(exc).__name__})"
    left, mid, right = probs if len(probs) == 3 else (probs[0], 0.0, probs[1])
    return float(right), float(mid), float(left), ""


def across_settings(df: pd.DataFrame, baseline: str, *, rope: float = 0.5, n_boot: int = 2000, seed: int = 0,
                    level: float = 0.95, bayes_samples: int = 50000, _paired: bool = True) -> pd.DataFrame:
    """One row per non-baseline variant: is it better than ``baseline`` across settings? Columns
    :data:`COLUMNS`; ``attrs["baseline_mean_rank"]`` and ``attrs["ranks"]`` (:func:`rank_summary`).

    ``settings``/``n_pairs``: the settings (with >= 2 pairs and a non-zero paired sd) pooled and their
    pairs. P(improve) uses every setting with a pair; the Wilcoxon (Holm over the variants) and
    Bayesian tests use every (setting, seed) pair of the two; ranks and Friedman the complete blocks.
    """
    ps = per_setting(df, baseline, level=level)
    ranks = rank_summary(df)
    mean_rank = dict(zip(ranks["variant"], ranks["mean_rank"]))
    rows = []
    for v in [x for x in _variants(_tidy(df)) if x != baseline]:
        rows.append(_variant_row(df, ps[ps["variant"] == v], v, baseline, rope=rope, n_boot=n_boot, seed=seed,
                                 level=level, bayes_samples=bayes_samples, paired=_paired))
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "p_holm"] + ["_p_wilcoxon"])
    out["mean_rank"] = out["variant"].map(mean_rank).astype(float)
    out["p_friedman"] = float(ranks["p_friedman"].iloc[0]) if len(ranks) else math.nan
    out["p_holm"] = _holm(out["_p_wilcoxon"]) if len(out) else []
    if len(ranks) and ranks["note"].iloc[0]:
        out["note"] = [_join(n, ranks["note"].iloc[0]) for n in out["note"]]
    out = out.drop(columns="_p_wilcoxon")[COLUMNS]
    out.attrs["baseline_mean_rank"] = float(mean_rank.get(baseline, math.nan))
    out.attrs["ranks"] = ranks
    return out


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _variant_row(df, ps, v, baseline, *, rope, n_boot, seed, level, bayes_samples, paired) -> dict:
    m = meta(ps["delta"], ps["variance"], level=level)
    used = ps[m["used"]] if len(ps) else ps
    pairs = _pairs(df, v, baseline)
    groups = [(g["a"].to_numpy(), g["b"].to_numpy()) for _, g in pairs.groupby("setting", sort=False)]
    pi, pi_lo, pi_hi = p_improve(groups, n_boot=n_boot, seed=seed, level=level, paired=paired)
    x, y = pairs["a"].to_numpy(dtype=float), pairs["b"].to_numpy(dtype=float)
    p_worse, p_rope, p_better, bnote = _bayes(x, y, rope, seed, bayes_samples)
    return {"variant": v, "baseline": baseline, "settings": m["k"], "n_pairs": int(used["n"].sum()),
            "pooled_delta": m["fe"], "pooled_ci_low": m["fe_low"], "pooled_ci_high": m["fe_high"],
            "re_delta": m["re"], "re_ci_low": m["re_low"], "re_ci_high": m["re_high"], "i2": m["i2"],
            "tau2": m["tau2"], "p_improve": pi, "p_improve_ci_low": pi_lo, "p_improve_ci_high": pi_hi,
            "p_worse": p_worse, "p_rope": p_rope, "p_better": p_better, "rope": rope,
            "note": _join(NO_PAIRS if pairs.empty else m["note"], bnote),
            "p_improve_significant": bool(pi_lo > 0.5), "level": level, "_p_wilcoxon": _wilcoxon(x, y)}


def _split(setting: str) -> tuple[str, str]:
    backbone, _, dataset = str(setting).partition("/")
    return backbone, dataset


def pairwise(df: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Every unordered pair (a, b) of variants, ``delta = a - b``: per setting a paired t-test
    (``stats.paired_difference``), Holm over the pairs within the setting; across settings
    (``backbone = dataset = "all"``) the fixed-effect pooled delta, its CI and the p-value of its z,
    Holm over the pairs."""
    d = _tidy(df)
    rows = []
    for a, b in itertools.combinations(_variants(d), 2):
        sub = per_setting(d[d["variant"].isin([a, b])], b, level=level)
        for _, r in sub.iterrows():
            rows.append({"setting": r["setting"], **dict(zip(("backbone", "dataset"), _split(r["setting"]))),
                         "a": a, "b": b, "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "p_value": r["p_value"], "n": r["n"], "note": r["note"]})
        m = meta(sub["delta"], sub["variance"], level=level)
        z = m["fe"] / m["fe_se"] if m["fe_se"] > 0 else math.nan
        rows.append({"setting": "all", "backbone": "all", "dataset": "all", "a": a, "b": b, "delta": m["fe"],
                     "ci_low": m["fe_low"], "ci_high": m["fe_high"],
                     "p_value": float(2 * _st.norm.sf(abs(z))) if math.isfinite(z) else math.nan,
                     "n": int(sub["n"][m["used"]].sum()) if len(sub) else 0, "note": m["note"]})
    cols = ["backbone", "dataset", "a", "b", "delta", "ci_low", "ci_high", "p_value", "p_holm", "n", "setting", "note"]
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "p_holm"])
    out["p_holm"] = out.groupby("setting", sort=False)["p_value"].transform(lambda p: _holm(p)) if len(out) else []
    return out[cols]


def omnibus(df_one_setting: pd.DataFrame, *, level: float = 0.95) -> dict:
    """Does the factor (the variants of one setting) matter at all? Blocks are the seeds with every level.

    Friedman with >= 3 levels, a paired t-test with 2; the repeated-measures ANOVA (``AnovaRM``) as a
    second test. ``largest_gap`` = mean(gap_a - gap_b) of the two levels furthest apart (gap_a ahead),
    with its paired t CI; ``mde`` = the paired difference detectable at 80% power (``stats.power``)
    with the pooled sd of all pairwise paired differences.
    """
    d = _tidy(df_one_setting).assign(setting="one")
    wide = block_matrix(d)
    levels, n = list(wide.columns), len(wide)
    out = {"test": "", "statistic": math.nan, "p_value": math.nan, "levels": len(levels), "n": n,
           "anova_f": math.nan, "anova_p": math.nan, "largest_gap": math.nan, "gap_a": None, "gap_b": None,
           "gap_ci_low": math.nan, "gap_ci_high": math.nan, "mde": math.nan, "note": ""}
    if len(levels) < 2 or n < 2:
        out["note"] = "one level: nothing to compare" if len(levels) < 2 else stats.N_TOO_SMALL
        return out
    means = wide.mean()
    a, b = max(itertools.combinations(levels, 2), key=lambda p: abs(means[p[0]] - means[p[1]]))
    a, b = (a, b) if means[a] >= means[b] else (b, a)
    gap = stats.paired_difference(wide[a], wide[b], level, stats.PCT_DELTA_RANGE)
    diffs = [wide[x] - wide[y] for x, y in itertools.combinations(levels, 2)]
    sd = stats.pooled_sd([s.std(ddof=1) for s in diffs], [n] * len(diffs))
    out.update(largest_gap=gap.delta_mean, gap_a=a, gap_b=b, gap_ci_low=gap.ci_low, gap_ci_high=gap.ci_high,
               mde=stats.power(sd, n).mde)
    if len(levels) == 2:
        r = stats.paired_difference(wide[levels[0]], wide[levels[1]], level)
        out.update(test="paired t", statistic=r.t_stat, p_value=r.p_value, note=r.note)
    else:
        rk = rank_summary(d)
        out.update(test="friedman", statistic=float(rk["friedman_stat"].iloc[0]),
                   p_value=float(rk["p_friedman"].iloc[0]), note=rk["note"].iloc[0])
    out.update(_anova(wide))
    return out


def _anova(wide: pd.DataFrame) -> dict:
    from statsmodels.stats.anova import AnovaRM  # heavy (~1 s to import): the omnibus ANOVA only

    long = wide.reset_index(drop=True).rename_axis("block").reset_index().melt(
        id_vars="block", var_name="level", value_name="value")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            t = AnovaRM(long, depvar="value", subject="block", within=["level"]).fit().anova_table
        return {"anova_f": float(t["F Value"].iloc[0]), "anova_p": float(t["Pr > F"].iloc[0])}
    except Exception:  # noqa: BLE001 - a second opinion; the primary test stands without it
        return {}


def _num(x: float, signed: bool = False) -> str:
    return (f"{x:+.1f}" if signed else f"{x:.1f}").replace("-", "\u2212") if math.isfinite(x) else "n/a"


def verdict_words(row) -> str:
    """One across-settings row (:func:`across_settings`) in plain words, claiming no more than the intervals:
    "inside the noise" when the fixed-effect CI covers 0, "the settings disagree" when I^2 > 50%."""
    r = dict(row)
    v, b = r["variant"], r["baseline"]
    pct = round(100 * float(r.get("level", 0.95)))
    parts = []
    if not math.isfinite(r["pooled_delta"]):
        parts.append(f"{v} vs {b}: {r['note'] or ONE_SETTING}")
    else:
        ci = f"(fixed effect, {pct}% CI {_num(r['pooled_ci_low'], True)} to {_num(r['pooled_ci_high'], True)})"
        over = f"over the {r['settings']} settings run"
        if stats.inside_noise(r["pooled_ci_low"], r["pooled_ci_high"]):
            parts.append(f"{v} is inside the noise of {b}: {_num(r['pooled_delta'], True)} points on average {over} "
                         f"{ci}")
        else:
            word = "better" if r["pooled_delta"] > 0 else "worse"
            parts.append(f"{v} is {_num(abs(r['pooled_delta']))} points {word} than {b} on average {over} {ci}")
        either = " - could go either way" if stats.inside_noise(r["re_ci_low"], r["re_ci_high"]) else ""
        parts.append(f"on a new setting expect {_num(r['re_ci_low'], True)} to {_num(r['re_ci_high'], True)} "
                     f"(random effects{either})")
        if r["i2"] > 0.5:
            parts.append(f"the settings disagree (I\u00b2 {100 * r['i2']:.0f}%)")
    if math.isfinite(r["p_improve"]):
        sig = ", reliably above 0.5" if r["p_improve_ci_low"] > 0.5 else ""
        sig = ", reliably below 0.5" if r["p_improve_ci_high"] < 0.5 else sig
        parts.append(f"P(better on a seed) {r['p_improve']:.2f} [{r['p_improve_ci_low']:.2f}, "
                     f"{r['p_improve_ci_high']:.2f}]{sig}")
    if math.isfinite(r["p_worse"]):
        parts.append(f"Bayesian: P(worse) {r['p_worse']:.2f}, P(within \u00b1{r['rope']:g}) {r['p_rope']:.2f}, "
                     f"P(better) {r['p_better']:.2f}")
    return "; ".join(parts)
