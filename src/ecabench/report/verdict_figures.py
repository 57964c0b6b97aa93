"""Figures for the across-settings verdict (same style and saving as :mod:`ecabench.report.figures`).

* :func:`cd_diagram` - critical-difference diagram (Demsar, JMLR 2006): mean ranks over (setting, seed)
  blocks, variants the Nemenyi post-hoc test cannot tell apart joined by a bar (drawn by the analysis
  layer's :func:`~ecabench.analysis.ranks.draw_critical_difference`);
* :func:`forest_plot` - every variant of a study in one figure: per-setting paired delta with its CI
  and, below each variant's settings, the equal-weight average over the settings as a diamond; zero marked.

Each writes PNG + SVG and returns ``{"png": path, "svg": path}``; without data a placeholder says why.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ecabench.analysis import ranks as _ranks
from ecabench.report.figures import _finish, _theme, placeholder, plt


def cd_diagram(ranks_and_sig, out_stem, title: str = "", *, alpha: float = 0.05) -> dict[str, Path]:
    """``ranks_and_sig``: the ``(mean_ranks, p_value_matrix)`` pair :func:`ecabench.analysis.ranks.nemenyi` returns."""
    ranks, sig = ranks_and_sig
    ranks = pd.Series(ranks, dtype=float).dropna()
    if len(ranks) < 2 or sig is None or not np.isfinite(np.asarray(sig, dtype=float)).any():
        return placeholder(Path(out_stem), title, "fewer than two variants with complete (setting, seed) blocks: "
                                                  "no ranks to compare")
    _theme()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(ranks)))
    _ranks.draw_critical_difference(ranks, sig, ax, alpha=alpha)
    ax.set_title(f"mean rank (1 = most accurate); joined: not different (Nemenyi, \u03b1 = {alpha:g})",
                 fontsize=9, color="0.3")
    return _finish(fig, Path(out_stem), title)


def _finite(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _diamond(ax, y: float, mid: float, lo: float, hi: float, colour: str, label: str | None) -> None:
    if not all(math.isfinite(v) for v in (mid, lo, hi)):
        return
    ax.fill([lo, mid, hi, mid], [y, y + 0.3, y, y - 0.3], color=colour, alpha=0.85, label=label)


def forest_plot(per_setting: pd.DataFrame, averages: pd.DataFrame, out_stem, title: str = "") -> dict[str, Path]:
    """``per_setting``: :func:`ecabench.analysis.across.per_setting` rows (``variant, setting, n, delta, ci_low,
    ci_high``); ``averages``: :func:`~ecabench.analysis.across.across_settings` rows (``variant, settings,
    avg_delta, avg_ci_low, avg_ci_high``). One block of rows per variant, its average last."""
    rows = per_setting[np.isfinite(pd.to_numeric(per_setting["delta"], errors="coerce"))] \
        if per_setting is not None and len(per_setting) else pd.DataFrame()
    if rows.empty:
        return placeholder(Path(out_stem), title, "no paired differences yet: nothing to plot")
    avg = averages.set_index("variant") if averages is not None and len(averages) else pd.DataFrame()
    variants = list(dict.fromkeys(rows["variant"]))
    n_lines = len(rows) + sum(1 for v in variants if v in avg.index and int(avg.loc[v, "settings"]) >= 2)
    _theme()
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.32 * n_lines))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    y, ticks, names = float(n_lines), [], []
    for i, v in enumerate(variants):
        colour = palette[i % len(palette)]
        for _, r in rows[rows["variant"] == v].iterrows():
            d = float(r["delta"])
            err = [[max(d - _finite(r["ci_low"]), 0.0)], [max(_finite(r["ci_high"]) - d, 0.0)]]
            ax.errorbar([d], [y], xerr=np.nan_to_num(err), fmt="o", color=colour, ecolor=colour, capsize=3)
            ticks.append(y)
            names.append(f"{v} · {r['setting']} (n={int(r['n'])})")
            y -= 1
        if v in avg.index and int(avg.loc[v, "settings"]) >= 2:
            a = avg.loc[v]
            _diamond(ax, y, _finite(a["avg_delta"]), _finite(a["avg_ci_low"]), _finite(a["avg_ci_high"]), colour, None)
            ticks.append(y)
            names.append(f"{v} · average of {int(a['settings'])} settings")
            y -= 1
    ax.axvline(0.0, color="crimson", lw=1, ls="--")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("\u0394 test top-1 (points, variant \u2212 baseline; bars and diamonds: 95% CI)")
    return _finish(fig, Path(out_stem), title)
