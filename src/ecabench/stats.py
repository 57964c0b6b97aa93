"""Seed statistics for the report: summaries, paired differences, noise verdicts, Pareto fronts.

Conventions (the report relies on them):

* every function ignores NaN/None values (a failed run has no accuracy; it is listed elsewhere);
* standard deviations use ``ddof=1`` (sample std over seeds);
* 95% confidence intervals use the t distribution with ``n - 1`` degrees of freedom:
  ``mean +- t_{0.975, n-1} * std / sqrt(n)``;
* a result that cannot be computed is ``NaN`` and its ``note`` says why (``"n too small"`` when fewer
  than two values or pairs exist) - no function raises or warns for degenerate input.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as _st

N_TOO_SMALL = "n too small"
ZERO_VARIANCE_TIE = "identical values (all differences zero)"
ZERO_VARIANCE_SHIFT = "constant non-zero difference (zero variance)"
INSIDE_NOISE = "inside the noise"

__all__ = [
    "Summary", "PairedResult", "summarise", "paired_difference", "inside_noise", "verdict",
    "pareto_mask", "pareto_front", "holm", "t_quantile", "N_TOO_SMALL", "INSIDE_NOISE",
]


class Summary(NamedTuple):
    mean: float
    std: float
    n: int
    ci_low: float
    ci_high: float
    note: str = ""

    def as_dict(self) -> dict:
        return self._asdict()


class PairedResult(NamedTuple):
    """``delta = a - b`` over seeds present in both, with a paired t-test (``scipy.stats.ttest_rel``)."""
    delta_mean: float
    delta_std: float
    ci_low: float
    ci_high: float
    p_value: float
    t_stat: float
    n_pairs: int
    note: str = ""

    def as_dict(self) -> dict:
        return self._asdict()


def _clean(values: Any) -> np.ndarray:
    if values is None:
        return np.array([], dtype=float)
    vals = list(values.values()) if isinstance(values, Mapping) else list(values)
    arr = pd.to_numeric(pd.Series(vals, dtype="object"), errors="coerce").to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def t_quantile(n: int, level: float = 0.95) -> float:
    """Two-sided t quantile for ``n`` observations (``n - 1`` degrees of freedom)."""
    if n < 2:
        return math.nan
    return float(_st.t.ppf(0.5 + level / 2, n - 1))


def summarise(values: Iterable[float] | Mapping[Any, float], level: float = 0.95) -> Summary:
    """Mean, sample std (ddof=1), n and the t-based confidence interval of ``values``.

    With one value the mean is that value and std/CI are NaN (``note == "n too small"``); with none
    everything is NaN and ``n == 0``.
    """
    arr = _clean(values)
    n = int(arr.size)
    if n == 0:
        return Summary(math.nan, math.nan, 0, math.nan, math.nan, N_TOO_SMALL)
    mean = float(arr.mean())
    if n < 2:
        return Summary(mean, math.nan, n, math.nan, math.nan, N_TOO_SMALL)
    std = float(arr.std(ddof=1))
    half = t_quantile(n, level) * std / math.sqrt(n)
    return Summary(mean, std, n, mean - half, mean + half, "")


def _by_seed(values: Any) -> dict:
    if isinstance(values, pd.Series):
        items = values.items()
    elif isinstance(values, Mapping):
        items = values.items()
    else:  # a sequence of (seed, value) pairs
        items = list(values)
    out = {}
    for seed, value in items:
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            if seed in out:
                raise ValueError(f"seed {seed!r} appears twice")
            out[seed] = v
    return out


def paired_difference(a_by_seed: Any, b_by_seed: Any, level: float = 0.95) -> PairedResult:
    """Paired comparison of ``a`` against ``b`` over the seeds both have (``delta = a - b``).

    ``a_by_seed``/``b_by_seed``: a mapping seed -> value, a pandas Series indexed by seed, or pairs.
    Seeds present in only one side, and NaN values, are left out. Fewer than two pairs: the mean
    difference (if one pair) but NaN CI and p, ``note == "n too small"``. Zero variance of the
    differences: all zero -> p = 1, CI [0, 0]; a constant non-zero shift -> p = 0, CI [d, d]
    (the t statistic is infinite). Otherwise p is ``scipy.stats.ttest_rel``'s two-sided p-value.
    """
    a, b = _by_seed(a_by_seed), _by_seed(b_by_seed)
    seeds = [s for s in a if s in b]
    try:
        seeds = sorted(seeds)
    except TypeError:
        pass
    n = len(seeds)
    if n == 0:
        return PairedResult(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, N_TOO_SMALL)
    xa = np.array([a[s] for s in seeds])
    xb = np.array([b[s] for s in seeds])
    d = xa - xb
    mean = float(d.mean())
    if n < 2:
        return PairedResult(mean, math.nan, math.nan, math.nan, math.nan, math.nan, n, N_TOO_SMALL)
    std = float(d.std(ddof=1))
    # exact ties are common (identical architectures, deterministic runs): no scipy warning path
    if std == 0 or np.allclose(d, d[0], rtol=0, atol=1e-12 * max(1.0, float(np.abs(d).max()))):
        if np.all(d == 0) or abs(mean) <= 1e-12:
            return PairedResult(0.0, 0.0, 0.0, 0.0, 1.0, 0.0, n, ZERO_VARIANCE_TIE)
        return PairedResult(mean, 0.0, mean, mean, 0.0, math.copysign(math.inf, mean), n, ZERO_VARIANCE_SHIFT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = _st.ttest_rel(xa, xb)
    half = t_quantile(n, level) * std / math.sqrt(n)
    return PairedResult(mean, std, mean - half, mean + half, float(res.pvalue), float(res.statistic), n, "")


def inside_noise(ci_low: float, ci_high: float) -> bool:
    """True when the confidence interval of a difference includes zero.

    A missing interval (NaN, e.g. n < 2) also counts as inside the noise: without an interval there
    is no evidence of a difference (the report says "n too small" in that case).
    """
    try:
        lo, hi = float(ci_low), float(ci_high)
    except (TypeError, ValueError):
        return True
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return True
    return lo <= 0.0 <= hi


def verdict(result: PairedResult, higher_is_better: bool = True) -> str:
    """A short label for a paired difference: "inside the noise", "better", "worse", "n too small"."""
    if result.n_pairs < 2 or not math.isfinite(result.ci_low) or not math.isfinite(result.ci_high):
        return N_TOO_SMALL
    if inside_noise(result.ci_low, result.ci_high):
        return INSIDE_NOISE
    up = result.delta_mean > 0
    return "better" if up == higher_is_better else "worse"


def holm(p_values: Iterable[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = [float(x) if x is not None else math.nan for x in p_values]
    idx = [i for i, v in enumerate(p) if math.isfinite(v)]
    m = len(idx)
    out = [math.nan] * len(p)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def pareto_mask(df: pd.DataFrame, x: str, y: str, minimise_x: bool = True, maximise_y: bool = True) -> pd.Series:
    """Boolean Series: rows no other row dominates (at least as good in x and y, better in one).

    Rows with NaN in x or y are never on the front.
    """
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)
    xs = xs if minimise_x else -xs
    ys = -ys if maximise_y else ys  # both "smaller is better" from here on
    ok = np.isfinite(xs) & np.isfinite(ys)
    mask = np.zeros(len(df), dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (xs <= xs[i]) & (ys <= ys[i]) & ((xs < xs[i]) | (ys < ys[i]))
        mask[i] = not dominated.any()
    return pd.Series(mask, index=df.index, name="pareto")


def pareto_front(df: pd.DataFrame, x: str, y: str, minimise_x: bool = True, maximise_y: bool = True) -> pd.DataFrame:
    """The non-dominated rows of ``df`` (see :func:`pareto_mask`), sorted by ``x`` ascending.

    Default: cheaper (smaller x, e.g. params or MACs) and more accurate (larger y) is better; pass
    ``minimise_x=False`` for x = throughput.
    """
    front = df[pareto_mask(df, x, y, minimise_x, maximise_y)]
    return front.sort_values(x, kind="mergesort")
