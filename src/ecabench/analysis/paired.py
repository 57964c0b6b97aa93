"""Paired seed statistics (the analysis layer): summaries, paired differences, noise verdicts, Pareto fronts.

Conventions (the report relies on them):

* every function ignores NaN/None values (a failed run has no accuracy; it is listed elsewhere);
* standard deviations use ``ddof=1`` (sample std over seeds);
* 95% confidence intervals use the t distribution with ``n - 1`` degrees of freedom:
  ``mean +- t_{0.975, n-1} * std / sqrt(n)``, intersected with the metric's range (a percentage
  cannot leave [0, 100], a difference of percentages [-100, 100]); an interval that had to be cut
  says so in its ``note`` (``CLIPPED``): with so few seeds the t interval is not informative;
* power (:func:`power`): the minimum detectable effect of a paired t-test at 80% power and the
  seeds needed to detect a given difference, from ``statsmodels``' ``TTestPower``;
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
from statsmodels.stats.multitest import multipletests

N_TOO_SMALL = "n too small"
ZERO_VARIANCE_TIE = "identical values (all differences zero)"
ZERO_VARIANCE_SHIFT = "constant non-zero difference (zero variance)"
INSIDE_NOISE = "inside the noise"
CLIPPED = "interval cut at the metric's range: too few seeds for a t interval to be informative"
PCT_RANGE = (0.0, 100.0)
PCT_DELTA_RANGE = (-100.0, 100.0)
POWER = 0.8
ALPHA = 0.05

__all__ = [
    "Summary", "PairedResult", "summarise", "paired_difference", "inside_noise", "verdict",
    "pareto_mask", "pareto_front", "holm", "t_quantile", "N_TOO_SMALL", "INSIDE_NOISE", "CLIPPED",
    "Power", "power", "pooled_sd", "PCT_RANGE", "PCT_DELTA_RANGE", "stein_total_n",
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
    df: float = math.nan  # degrees of freedom of the interval: n - 1, or n0 - 1 for Stein's
    method: str = "t"  # "t" (all pairs) or "stein" (the stage-1 sd of a two-stage design)

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


def _bounded(lo: float, hi: float, bounds: tuple[float, float] | None) -> tuple[float, float, str]:
    """The interval intersected with ``bounds`` (a valid interval for a parameter that lives there)."""
    if bounds is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi, ""
    clipped = lo < bounds[0] or hi > bounds[1]
    return max(lo, bounds[0]), min(hi, bounds[1]), CLIPPED if clipped else ""


def summarise(values: Iterable[float] | Mapping[Any, float], level: float = 0.95,
              bounds: tuple[float, float] | None = None) -> Summary:
    """Mean, sample std (ddof=1), n and the t-based confidence interval of ``values``.

    Estimand: the expected value of the metric over seeds (one variant on one setting).

    With one value the mean is that value and std/CI are NaN (``note == "n too small"``); with none
    everything is NaN and ``n == 0``. ``bounds``: the metric's range (e.g. :data:`PCT_RANGE`); the
    interval never leaves it.
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
    lo, hi, note = _bounded(mean - half, mean + half, bounds)
    return Summary(mean, std, n, lo, hi, note)


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


