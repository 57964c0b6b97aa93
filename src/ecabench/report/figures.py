"""Report figures (seaborn on matplotlib's Agg backend), each saved as PNG and SVG.

Which figures a study gets is decided from the plan alone (:func:`figure_kinds`), so the list of
files is known before any run finishes (:func:`figure_paths`, for Snakemake's ``report()``). A figure
whose data is missing (no completed run yet) is still written, as a placeholder that says so.

File names: ``<out_dir>/figures/<study>__<kind>.png`` and ``.svg`` with kinds

* ``accuracy_vs_cost``   every study: top-1 vs params / MACs / inference throughput, Pareto front;
* ``accuracy_vs_k``      ``kernel`` studies (or any study whose runs vary an integer k);
* ``gamma_b_heatmap``    ``gamma_b`` studies (or runs varying both gamma and b): accuracy and k;
* ``odd_vs_even``        ``odd_rule`` studies (or runs with both odd=True and odd=False);

(study kinds may also be written ``eca_kernel``, ``eca_gamma_b``, ``eca_odd_rule``.)
* ``training_curves``    every study: validation top-1 and training loss per epoch.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed, ever
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ecabench.analysis import paired as stats  # noqa: E402
from ecabench.analysis.variant_table import eca_rule_view  # noqa: E402
from ecabench.report.layout import FORMATS, KINDS, figure_kinds, figure_paths, figure_stem  # noqa: E402,F401
from ecabench.util import atomic_write  # noqa: E402

CAPTIONS = {
    "accuracy_vs_cost": "Test top-1 (mean over seeds, bars: 95% CI) against total parameters, MACs and measured "
                        "inference throughput (relative to the baseline, all architectures timed together in "
                        "alternating rounds; bars: 95% CI of the median ratio); the dashed line joins the "
                        "Pareto-optimal variants (cheaper or faster and more accurate than every other).",
    "accuracy_vs_k": "Test top-1 against a fixed ECA kernel size k (mean over seeds, bars: 95% CI). The adaptive "
                     "choice is the horizontal line (band: its 95% CI) and, where it picks one k on every stage, "
                     "the star; the grey dotted line is the baseline.",
    "gamma_b_heatmap": "Adaptive ECA over the γ×b grid: mean test top-1 (left) and the kernel sizes the rule "
                       "produces per stage (right; colour: mean k over stages).",
    "odd_vs_even": "The odd-k rule on and off: test top-1 of every seed (dots) and mean ± std, per γ, b; the labels "
                   "give the per-stage k each rule produces.",
    "training_curves": "Validation top-1 and training loss per epoch (mean over the completed seeds, band: ±1 std); "
                       "runs that diverged or failed are drawn individually as dashed lines with crosses.",
}
# --------------------------------------------------------------------------------------- saving
def _theme() -> None:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)
    plt.rcParams["svg.hashsalt"] = "ecabench"  # reproducible SVG ids


def save(fig, stem: Path) -> dict[str, Path]:
    """PNG + SVG, each written atomically (no half-written figure); no date or software version in
    the metadata, so an unchanged figure is byte-identical and does not retrigger downstream jobs."""
    out = {}
    for fmt in FORMATS:
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        out[fmt] = atomic_write(Path(stem).with_suffix(f".{fmt}"), lambda tmp, fmt=fmt, meta=meta: fig.savefig(
            tmp, format=fmt, dpi=110, bbox_inches="tight", metadata=meta), suffix=f".{fmt}")
    plt.close(fig)
    return out


def _finish(fig, stem: Path, title: str) -> dict[str, Path]:
    """Every figure ends the same way: the study's title on top, tight layout, PNG + SVG."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, stem)


def placeholder(stem: Path, title: str, text: str) -> dict[str, Path]:
    _theme()
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11, color="0.35")
    return save(fig, stem)


def palette(specs: list[str]) -> dict[str, Any]:
    colours = sns.color_palette("tab10" if len(specs) <= 10 else "husl", max(len(specs), 1))
    return {s: colours[i] for i, s in enumerate(specs)}


def _groups(df: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(df["backbone"], df["dataset"])))


def _half_ci(vt: pd.DataFrame) -> np.ndarray:
    """(2, n) error-bar lengths below and above the mean (the CI may be cut at the metric's range)."""
    lo = (vt["top1_mean"] - vt["top1_ci_low"]).to_numpy(dtype=float)
    hi = (vt["top1_ci_high"] - vt["top1_mean"]).to_numpy(dtype=float)
    return np.vstack([np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0)])


