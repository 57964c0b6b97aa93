"""Pooling per-setting paired differences into one figure across settings (backbone x dataset).

Two estimands, two estimators, each calibrated in ``benchmarks/calibration.py``:

* :func:`equal_weight_average` - the average effect over *the settings that were run*, each weighted
  equally, with a t interval whose degrees of freedom come from Welch-Satterthwaite over the
  per-setting variances. The per-setting variance sd^2/n is estimated from 3-6 seeds, so treating it
  as known (a fixed-effect z interval) covered 85-91% at 3 seeds in ``benchmarks/calibration.py``; this
  holds 94.6-96.4%.
* :func:`new_setting` - what to expect on a setting that was *not* run: with >= 3 settings, the mean
  of the population of settings (t over the k per-setting deltas) and a prediction interval for one
  new setting; with fewer it says it cannot speak for a new setting (:data:`FEW_SETTINGS`).
  :func:`heterogeneity` gives DerSimonian-Laird tau^2 and I^2 (statsmodels) to describe the spread.

Arrays broadcast: the last axis is the settings, so the calibration simulation calls the same code
on thousands of replications at once.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats as _st
from statsmodels.stats.meta_analysis import combine_effects

MIN_NEW_SETTING = 3  # settings a random-effects statement about a new setting needs (k - 2 >= 1 df)
FEW_SETTINGS = (f"fewer than {MIN_NEW_SETTING} settings: the design cannot speak for a new backbone or dataset "
                "(only for the average over the settings run)")

__all__ = ["Average", "NewSetting", "equal_weight_average", "new_setting", "heterogeneity", "MIN_NEW_SETTING",
           "FEW_SETTINGS"]


class Average(NamedTuple):
    """The equal-weight average over settings (arrays over any leading replication axes)."""
    mean: np.ndarray
    se: np.ndarray
    df: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p_value: np.ndarray


def equal_weight_average(delta, sd, n, df=None, *, level: float = 0.95) -> Average:
    """Estimand: the mean over the settings run of each setting's expected paired difference.

    ``delta``, ``sd``, ``n`` (and optionally ``df``, default ``n - 1``; Stein's ``n0 - 1``): per setting,
    along the last axis. ``se^2 = sum(sd^2 / n) / k^2``; Welch-Satterthwaite
    ``df = (sum v)^2 / sum(v^2 / df_s)`` with ``v = sd^2 / n``; interval ``mean +- t(df) * se``; p from the
    same t. A setting with fewer than two pairs has no variance: the caller leaves it out.
    With zero variance everywhere the interval is the point itself.
    """
    delta, sd, n = (np.asarray(x, dtype=float) for x in (delta, sd, n))
    dfs = n - 1 if df is None else np.asarray(df, dtype=float)
    k = delta.shape[-1]
    v = sd ** 2 / n
    mean = delta.mean(axis=-1)
    se = np.sqrt(v.sum(axis=-1)) / k
    with np.errstate(all="ignore"):
        ws = v.sum(axis=-1) ** 2 / (v ** 2 / dfs).sum(axis=-1)
        ws = np.where(se > 0, ws, np.nan)
        q = _st.t.ppf(0.5 + level / 2, ws)
        half = np.where(se > 0, q * se, 0.0)
        t = mean / se
        p = np.where(se > 0, 2 * _st.t.sf(np.abs(t), ws), np.where(mean == 0, 1.0, 0.0))
    return Average(mean, se, ws, mean - half, mean + half, p)


class NewSetting(NamedTuple):
    """What to expect on a setting that was not run (arrays over any leading replication axes)."""
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray


def new_setting(delta, *, level: float = 0.95) -> NewSetting:
    """Estimand: ``mean`` - the mean effect over the population of settings like these; ``pi`` - the
    effect on one new setting drawn from it.

    Each setting's observed delta is one draw of (its true effect + its seed noise), so the k deltas
    are a sample of size k: ``mean +- t(k - 1) * s_k / sqrt(k)`` (s_k: their sd) is the interval for the
    mean, and ``mean +- t(k - 1) * s_k * sqrt(1 + 1/k)`` covers one new setting's delta, hence (wider
    than its true effect needs) its true effect with at least the stated level. Measured in
    ``benchmarks/calibration.py``: the mean's interval 94-97%, the prediction at least 94.7% (up to
    99.7% when the settings do not differ); the inverse-variance Hartung-Knapp-Sidik-Jonkman interval
    covered 88-94% at 3 seeds (its weights treat sd^2/n from 3 seeds as known), so it is not used.
    Fewer than :data:`MIN_NEW_SETTING` settings: NaN (the design cannot speak for a new setting).
    """
    delta = np.asarray(delta, dtype=float)
    k = delta.shape[-1]
    mean = delta.mean(axis=-1)
    if k < MIN_NEW_SETTING:
        nan = np.full(np.shape(mean), np.nan)
        return NewSetting(nan, nan, nan, nan, nan)
    s = delta.std(axis=-1, ddof=1)
    q = float(_st.t.ppf(0.5 + level / 2, k - 1))
    half, pred = q * s / math.sqrt(k), q * s * math.sqrt(1 + 1 / k)
    return NewSetting(mean, mean - half, mean + half, mean - pred, mean + pred)


def heterogeneity(delta, variance) -> tuple[float, float]:
    """(tau^2, I^2) of the settings: DerSimonian-Laird (statsmodels ``combine_effects``), truncated at 0 as DL
    define it (statsmodels does not truncate). Descriptive: how much the settings disagree beyond seed noise."""
    e, v = np.asarray(delta, dtype=float), np.asarray(variance, dtype=float)
    ok = np.isfinite(e) & np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = combine_effects(e[ok], v[ok], method_re="dl")
    return (float(res.tau2), float(res.i2)) if res.tau2 > 0 else (0.0, 0.0)