def paired_difference(a_by_seed: Any, b_by_seed: Any, level: float = 0.95,
                      bounds: tuple[float, float] | None = None, stage1: Iterable | None = None) -> PairedResult:
    """Paired comparison of ``a`` against ``b`` over the seeds both have (``delta = a - b``).

    Estimand: the expected paired difference on this setting (backbone, dataset) over seeds.
    ``a_by_seed``/``b_by_seed``: a mapping seed -> value, a pandas Series indexed by seed, or pairs.
    Seeds present in only one side, and NaN values, are left out. Fewer than two pairs: the mean
    difference (if one pair) but NaN CI and p, ``note == "n too small"``. Zero variance of the
    differences: all zero -> p = 1, CI [0, 0]; a constant non-zero shift -> p = 0, CI [d, d]
    (the t statistic is infinite). Otherwise p is ``scipy.stats.ttest_rel``'s two-sided p-value.

    ``stage1``: the stage-1 seeds of a two-stage (Stein) design, whose spread chose how many seeds
    ran. The interval is then Stein's: ``mean(all N) +- t(n0 - 1) * s0 / sqrt(N)`` with ``s0`` the sd
    of the ``n0`` stage-1 differences (p from the same t), which holds its level exactly because N
    depended on ``s0`` only; a t interval recomputed on all N seeds would not.
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
    if stage1 is not None:
        first = set(stage1)
        return _stein(d, np.array([s in first for s in seeds]), level, bounds)
    mean = float(d.mean())
    if n < 2:
        return PairedResult(mean, math.nan, math.nan, math.nan, math.nan, math.nan, n, N_TOO_SMALL)
    std = float(d.std(ddof=1))
    # exact ties are common (identical architectures, deterministic runs): no scipy warning path
    if std == 0 or np.allclose(d, d[0], rtol=0, atol=1e-12 * max(1.0, float(np.abs(d).max()))):
        if np.all(d == 0) or abs(mean) <= 1e-12:
            return PairedResult(0.0, 0.0, 0.0, 0.0, 1.0, 0.0, n, ZERO_VARIANCE_TIE, n - 1)
        return PairedResult(mean, 0.0, mean, mean, 0.0, math.copysign(math.inf, mean), n, ZERO_VARIANCE_SHIFT, n - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = _st.ttest_rel(xa, xb)
    half = t_quantile(n, level) * std / math.sqrt(n)
    lo, hi, note = _bounded(mean - half, mean + half, bounds)
    return PairedResult(mean, std, lo, hi, float(res.pvalue), float(res.statistic), n, note, n - 1)


def _stein(d: np.ndarray, first: np.ndarray, level: float, bounds) -> PairedResult:
    """Stein's (1945) interval: the mean of all N differences, the sd and t quantile of the stage-1 ones."""
    n, n0 = len(d), int(first.sum())
    mean = float(d.mean())
    if n0 < 2:
        return PairedResult(mean, math.nan, math.nan, math.nan, math.nan, math.nan, n, N_TOO_SMALL, math.nan, "stein")
    s0 = float(d[first].std(ddof=1))
    se = s0 / math.sqrt(n)
    if se == 0:
        tie = abs(mean) <= 1e-12
        return PairedResult(0.0 if tie else mean, 0.0, 0.0 if tie else mean, 0.0 if tie else mean, 1.0 if tie else 0.0,
                            0.0 if tie else math.copysign(math.inf, mean), n,
                            ZERO_VARIANCE_TIE if tie else ZERO_VARIANCE_SHIFT, n0 - 1, "stein")
    t = mean / se
    half = t_quantile(n0, level) * se
    lo, hi, note = _bounded(mean - half, mean + half, bounds)
    return PairedResult(mean, s0, lo, hi, float(2 * _st.t.sf(abs(t), n0 - 1)), t, n, note, n0 - 1, "stein")


class Power(NamedTuple):
    """What a paired comparison with this spread and this many seeds can detect."""
    mde: float  # smallest true difference detected with probability ``power`` (same units as sd)
    seeds_for: dict  # target difference -> seeds needed to detect it with probability ``power``
    note: str = ""


def power(sd: float, n: int, targets: Iterable[float] = (0.5, 1.0), *, alpha: float = ALPHA,
          power_level: float = POWER) -> Power:
    """Minimum detectable effect of a two-sided paired t-test, and the seeds each target needs.

    Estimand: none - a design figure (what this sd and n could detect at 80% power), not an estimate.

    ``sd``: the standard deviation of the paired differences; ``n``: the number of pairs. The power
    curve is ``statsmodels.stats.power.TTestPower`` (a paired t-test is a one-sample t-test of the
    differences): the MDE is the effect size (in sd units) at which it reaches ``power_level`` with
    n pairs, times ``sd``; the seeds needed for a target difference ``d`` are the smallest n >= 2
    whose power at effect size ``d / sd`` reaches it.
    """
    targets = list(targets)
    try:
        sd, n = float(sd), int(n)
    except (TypeError, ValueError):
        return Power(math.nan, {t: math.nan for t in targets}, N_TOO_SMALL)
    if n < 2 or not math.isfinite(sd):
        return Power(math.nan, {t: math.nan for t in targets}, N_TOO_SMALL)
    if sd == 0:
        return Power(0.0, {t: 2 for t in targets}, ZERO_VARIANCE_TIE)
    return Power(_mde(n, alpha, power_level) * sd,
                 {t: _seeds_needed(abs(t) / sd, alpha, power_level) for t in targets}, "")


