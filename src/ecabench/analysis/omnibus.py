"""Does a design factor (the levels of one study, e.g. k in {1, 3, 7}) matter at all in one setting?"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd

from ecabench.analysis import paired
from ecabench.analysis.frames import block_matrix, tidy
from ecabench.analysis.ranks import rank_summary

__all__ = ["omnibus", "largest_gap_level"]


def largest_gap_level(levels: int, level: float = 0.95) -> float:
    """The confidence level that makes the largest of the ``levels`` choose 2 gaps honest: Bonferroni over the
    pairs it was picked from (the gap was chosen after looking, so a plain 95% interval excludes 0 too often)."""
    m = levels * (levels - 1) // 2
    return 1 - (1 - level) / max(m, 1)


def omnibus(df_one_setting: pd.DataFrame, *, level: float = 0.95, anova: bool = True) -> dict:
    """Estimand: whether any level differs from another on this setting (expected paired accuracy over seeds).

    Blocks are the seeds with every level. The decision is Friedman's with >= 3 levels and the paired
    t-test with 2; the repeated-measures ANOVA (``AnovaRM``) is a second opinion. ``largest_gap`` =
    mean(gap_a - gap_b) of the two levels furthest apart (gap_a ahead) with a paired t CI at
    :func:`largest_gap_level` (``gap_level``: simultaneous over every pair, post hoc); ``mde`` = the
    paired difference detectable at 80% power (``paired.power``) with the pooled sd of all pairwise
    paired differences. ``anova=False`` skips the second opinion (the calibration simulation's speed).
    """
    d = tidy(df_one_setting).assign(setting="one")
    wide = block_matrix(d)
    levels, n = list(wide.columns), len(wide)
    out = {"test": "", "statistic": math.nan, "p_value": math.nan, "levels": len(levels), "n": n,
           "anova_f": math.nan, "anova_p": math.nan, "largest_gap": math.nan, "gap_a": None, "gap_b": None,
           "gap_ci_low": math.nan, "gap_ci_high": math.nan, "gap_level": math.nan, "mde": math.nan, "note": ""}
    if len(levels) < 2 or n < 2:
        out["note"] = "one level: nothing to compare" if len(levels) < 2 else paired.N_TOO_SMALL
        return out
    means = wide.mean()
    a, b = max(itertools.combinations(levels, 2), key=lambda p: abs(means[p[0]] - means[p[1]]))
    a, b = (a, b) if means[a] >= means[b] else (b, a)
    gap_level = largest_gap_level(len(levels), level)
    gap = paired.paired_difference(wide[a], wide[b], gap_level, paired.PCT_DELTA_RANGE)
    diffs = [wide[x] - wide[y] for x, y in itertools.combinations(levels, 2)]
    sd = paired.pooled_sd([s.std(ddof=1) for s in diffs], [n] * len(diffs))
    out.update(largest_gap=gap.delta_mean, gap_a=a, gap_b=b, gap_ci_low=gap.ci_low, gap_ci_high=gap.ci_high,
               gap_level=gap_level, mde=paired.power(sd, n, targets=()).mde)
    if len(levels) == 2:
        r = paired.paired_difference(wide[levels[0]], wide[levels[1]], level)
        out.update(test="paired t", statistic=r.t_stat, p_value=r.p_value, note=r.note)
    else:
        rk = rank_summary(d)
        out.update(test="friedman", statistic=float(rk["friedman_stat"].iloc[0]),
                   p_value=float(rk["p_friedman"].iloc[0]), note=rk["note"].iloc[0])
    if anova:
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