# ------------------------------------------------------------------------------------- figures
COST_AXES = (("params_total", "parameters", True), ("macs", "MACs (fvcore, per image)", True),
             ("inference_images_per_s", "inference throughput (images/s)", False))


def _cost_axes(g: pd.DataFrame) -> tuple:
    """The relative throughput (timed in alternating rounds with the plain backbone) replaces absolute
    images/s when every measured variant has it: it is the figure equal-cost variants agree on."""
    if "throughput_rel_baseline" in g:
        measured = g[np.isfinite(g["inference_images_per_s"].astype(float))]
        if len(measured) and np.isfinite(measured["throughput_rel_baseline"].astype(float)).all():
            return COST_AXES[:2] + (("throughput_rel_baseline", "inference throughput / baseline (bars: 95% CI)",
                                     False),)
    return COST_AXES


def _cost_panel(ax, g: pd.DataFrame, axis: tuple, pal: dict) -> None:
    """Top-1 against one cost: CI bars, the variants named, the Pareto front dashed."""
    col, label, minimise = axis
    d = g[np.isfinite(g[col].astype(float))]
    ax.set_xlabel(label)
    ax.set_ylabel("test top-1 (%)")
    if d.empty:
        ax.text(0.5, 0.5, f"{label}: not measured", transform=ax.transAxes, ha="center", color="0.4")
        return
    xerr = None
    if col == "throughput_rel_baseline":  # the 95% CI of the median within-round ratio
        xerr = np.vstack([(d[col] - d["throughput_rel_ci_low"]).clip(lower=0).to_numpy(float),
                          (d["throughput_rel_ci_high"] - d[col]).clip(lower=0).to_numpy(float)])
    ax.errorbar(d[col], d["top1_mean"], yerr=_half_ci(d), xerr=xerr, fmt="none", ecolor="0.6", elinewidth=1,
                capsize=3)
    sns.scatterplot(data=d, x=col, y="top1_mean", hue="spec", palette=pal, s=70, ax=ax, legend=False,
                    edgecolor="black", linewidth=0.5)
    for _, r in d.iterrows():
        ax.annotate(r["spec"], (r[col], r["top1_mean"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = stats.pareto_front(d, col, "top1_mean", minimise_x=minimise)
    if len(front) >= 1:
        ax.plot(front[col], front["top1_mean"], "--", color="crimson", lw=1.2, zorder=0, label="Pareto front")
        ax.legend(loc="lower right", fontsize=8)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)


def accuracy_vs_cost(vt: pd.DataFrame, stem: Path, title: str = "") -> dict[str, Path]:
    ok = vt[np.isfinite(vt["top1_mean"].astype(float))]
    if ok.empty:
        return placeholder(stem, title, "no completed runs yet: nothing to plot")
    _theme()
    groups = _groups(ok)
    pal = palette(list(dict.fromkeys(vt["spec"])))
    fig, axes = plt.subplots(len(groups), 3, figsize=(15, 4.3 * len(groups)), squeeze=False)
    for gi, (backbone, dataset) in enumerate(groups):
        g = ok[(ok["backbone"] == backbone) & (ok["dataset"] == dataset)].reset_index(drop=True)
        for ai, axis in enumerate(_cost_axes(g)):
            axes[gi][ai].set_title(f"{backbone} / {dataset}", fontsize=10)
            _cost_panel(axes[gi][ai], g, axis, pal)
    return _finish(fig, stem, title)


def _is_int_text(s: Any) -> bool:
    return isinstance(s, str) and s.isdigit()


def _fixed_k(series: pd.Series) -> pd.Series:
    """Boolean mask: k given as one integer (works on empty and Arrow-string columns too)."""
    return pd.Series([_is_int_text(str(x)) for x in series], index=series.index, dtype=bool)


def _uniform_k(k_per_stage: Any) -> int | None:
    ks = {int(x) for x in str(k_per_stage).replace("/", ",").split(",") if x.strip().isdigit()}
    return ks.pop() if len(ks) == 1 else None


def _fixed_points(g: pd.DataFrame) -> pd.DataFrame:
    """The fixed-k variants of one group with an integer column ``k``, sorted by k.

    A variant that is the same architecture as a fixed-k spec (eca = eca(k=3) on ResNet-20) is that point.
    """
    fixed = g[_fixed_k(g["k_param"])].copy()
    fixed["k"] = fixed["k_param"].astype(int)
    for _, r in g[~_fixed_k(g["k_param"]) & (g["variant"] == "eca")].iterrows():
        k = _uniform_k(r["k_per_stage"])
        if k is not None and f"eca(k={k})" in str(r["same_architecture_as"]) and k not in set(fixed["k"]):
            fixed = pd.concat([fixed, r.to_frame().T.assign(k=k)], ignore_index=True)
    fixed["k"] = fixed["k"].astype(int)
    return fixed.sort_values("k")


def _k_reference_lines(ax, g: pd.DataFrame) -> list[int]:
    """The baseline (dotted), the adaptive rule (dashed, band: CI) and other ECA settings as horizontal
    lines, with a star at k where a setting uses one k on every stage; returns those k."""
    others_pal = sns.color_palette("Set2", 8)
    ci, stars = 0, []
    for _, r in g[~_fixed_k(g["k_param"])].iterrows():
        if r.get("alias_of"):  # another name for a variant drawn already
            continue
        if r["is_baseline"] or r["variant"] == "none":
            ax.axhline(r["top1_mean"], color="0.45", ls=":", lw=1.4, label=f"{r['spec']} (baseline)")
            continue
        if r["variant"] != "eca":
            continue
        adaptive = r["k_param"] in ("adaptive", "")
        colour = "crimson" if adaptive else others_pal[ci % 8]
        ci += not adaptive
        ax.axhline(r["top1_mean"], color=colour, ls="--" if adaptive else "-.", lw=1.4,
                   label=f"{r['spec']} (k={r['k_per_stage'] or '?'})")
        if np.isfinite(r["top1_ci_low"]):
            ax.axhspan(r["top1_ci_low"], r["top1_ci_high"], color=colour, alpha=0.08)
        k = _uniform_k(r["k_per_stage"])
        if k is not None:
            ax.plot([k], [r["top1_mean"]], marker="*", ms=16, color=colour, mec="black", ls="none", zorder=5)
            stars.append(k)
    return stars


def accuracy_vs_k(vt: pd.DataFrame, stem: Path, title: str = "") -> dict[str, Path]:
    vt = eca_rule_view(vt)
    ok = vt[np.isfinite(vt["top1_mean"].astype(float))]
    alias_of_fixed = ok["same_architecture_as"].astype(str).str.contains(r"eca\(k=\d+\)").astype(bool)
    fixed_all = ok[_fixed_k(ok["k_param"]) | alias_of_fixed]
    if fixed_all.empty:
        return placeholder(stem, title, "no completed fixed-k runs yet: nothing to plot")
    _theme()
    groups = _groups(fixed_all)
    fig, axes = plt.subplots(1, len(groups), figsize=(6.2 * len(groups), 4.4), squeeze=False)
    for gi, (backbone, dataset) in enumerate(groups):
        ax = axes[0][gi]
        g = ok[(ok["backbone"] == backbone) & (ok["dataset"] == dataset)]
        fixed = _fixed_points(g)
        ax.errorbar(fixed["k"], fixed["top1_mean"], yerr=_half_ci(fixed), fmt="o-", color="tab:blue", capsize=4,
                    label="fixed k (mean, 95% CI)")
        ks = [fixed["k"].min(), fixed["k"].max(), *_k_reference_lines(ax, g)]
        ax.set_xticks(range(int(min(ks)), int(max(ks)) + 1))
        ax.set_xlabel("ECA kernel size k (same on every stage)")
        ax.set_ylabel("test top-1 (%)")
        ax.set_title(f"{backbone} / {dataset}", fontsize=10)
        ax.legend(fontsize=7.5, loc="best")
    return _finish(fig, stem, title)


def _mean_k(s: str) -> float:
    vals = [int(x) for x in str(s).replace("/", ",").split(",") if x.strip().isdigit()]
    return float(np.mean(vals)) if vals else math.nan


def gamma_b_heatmap(vt: pd.DataFrame, stem: Path, title: str = "") -> dict[str, Path]:
    vt = eca_rule_view(vt)
    d = vt[(vt["variant"] == "eca") & vt["k_param"].isin(["adaptive", ""]) & np.isfinite(vt["gamma"].astype(float))
           & np.isfinite(vt["b"].astype(float))].copy()
    if d.empty:
        return placeholder(stem, title, "no adaptive-ECA variants with γ and b in this study")
    _theme()
    d["odd_label"] = d["odd"].map(lambda o: "" if o is None or (isinstance(o, float) and math.isnan(o))
                                  else ("odd rule" if o else "no odd rule"))
    panels = list(dict.fromkeys(zip(d["backbone"], d["dataset"], d["odd_label"])))
    fig, axes = plt.subplots(len(panels), 2, figsize=(13, 4.6 * len(panels)), squeeze=False)
    for pi, (backbone, dataset, odd) in enumerate(panels):
        g = d[(d["backbone"] == backbone) & (d["dataset"] == dataset) & (d["odd_label"] == odd)]
        g = g.assign(gamma=g["gamma"].map(lambda x: f"{x:g}"), b=g["b"].map(lambda x: f"{x:g}"))
        order_g = sorted(set(g["gamma"]), key=float)
        order_b = sorted(set(g["b"]), key=float)
        acc = g.pivot_table(index="gamma", columns="b", values="top1_mean", aggfunc="mean", dropna=False)
        acc = acc.reindex(index=order_g, columns=order_b)
        kstr = g.pivot_table(index="gamma", columns="b", values="k_per_stage", aggfunc="first")
        kstr = kstr.reindex(index=order_g, columns=order_b)
        kmean = kstr.apply(lambda col: col.map(_mean_k)).astype(float)
        name = f"{backbone} / {dataset}" + (f" ({odd})" if odd else "")
        ax = axes[pi][0]
        if acc.notna().any().any():
            sns.heatmap(acc, annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": "test top-1 (%)"})
        else:
            ax.text(0.5, 0.5, "no completed runs yet", transform=ax.transAxes, ha="center")
        ax.set_title(f"{name}: mean test top-1 (%)", fontsize=10)
        ax.set_ylabel("γ")
        ax = axes[pi][1]
        annot = kstr.reindex_like(kmean).fillna("").astype(str).to_numpy()
        sns.heatmap(kmean, annot=annot, fmt="", cmap="mako_r", ax=ax, cbar_kws={"label": "mean k over stages"},
                    annot_kws={"fontsize": 8})
        ax.set_title(f"{name}: resulting k per stage", fontsize=10)
        ax.set_ylabel("γ")
    return _finish(fig, stem, title)


RULES = ("odd (round even t up)", "even allowed (t as is)")


def _setting(r: pd.Series) -> str:
    """The rule's inputs that the odd/even pair shares (γ, b, fixed k), as the x label."""
    parts = []
    if np.isfinite(r["gamma"]):
        parts.append(f"γ={r['gamma']:g}")
    if np.isfinite(r["b"]):
        parts.append(f"b={r['b']:g}")
    if r["k_param"] not in ("adaptive", ""):
        parts.append(f"k={r['k_param']}")
    return ", ".join(parts) or r["spec"]


def _odd_even_panel(ax, g: pd.DataFrame, pal: dict) -> None:
    """Every seed as a dot and mean ± std per rule, the per-stage k of each rule under its setting."""
    order = list(dict.fromkeys(g["setting"]))
    sns.stripplot(data=g, x="setting", y="value", hue="rule", hue_order=list(RULES), order=order, dodge=True,
                  palette=pal, alpha=0.55, ax=ax, legend=False)
    sns.pointplot(data=g, x="setting", y="value", hue="rule", hue_order=list(RULES), order=order, dodge=0.4,
                  errorbar="sd", palette=pal, markers="D", linestyles="none", capsize=0.05, ax=ax)
    labels = []
    for s in order:
        ks = [f"{'odd' if o else 'even'}: {k or '?'}" for o, k in
              g[g["setting"] == s].drop_duplicates("odd")[["odd", "k_per_stage"]].itertuples(index=False)]
        labels.append(s + "\n" + "\n".join(sorted(ks, reverse=True)))
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(labels, fontsize=7.5)
    ax.set_xlabel("")
    ax.set_ylabel("test top-1 (%)")
    ax.legend(fontsize=8, loc="best")


def odd_vs_even(runs: pd.DataFrame, stem: Path, title: str = "", metric: str = "test_top1_pct") -> dict[str, Path]:
    """``runs``: the study's tidy rows."""
    runs = eca_rule_view(runs)
    d = runs[(runs["metric"] == metric) & (runs["status"] == "ok") & runs["odd"].notna()
             & np.isfinite(runs["value"].astype(float))].drop_duplicates("run_id").copy()
    if d.empty:
        return placeholder(stem, title, "no completed odd/even runs yet: nothing to plot")
    _theme()
    d["rule"] = d["odd"].map(lambda o: RULES[0] if bool(o) else RULES[1])
    d["setting"] = d.apply(_setting, axis=1)
    groups = _groups(d)
    width = max(6.5, 2.4 * d["setting"].nunique())
    fig, axes = plt.subplots(1, len(groups), figsize=(width * len(groups), 4.8), squeeze=False)
    pal = dict(zip(RULES, sns.color_palette("Set1", 2)))
    for gi, (backbone, dataset) in enumerate(groups):
        axes[0][gi].set_title(f"{backbone} / {dataset}", fontsize=10)
        _odd_even_panel(axes[0][gi], d[(d["backbone"] == backbone) & (d["dataset"] == dataset)], pal)
    return _finish(fig, stem, title)


CURVE_PANELS = (("val_top1_pct", "validation top-1 (%)"), ("train_loss", "training loss"))


def _completed_curves(ax, ok: pd.DataFrame, specs: list[str], pal: dict, legend: bool) -> None:
    """Mean ± 1 sd over the completed seeds, with markers and error bars, so a one-epoch sweep still
    shows its points and spread."""
    single = ok["epoch"].nunique() == 1
    sns.lineplot(data=ok, x="epoch", y="value", hue="spec", hue_order=[s for s in specs if s in set(ok["spec"])],
                 palette=pal, errorbar="sd", marker="o", err_style="bars" if single else "band", ax=ax, legend=legend)
    epochs = sorted(int(e) for e in ok["epoch"].dropna().unique())
    if len(epochs) <= 12:
        ax.set_xticks(epochs)
    if single:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)


def _curve_panel(ax, m: pd.DataFrame, label: str, specs: list[str], pal: dict, legend: bool) -> None:
    """One metric of one group: completed runs aggregated, diverged or failed runs drawn one by one."""
    if m.empty:
        ax.text(0.5, 0.5, f"{label}: not recorded", transform=ax.transAxes, ha="center", color="0.4")
        return
    ok = m[m["status"] == "ok"] if "status" in m else m
    if not ok.empty:
        _completed_curves(ax, ok, specs, pal, legend)
    bad = m[m["status"] != "ok"] if "status" in m else m.iloc[0:0]
    for (_, spec, seed, status), run in bad.groupby(["run_id", "spec", "seed", "status"], sort=False):
        run = run.sort_values("epoch")
        ax.plot(run["epoch"], run["value"], ls="--", lw=1, marker="x", color=pal.get(spec, "0.3"),
                label=f"{spec} seed {seed} ({status})")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="best", title=None)


def training_curves(curves: pd.DataFrame | None, run_ids: list[str] | dict[str, str], stem: Path, title: str = "",
                    spec_order: list[str] | None = None) -> dict[str, Path]:
    """``run_ids``: the study's runs, or {run_id: the study's spec label} to name lines as the study does."""
    if curves is None or curves.empty:
        return placeholder(stem, title, "no training curves available")
    d = curves[curves["run_id"].isin(set(run_ids)) & curves["metric"].isin([m for m, _ in CURVE_PANELS])]
    if isinstance(run_ids, dict):
        d = d.assign(spec=d["run_id"].map(run_ids).fillna(d["spec"]))
    d = d[np.isfinite(d["value"].astype(float))]
    if d.empty:
        return placeholder(stem, title, "no training curves recorded for this study's runs yet")
    _theme()
    d = d.copy()
    d["epoch"] = d["epoch"].astype(int)
    groups = _groups(d)
    specs = [s for s in (spec_order or []) if s in set(d["spec"])] + sorted(set(d["spec"]) - set(spec_order or []))
    pal = palette(specs)
    fig, axes = plt.subplots(len(groups), 2, figsize=(13, 4.0 * len(groups)), squeeze=False)
    for gi, (backbone, dataset) in enumerate(groups):
        g = d[(d["backbone"] == backbone) & (d["dataset"] == dataset)]
        for ai, (metric, label) in enumerate(CURVE_PANELS):
            ax = axes[gi][ai]
            _curve_panel(ax, g[g["metric"] == metric], label, specs, pal, legend=ai == 0)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_ylabel(label)
            ax.set_title(f"{backbone} / {dataset}", fontsize=10)
    return _finish(fig, stem, title)
