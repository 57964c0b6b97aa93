"""Figures for the across-settings verdict (same style and saving as :mod:`ecabench.report.figures`).

* :func:`cd_diagram` - critical-difference diagram (Demsar, JMLR 2006): mean ranks over (setting, seed)
  blocks, variants the Nemenyi post-hoc test cannot tell apart joined by a bar
  (``scikit_posthocs.critical_difference_diagram``);
* :func:`forest_plot` - per-setting paired delta with its CI, the fixed- and random-effects pooled delta
  as diamonds below, a line at zero.

Each writes PNG + SVG and returns ``{"png": path, "svg": path}``; without data a placeholder says why.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ecabench import across_settings as across
from ecabench.report.figures import _finish, _theme, placeholder, plt


def cd_diagram(ranks_or_df, out_stem, title: str = "", *, alpha: float = 0.05) -> dict[str, Path]:
    """``ranks_or_df``: a tidy per-seed frame (``setting, seed, variant, value``) or a ``(mean_ranks,
    p_value_matrix)`` pair such as :func:`ecabench.across_settings.nemenyi` returns."""
    if isinstance(ranks_or_df, pd.DataFrame):
        ranks, sig = across.nemenyi(ranks_or_df) if len(ranks_or_df) else (pd.Series(dtype=float), None)
    else:
        ranks, sig = ranks_or_df
    ranks = pd.Series(ranks, dtype=float).dropna()
    if len(ranks) < 2 or sig is None or not np.isfinite(np.asarray(sig, dtype=float)).any():
        return placeholder(Path(out_stem), title, "fewer than two variants with complete (setting, seed) blocks: "
                                                  "no ranks to compare")
    import scikit_posthocs as sp  # heavy (~1.6 s to import): the CD diagram only

    _theme()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(ranks)))
    sp.critical_difference_diagram(ranks, sig.loc[ranks.index, ranks.index], alpha=alpha, ax=ax)
    ax.set_title(f"mean rank (1 = most accurate); joined: not different (Nemenyi, \u03b1 = {alpha:g})",
                 fontsize=9, color="0.3")
    return _finish(fig, Path(out_stem), title)


def _finite(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _diamond(ax, y: float, mid: float, lo: float, hi: float, colour: str, label: str) -> None:
    if not all(math.isfinite(v) for v in (mid, lo, hi)):
        return
    ax.fill([lo, mid, hi, mid], [y, y + 0.3, y, y - 0.3], color=colour, alpha=0.85, label=label)


def forest_plot(per_setting_rows: pd.DataFrame, pooled_row, out_stem, title: str = "") -> dict[str, Path]:
    """``per_setting_rows``: :func:`ecabench.across_settings.per_setting` rows of one variant (``setting,
    delta, ci_low, ci_high``); ``pooled_row``: its :func:`~ecabench.across_settings.across_settings` row
    (``pooled_*`` and ``re_*``), or None."""
    rows = per_setting_rows[np.isfinite(pd.to_numeric(per_setting_rows["delta"], errors="coerce"))] \
        if per_setting_rows is not None and len(per_setting_rows) else pd.DataFrame()
    if rows.empty:
        return placeholder(Path(out_stem), title, "no paired differences yet: nothing to plot")
    _theme()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.4 * (len(rows) + 2)))
    y = np.arange(len(rows))[::-1] + 2.0
    d = rows["delta"].to_numpy(float)
    err = np.vstack([d - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - d])
    ax.errorbar(d, y, xerr=np.where(np.isfinite(err), err, 0.0), fmt="o", color="0.2", ecolor="0.5", capsize=3)
    labels = [f"{s} (n={n})" for s, n in zip(rows["setting"], rows["n"])]
    ticks, names = list(y), labels
    if pooled_row is not None:
        r = dict(pooled_row)
        _diamond(ax, 1.0, _finite(r.get("pooled_delta")), _finite(r.get("pooled_ci_low")),
                 _finite(r.get("pooled_ci_high")), "tab:blue", "fixed effect")
        _diamond(ax, 0.0, _finite(r.get("re_delta")), _finite(r.get("re_ci_low")), _finite(r.get("re_ci_high")),
                 "tab:orange", "random effects")
        ticks, names = ticks + [1.0, 0.0], names + ["pooled (fixed effect)", "pooled (random effects)"]
    ax.axvline(0.0, color="crimson", lw=1, ls="--")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("\u0394 test top-1 (points, variant \u2212 baseline; bars: CI)")
    return _finish(fig, Path(out_stem), title)
