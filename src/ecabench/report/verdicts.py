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


# A design study's factor, as its omnibus answer names it (study kinds of ablations/*.yaml).
DESIGN_FACTORS = {"kernel": "k", "gamma_b": "γ and b", "odd_rule": "the odd rule"}
PLAIN = "none"  # the plain backbone: a reference of design studies, not a level of their factor


def _omnibus(name: str, title: str, factor: str, seeds: pd.DataFrame, ctx: dict) -> tuple[dict, list[str]]:
    """Per setting: does the factor matter at all (Friedman over its levels on the paired seeds)?"""
    rows, words = [], []
    levels = seeds[seeds["variant"] != PLAIN]
    for setting, g in levels.groupby("setting", sort=False):
        r = across.omnibus(g)
        backbone, _, dataset = str(setting).partition("/")
        rows.append({"backbone": backbone, "dataset": dataset, **r})
        words.append(f"{title} ({backbone} / {dataset}): " + omnibus_words(r, factor))
    raw = pd.DataFrame(rows)
    fmt = pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"], "Test": raw["test"],
        "Statistic": [fmt_num(x) for x in raw["statistic"]], "p": [fmt_p(p) for p in raw["p_value"]],
        "Levels": raw["levels"].astype(str), "n": raw["n"].astype(str),
        "Largest gap [95% CI]": [f"{a} − {b}: {_with_ci(x, lo, hi)}" if a else MISSING for a, b, x, lo, hi in
                                 zip(raw["gap_a"], raw["gap_b"], raw["largest_gap"], raw["gap_ci_low"],
                                     raw["gap_ci_high"])],
        "MDE (80% power)": [fmt_num(x) for x in raw["mde"]], "Note": raw["note"].fillna(""),
    }) if len(raw) else raw
    files = file_links(write_table(raw, fmt, ctx["out_dir"] / "tables", f"{safe_name(name)}__omnibus",
                                   caption=f"{title}: does {factor} matter at all?"), ctx["out_dir"])
    return {"table": fmt, "files": files}, words


def omnibus_words(r: dict, factor: str) -> str:
    """The omnibus answer in words: the factor matters, or no detectable effect and the smallest detectable gap."""
    if not isinstance(r.get("p_value"), float) or pd.isna(r["p_value"]):
        return f"cannot tell whether {factor} matters ({r.get('note') or 'no test'})."
    test = f"{r['test']} p = {fmt_p(r['p_value'])}, {r['levels']} levels, n = {r['n']} seeds"
    gap = (f"largest gap {r['gap_a']} − {r['gap_b']} {_with_ci(r['largest_gap'], r['gap_ci_low'], r['gap_ci_high'])}"
           if r.get("gap_a") else "")
    if r["p_value"] < 0.05:
        return f"{factor} matters ({test}; {gap})."
    return (f"no detectable effect of {factor} ({test}); smallest detectable gap {fmt_num(r['mde'])} points "
            f"at 80% power{'; ' + gap if gap else ''}.")


def best_module_words(seeds: pd.DataFrame, pw: pd.DataFrame, title: str, exclude: set) -> str:
    """The most accurate attention module (mean top-1 over every setting and seed) and its paired margin
    over the runner-up: pooled over settings, or the one setting's when only one was run."""
    means = seeds[~seeds["variant"].isin(exclude)].groupby("variant")["value"].mean().sort_values(ascending=False)
    if len(means) < 2:
        return ""
    best, second = means.index[0], means.index[1]
    pair = pw[((pw["a"] == best) & (pw["b"] == second)) | ((pw["a"] == second) & (pw["b"] == best))]
    hit = pair[pair["backbone"] == "all"]
    where = "across settings"
    if (hit.empty or pd.isna(hit["delta"].iloc[0])) and (pair["backbone"] != "all").sum() == 1:
        hit, where = pair[pair["backbone"] != "all"], f"on {pair['setting'].iloc[0]}"
    if hit.empty or pd.isna(hit["delta"].iloc[0]):
        return f"{title}: best attention module {best} (runner-up {second}); no paired margin could be computed."
    r = hit.iloc[0]
    sign = 1 if r["a"] == best else -1
    lo, hi = sorted((sign * r["ci_low"], sign * r["ci_high"]))
    noise = "inside the noise" if lo <= 0 <= hi else "beyond the noise"
    return (f"{title}: best attention module {where} {best}; paired margin over the runner-up {second} "
            f"{_with_ci(sign * r['delta'], lo, hi)} points (Holm p = {fmt_p(r['p_holm'])}, n = {int(r['n'])} pairs) "
            f"— {noise}.")


def verdict_section(name: str, title: str, sdf: pd.DataFrame, baseline: str | None, ctx: dict,
                    kind: str = "other") -> dict:
    """Tables, figures and one headline line per variant; empty without a baseline or runs."""
    seeds = per_seed(sdf, ctx["metric"])
    out: dict = {"across": None, "pairwise": None, "files": [], "pairwise_files": [], "figures": [], "headline": [],
                 "omnibus": None, "answers": []}
    if seeds.empty:
        return out
    safe = safe_name(name)
    if kind in DESIGN_FACTORS:
        out["omnibus"], out["answers"] = _omnibus(name, title, DESIGN_FACTORS[kind], seeds, ctx)
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
    if kind == "zoo":
        out["answers"].append(best_module_words(seeds, pw, title, {PLAIN, baseline}))
    out["headline"] = [{"Study": title, "Variant": r["variant"], "vs": baseline,
                        "Pooled Δ [95% CI]": _with_ci(r["pooled_delta"], r["pooled_ci_low"], r["pooled_ci_high"]),
                        "Random effects [95% CI]": _with_ci(r["re_delta"], r["re_ci_low"], r["re_ci_high"]),
                        "P(better on a seed) [CI]": _with_ci(r["p_improve"], r["p_improve_ci_low"],
                                                             r["p_improve_ci_high"], signed=False),
                        "P(worse/≈/better)": f"{fmt_num(r['p_worse'])} / {fmt_num(r['p_rope'])} / "
                                             f"{fmt_num(r['p_better'])}",
                        "In words": across.verdict_words(r)} for _, r in raw.iterrows()]
    return out
