"""Ranks over (setting, seed) blocks: mean ranks, Friedman, Wilcoxon, Nemenyi and the critical-difference
diagram (Demsar, JMLR 2006; scipy and scikit-posthocs)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as _st

from ecabench.analysis.frames import block_matrix
from ecabench.analysis.paired import N_TOO_SMALL

TWO_VARIANTS = "two variants: no Friedman test (needs three or more)"
ALL_TIES = "identical values in every block"
WILCOXON_ZERO = "pratt"  # zero differences take part in the ranking, then drop out (Pratt 1959)

__all__ = ["rank_summary", "nemenyi", "wilcoxon", "draw_critical_difference", "TWO_VARIANTS", "ALL_TIES"]


def rank_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Estimand: each variant's expected rank within a (setting, seed) block; Friedman: equal ranks for all.

    Mean rank per variant over complete blocks (rank 1 = most accurate, ties averaged) and the
    Friedman test of all variants (``scipy.stats.friedmanchisquare``). One row per variant;
    ``friedman_stat``/``p_friedman`` repeat on every row."""
    w = block_matrix(df)
    ranks = w.rank(axis=1, ascending=False, method="average")
    out = pd.DataFrame({"variant": list(w.columns), "mean_rank": ranks.mean().to_numpy(dtype=float),
                        "n_blocks": len(w)})
    stat, p, note = math.nan, math.nan, ""
    if w.shape[1] < 3:
        note = TWO_VARIANTS
    elif len(w) < 2:
        note = N_TOO_SMALL
    elif (w.max(axis=1) == w.min(axis=1)).all():
        stat, p, note = 0.0, 1.0, ALL_TIES
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _st.friedmanchisquare(*[w[c].to_numpy() for c in w.columns])
        stat, p = float(res.statistic), float(res.pvalue)
    return out.assign(friedman_stat=stat, p_friedman=p, note=note)


def nemenyi(df: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Mean ranks and the Nemenyi post-hoc p-values over complete blocks
    (``scikit_posthocs.posthoc_nemenyi_friedman``): the inputs of a critical-difference diagram."""
    import scikit_posthocs as sp  # heavy optional-use dependency (~1.6 s to import): the Nemenyi test only

    w = block_matrix(df)
    ranks = w.rank(axis=1, ascending=False, method="average").mean()
    if w.shape[1] < 2 or len(w) < 2:
        return ranks, pd.DataFrame(np.nan, index=w.columns, columns=w.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sig = sp.posthoc_nemenyi_friedman(w.to_numpy())
    sig.index, sig.columns = w.columns, w.columns
    return ranks, sig


def draw_critical_difference(ranks: pd.Series, sig: pd.DataFrame, ax, alpha: float = 0.05) -> None:
    """scikit-posthocs draws the diagram and joins the variants its p-value matrix cannot tell apart
    (a statistical decision), so the call lives in the analysis layer; the report only gives it axes."""
    import scikit_posthocs as sp  # heavy optional-use dependency (~1.6 s to import): the CD diagram only

    sp.critical_difference_diagram(ranks, sig.loc[ranks.index, ranks.index], alpha=alpha, ax=ax)


def wilcoxon(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of x - y over pooled pairs (Pratt's zeros); NaN below two pairs."""
    d = x - y
    if len(d) < 2:
        return math.nan
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_st.wilcoxon(x, y, zero_method=WILCOXON_ZERO, alternative="two-sided").pvalue)
