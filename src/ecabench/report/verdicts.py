"""The report's verdict across settings: one study's per-seed accuracies -> pooled tables, figures, words.

Every (backbone, dataset) a study ran is one setting; the per-seed paired differences of all of them
answer "does this variant help, across backbones?" (:mod:`ecabench.across_settings`). Written per
study: ``tables/<study>__across_settings.*`` (one row per variant against the baseline) and
``tables/<study>__pairwise.*`` (every pair of variants, per setting and across), figures
``<study>__cd_diagram`` and ``<study>__forest_<variant>``.
"""
from __future__ import annotations

import pandas as pd

from ecabench import across_settings as across
from ecabench.report import verdict_figures
from ecabench.report.formatting import MISSING, fmt_ci, fmt_num, fmt_p, fmt_signed, is_missing
from ecabench.report.layout import file_links, rel_path, safe_name
from ecabench.report.writers import write_table

__all__ = ["per_seed", "verdict_section"]


def per_seed(sdf: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``setting, seed, variant, value`` of the study's completed runs (one row per run)."""
    ok = sdf[(sdf["metric"] == metric) & (sdf["status"] == "ok")].drop_duplicates("run_id")
    return pd.DataFrame({"setting": ok["backbone"].astype(str) + "/" + ok["dataset"].astype(str),
                         "seed": ok["seed"].astype(int), "variant": ok["spec"].astype(str),
                         "value": ok["value"].astype(float)}).reset_index(drop=True)


def _with_ci(x, lo, hi, signed: bool = True) -> str:
    """"-1.71 [-2.26, -1.15]", or "–" when there is no estimate."""
    if is_missing(x):
        return MISSING
    return f"{fmt_signed(x) if signed else fmt_num(x)} {fmt_ci(lo, hi, signed=signed)}"


def _format_across(raw: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in raw.iterrows():
        rows.append({
            "Variant": r["variant"], "vs": r["baseline"], "Settings": str(int(r["settings"])),
            "Pairs": str(int(r["n_pairs"])),
            "Pooled Δ (fixed) [95% CI]": _with_ci(r["pooled_delta"], r["pooled_ci_low"], r["pooled_ci_high"]),
            "New backbone (random) [95% CI]": _with_ci(r["re_delta"], r["re_ci_low"], r["re_ci_high"]),
            "I²": MISSING if is_missing(r["i2"]) else f"{100 * r['i2']:.0f}%", "τ²": fmt_num(r["tau2"], 3),
            "P(better on a seed) [95% CI]": _with_ci(r["p_improve"], r["p_improve_ci_low"], r["p_improve_ci_high"],
                                                     signed=False),
            "Mean rank": fmt_num(r["mean_rank"]), "p Wilcoxon (Holm)": fmt_p(r["p_holm"]),
            f"P(worse) / P(±{r['rope']:g}) / P(better)": f"{fmt_num(r['p_worse'])} / {fmt_num(r['p_rope'])} / "
                                                         f"{fmt_num(r['p_better'])}",
            "Note": r["note"] or "",
        })
    return pd.DataFrame(rows)


def _format_pairwise(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"], "A": raw["a"], "B": raw["b"],
        "Δ A − B": [fmt_signed(x) for x in raw["delta"]],
        "95% CI": [fmt_ci(lo, hi, signed=True) for lo, hi in zip(raw["ci_low"], raw["ci_high"])],
        "p (Holm)": [fmt_p(p) for p in raw["p_holm"]], "n": [MISSING if is_missing(n) else str(int(n))
                                                            for n in raw["n"]],
    }) if len(raw) else raw


CAPTIONS = {
    "cd_diagram": "Critical-difference diagram (Demšar 2006): mean rank of each variant over the (setting, seed) "
                  "blocks where all ran (1 = most accurate); variants joined by a bar are not told apart by the "
                  "Nemenyi test after the Friedman test.",
    "forest": "Forest plot: Δ top-1 against the baseline per setting with its 95% CI (paired by seed), and below "
              "it the fixed-effect pooled Δ (the settings run) and the random-effects Δ (a new setting).",
}


def figure_entry(kind: str, paths: dict, ctx: dict) -> dict:
    return {"kind": kind, "caption": CAPTIONS[kind], "png": paths["png"], "src": rel_path(paths["png"], ctx["out_dir"]),
            "files": file_links(paths, ctx["out_dir"])}


def _figures(name: str, title: str, seeds: pd.DataFrame, raw: pd.DataFrame, baseline: str, ctx: dict) -> list:
    stem = ctx["out_dir"] / "figures" / f"{safe_name(name)}__cd_diagram"
    figs = [figure_entry("cd_diagram", verdict_figures.cd_diagram(seeds, stem, f"{title}: mean ranks"), ctx)]
    ps = across.per_setting(seeds, baseline) if len(seeds) else pd.DataFrame()
    for _, r in raw.iterrows():
        stem = ctx["out_dir"] / "figures" / f"{safe_name(name)}__forest_{safe_name(r['variant'])}"
        rows = ps[ps["variant"] == r["variant"]] if len(ps) else ps
        figs.append(figure_entry("forest", verdict_figures.forest_plot(rows, r, stem, f"{title}: {r['variant']} "
                                                                        f"vs {baseline}"), ctx))
    return figs


def verdict_section(name: str, title: str, sdf: pd.DataFrame, baseline: str | None, ctx: dict) -> dict:
    """Tables, figures and one headline line per variant; empty without a baseline or runs."""
    seeds = per_seed(sdf, ctx["metric"])
    out: dict = {"across": None, "pairwise": None, "files": [], "pairwise_files": [], "figures": [], "headline": []}
    if seeds.empty:
        return out
    safe = safe_name(name)
    pw = across.pairwise(seeds)
    out["pairwise"] = _format_pairwise(pw)
    out["pairwise_files"] = file_links(write_table(pw, out["pairwise"], ctx["out_dir"] / "tables", f"{safe}__pairwise",
                                                   caption=f"{title}: every pair of variants, paired by seed"),
                                       ctx["out_dir"])
    if baseline is None or baseline not in set(seeds["variant"]):
        return out
    raw = across.across_settings(seeds, baseline, rope=ctx["rope"], n_boot=ctx["n_boot"], seed=0,
                                 bayes_samples=ctx["bayes_samples"])
    out["across"] = _format_across(raw)
    out["files"] = file_links(write_table(raw, out["across"], ctx["out_dir"] / "tables", f"{safe}__across_settings",
                                          caption=f"{title}: verdict across settings vs {baseline}"), ctx["out_dir"])
    out["figures"] = _figures(name, title, seeds, raw, baseline, ctx)
    out["headline"] = [{"Study": title, "Variant": r["variant"], "vs": baseline,
                        "Pooled Δ [95% CI]": _with_ci(r["pooled_delta"], r["pooled_ci_low"], r["pooled_ci_high"]),
                        "Random effects [95% CI]": _with_ci(r["re_delta"], r["re_ci_low"], r["re_ci_high"]),
                        "P(better on a seed) [CI]": _with_ci(r["p_improve"], r["p_improve_ci_low"],
                                                             r["p_improve_ci_high"], signed=False),
                        "P(worse/≈/better)": f"{fmt_num(r['p_worse'])} / {fmt_num(r['p_rope'])} / "
                                             f"{fmt_num(r['p_better'])}",
                        "In words": across.verdict_words(r)} for _, r in raw.iterrows()]
    return out