def _power_at(effect_size: float, nobs: float, alpha: float) -> float:
    from statsmodels.stats.power import TTestPower  # heavy (~0.9 s to import): power questions only

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(TTestPower().power(effect_size=effect_size, nobs=nobs, alpha=alpha, alternative="two-sided"))
        if math.isnan(value):  # the far lower tail underflows for large effects: the upper tail is the power
            value = float(TTestPower().power(effect_size=effect_size, nobs=nobs, alpha=alpha / 2, alternative="larger"))
        return value


def _mde(n: int, alpha: float, power_level: float) -> float:
    """Effect size (sd units) detected with probability ``power_level`` by n pairs: the root of
    statsmodels' power curve (bracketed, so it never fails to converge)."""
    from scipy.optimize import brentq  # scipy.optimize costs ~0.5 s to import: MDE questions only

    return float(brentq(lambda es: _power_at(es, n, alpha) - power_level, 1e-9, 1e4, xtol=1e-10))


def _seeds_needed(effect_size: float, alpha: float, power_level: float, limit: int = 10**7) -> float:
    """The smallest n >= 2 whose power reaches ``power_level`` (power grows with n: doubling, then bisection)."""
    if _power_at(effect_size, 2, alpha) >= power_level:
        return 2
    lo, hi = 2, 4
    while _power_at(effect_size, hi, alpha) < power_level:
        lo, hi = hi, hi * 2
        if hi > limit:
            return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _power_at(effect_size, mid, alpha) < power_level else (lo, mid)
    return hi


def stein_total_n(sd: float, n0: int, half_width: float, *, level: float = 0.95) -> int:
    """Stein's (1945) two-stage rule: the total number of pairs for a ``level`` CI of half-width
    ``half_width``, from the sd of ``n0`` stage-1 pairs.

    ``N = max(n0, ceil((t_{1-alpha/2, n0-1} * sd / half_width)^2))``: the quantile has the stage-1
    degrees of freedom, which is what makes the width guarantee hold whatever the true sd is. The rule
    looks at the spread only, never at where the mean lies. An unknown sd (fewer than 2 pairs, NaN)
    gives ``-1``: the caller decides (the workflow then runs to its cap).
    """
    if not (isinstance(n0, int) and n0 >= 2) or not half_width > 0:
        raise ValueError(f"stein_total_n needs n0 >= 2 and half_width > 0, got n0={n0!r}, half_width={half_width!r}")
    try:
        sd = float(sd)
    except (TypeError, ValueError):
        return -1
    if not math.isfinite(sd):
        return -1
    need = (t_quantile(n0, level) * sd / half_width) ** 2
    return max(n0, math.ceil(need - 1e-9))


def pooled_sd(sds: Iterable[float], ns: Iterable[int]) -> float:
    """The pooled standard deviation of several groups (weights n - 1); NaN when nothing to pool."""
    num = den = 0.0
    for sd, n in zip(sds, ns):
        try:
            sd, n = float(sd), int(n)
        except (TypeError, ValueError):
            continue
        if n >= 2 and math.isfinite(sd):
            num += (n - 1) * sd * sd
            den += n - 1
    return math.sqrt(num / den) if den else math.nan


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
    """Holm-adjusted p-values (``statsmodels`` ``multipletests(method="holm")``); NaN stays NaN and is no test.

    The one Holm of the project: per-setting comparisons, Wilcoxon tests across settings and pairwise families."""
    p = np.array([float(x) if x is not None else math.nan for x in p_values], dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out.tolist()


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
