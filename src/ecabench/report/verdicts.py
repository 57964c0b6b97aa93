"""The report's verdict across settings: one study's per-seed accuracies -> the analysis layer's tables, formatted.

Every (backbone, dataset) a study ran is one setting; the per-seed paired differences of all of them
answer "does this variant help, across backbones?" (:mod:`ecabench.analysis.across`). This module asks
the analysis layer once per study (:func:`_analyse`) and only formats and writes what it returns:
``tables/<study>__across_settings.*`` (one row per variant against the baseline),
``tables/<study>__pairwise.*`` (every pair of variants, per setting and averaged), ``<study>__omnibus``
for a design study, figures ``<study>__cd_diagram`` and ``<study>__forest`` (every variant in one plot).
"""
from __future__ import annotations

import pandas as pd

from ecabench.analysis import across, omnibus, ranks
from ecabench.report import verdict_figures
from ecabench.report.formatting import MISSING, fmt_ci, fmt_num, fmt_p, fmt_signed, is_missing
from ecabench.report.layout import file_links, rel_path, safe_name
from ecabench.report.writers import write_table

__all__ = ["per_seed", "verdict_section", "omnibus_words", "stage1_by_setting"]

# A design study's factor, as its omnibus answer names it (study kinds of ablations/*.yaml).
DESIGN_FACTORS = {"kernel": "k", "gamma_b": "γ and b", "odd_rule": "the odd rule"}
PLAIN = "none"  # the plain backbone: a reference of design studies, not a level of their factor


def per_seed(sdf: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``setting, seed, variant, value`` of the study's completed runs (one row per run)."""
    ok = sdf[(sdf["metric"] == metric) & (sdf["status"] == "ok")].drop_duplicates("run_id")
    return pd.DataFrame({"setting": ok["backbone"].astype(str) + "/" + ok["dataset"].astype(str),
                         "seed": ok["seed"].astype(int), "variant": ok["spec"].astype(str),
                         "value": ok["value"].astype(float)}).reset_index(drop=True)


def stage1_by_setting(decision: dict | None) -> dict | None:
    """``{setting: stage-1 seeds}`` of a two-stage study's decision (its intervals are Stein's); None without one."""
    if not decision:
        return None
    return {f"{s['backbone']}/{s['dataset']}": list(decision["stage1_seeds"]) for s in decision["settings"]}


def _analyse(seeds: pd.DataFrame, baseline: str | None, kind: str, ctx: dict, stage1: dict | None) -> dict:
    """Every statistic the section shows, from the analysis layer, as raw tables."""
    out = {"pairwise": across.pairwise(seeds, stage1=stage1), "across": None, "omnibus": None, "nemenyi": None}
    if kind in DESIGN_FACTORS:
        levels = seeds[seeds["variant"] != PLAIN]
        out["omnibus"] = pd.DataFrame([{**dict(zip(("backbone", "dataset"), str(s).partition("/")[::2])),
                                        **omnibus.omnibus(g)} for s, g in levels.groupby("setting", sort=False)])
    if baseline is not None and baseline in set(seeds["variant"]):
        out["across"] = across.across_settings(seeds, baseline, rope=ctx["rope"], seed=0,
                                               bayes_samples=ctx["bayes_samples"], stage1=stage1)
        out["nemenyi"] = ranks.nemenyi(seeds)
    return out


def _with_ci(x, lo, hi, signed: bool = True) -> str:
    """"-1.71 [-2.26, -1.15]", or "–" when there is no estimate."""
    if is_missing(x):
        return MISSING
    return f"{fmt_signed(x) if signed else fmt_num(x)} {fmt_ci(lo, hi, signed=signed)}"


def _wins(r) -> str:
    n = int(r["wins"] + r["ties"] + r["losses"])
    return MISSING if not n else f"{int(r['wins'])}/{n}" + (f" ({int(r['ties'])} ties)" if r["ties"] else "")


def format_across(raw: pd.DataFrame) -> pd.DataFrame:
    """The across-settings table in words and intervals; a column only where the design can fill it."""
    rows = []
    for _, r in raw.iterrows():
        row = {"Variant": r["variant"], "vs": r["baseline"], "Settings": str(int(r["settings"])),
               "Pairs": str(int(r["n_pairs"])),
               "Average Δ [95% CI]": _with_ci(r["avg_delta"], r["avg_ci_low"], r["avg_ci_high"]),
               "New setting [≥95% prediction]": (MISSING if is_missing(r["new_pi_low"])
                                                 else fmt_ci(r["new_pi_low"], r["new_pi_high"], signed=True)),
               "Wins": _wins(r), "P(better on a seed) [≥95%]": fmt_ci(r["win_ci_low"], r["win_ci_high"]),
               "Mean rank": fmt_num(r["mean_rank"]), "p Wilcoxon (Holm)": fmt_p(r["p_holm"]),
               f"P(worse/±{r['rope']:g}/better)": f"{fmt_num(r['bayes_worse'])} / {fmt_num(r['bayes_rope'])} / "
                                                 f"{fmt_num(r['bayes_better'])}"}
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out) and (out["New setting [≥95% prediction]"] == MISSING).all():
        out = out.drop(columns="New setting [≥95% prediction]")
    return out


def _format_pairwise(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"], "A": raw["a"], "B": raw["b"],
        "Δ A − B": [fmt_signed(x) for x in raw["delta"]],
        "95% CI": [fmt_ci(lo, hi, signed=True) for lo, hi in zip(raw["ci_low"], raw["ci_high"])],
        "p (Holm)": [fmt_p(p) for p in raw["p_holm"]], "n": [MISSING if is_missing(n) else str(int(n))
                                                            for n in raw["n"]],
    }) if len(raw) else raw


def _format_omnibus(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"], "Test": raw["test"],
        "Statistic": [fmt_num(x) for x in raw["statistic"]], "p": [fmt_p(p) for p in raw["p_value"]],
        "Levels": raw["levels"].astype(str), "n": raw["n"].astype(str),
        "Largest gap [simultaneous CI]": [f"{a} − {b}: {_with_ci(x, lo, hi)}" if a else MISSING
                                          for a, b, x, lo, hi in zip(raw["gap_a"], raw["gap_b"], raw["largest_gap"],
                                                                     raw["gap_ci_low"], raw["gap_ci_high"])],
        "MDE (80% power)": [fmt_num(x) for x in raw["mde"]], "Note": raw["note"].fillna(""),
    }) if len(raw) else raw


CAPTIONS = {
    "cd_diagram": "Critical-difference diagram (Demšar 2006): mean rank of each variant over the (setting, seed) "
                  "blocks where all ran (1 = most accurate); variants joined by a bar are not told apart by the "
                  "Nemenyi test after the Friedman test.",
    "forest": "Forest plot: Δ top-1 against the baseline per setting with its 95% CI (paired by seed) for every "
              "variant, and below each variant's settings the average over the settings run (equal weights, "
              "Welch-Satterthwaite t interval) as a diamond; the dashed line is zero.",
}


def figure_entry(kind: str, paths: dict, ctx: dict) -> dict:
    return {"kind": kind, "caption": CAPTIONS[kind], "png": paths["png"], "src": rel_path(paths["png"], ctx["out_dir"]),
            "files": file_links(paths, ctx["out_dir"])}


def _figures(name: str, title: str, raw: pd.DataFrame, nemenyi, baseline: str, ctx: dict) -> list:
    stem = ctx["out_dir"] / "figures" / f"{safe_name(name)}__"
    forest = verdict_figures.forest_plot(raw.attrs["per_setting"], raw, f"{stem}forest", f"{title}: vs {baseline}")
    cd = verdict_figures.cd_diagram(nemenyi, f"{stem}cd_diagram", f"{title}: mean ranks")
    return [figure_entry("forest", forest, ctx), figure_entry("cd_diagram", cd, ctx)]


def omnibus_words(r: dict, factor: str) -> str:
    """The omnibus answer in words: the factor matters, or no detectable effect and the smallest detectable gap."""
    if not isinstance(r.get("p_value"), float) or pd.isna(r["p_value"]):
        return f"cannot tell whether {factor} matters ({r.get('note') or 'no test'})."
    test = f"{r['test']} p = {fmt_p(r['p_value'])}, {r['levels']} levels, n = {r['n']} seeds"
    gap = (f"largest gap {r['gap_a']} − {r['gap_b']} {_with_ci(r['largest_gap'], r['gap_ci_low'], r['gap_ci_high'])} "
           f"(post hoc: {100 * r['gap_level']:.1f}% CI, simultaneous over the pairs)" if r.get("gap_a") else "")
    if r["p_value"] < 0.05:
        return f"{factor} matters ({test}; {gap})."
    return (f"no detectable effect of {factor} ({test}); smallest detectable gap {fmt_num(r['mde'])} points "
            f"at 80% power{'; ' + gap if gap else ''}.")


def best_module_words(seeds: pd.DataFrame, pw: pd.DataFrame, exclude: set) -> str:
    """The most accurate attention module (mean top-1 over every setting and seed) and its paired margin
    over the runner-up: averaged over settings, or the one setting's when only one was run."""
    means = seeds[~seeds["variant"].isin(exclude)].groupby("variant")["value"].mean().sort_values(ascending=False)
    if len(means) < 2:
        return ""
    best, second = means.index[0], means.index[1]
    pair = pw[((pw["a"] == best) & (pw["b"] == second)) | ((pw["a"] == second) & (pw["b"] == best))]
    hit, where = pair[pair["backbone"] == "all"], "averaged over the settings"
    if (hit.empty or pd.isna(hit["delta"].iloc[0])) and (pair["backbone"] != "all").sum() == 1:
        hit, where = pair[pair["backbone"] != "all"], f"on {pair['setting'].iloc[0]}"
    if hit.empty or pd.isna(hit["delta"].iloc[0]):
        return f"best attention module {best} (runner-up {second}); no paired margin could be computed"
    r = hit.iloc[0]
    sign = 1 if r["a"] == best else -1
    lo, hi = sorted((sign * r["ci_low"], sign * r["ci_high"]))
    noise = "inside the noise" if lo <= 0 <= hi else "beyond the noise"
    return (f"the most accurate attention module is {best}, {_with_ci(sign * r['delta'], lo, hi)} points over "
            f"{second} {where} (Holm p = {fmt_p(r['p_holm'])}, n = {int(r['n'])} pairs) — {noise}")


def study_sentence(title: str, raw: pd.DataFrame | None, omni: pd.DataFrame | None, factor: str, extra: str) -> str:
    """The study's answer in one sentence for the first screen ("" when it has nothing across settings)."""
    if omni is not None and len(omni):
        parts = [f"{r['backbone']}/{r['dataset']}: {omnibus_words(dict(r), factor).rstrip('.')}"
                 for _, r in omni.iterrows()]
        return f"{title} — " + "; ".join(parts) + "."
    if raw is None or raw.empty or (raw["settings"] < 2).all():
        return ""
    k = int(raw["settings"].max())
    deltas = ", ".join(f"{r['variant']} {_with_ci(r['avg_delta'], r['avg_ci_low'], r['avg_ci_high'])}"
                       for _, r in raw.iterrows())
    new = ("" if raw["new_pi_low"].notna().any() else
           f"; with {k} settings the design cannot speak for a new backbone")
    return (f"{title} — averaged over these {k} settings, Δ top-1 vs {raw['baseline'].iloc[0]} (95% CI): {deltas}"
            f"{new}{'; ' + extra if extra else ''}.")


def verdict_section(name: str, title: str, sdf: pd.DataFrame, baseline: str | None, ctx: dict,
                    kind: str = "other", decision: dict | None = None) -> dict:
    """Tables, figures and the study's first-screen sentence; empty without runs."""
    seeds = per_seed(sdf, ctx["metric"])
    out: dict = {"across": None, "pairwise": None, "files": [], "pairwise_files": [], "figures": [], "headline": [],
                 "omnibus": None, "answers": [], "sentence": "", "forest": None}
    if seeds.empty:
        return out
    safe, res = safe_name(name), _analyse(seeds, baseline, kind, ctx, stage1_by_setting(decision))
    tables = ctx["out_dir"] / "tables"
    if res["omnibus"] is not None:
        fmt = _format_omnibus(res["omnibus"])
        files = write_table(res["omnibus"], fmt, tables, f"{safe}__omnibus",
                            caption=f"{title}: does {DESIGN_FACTORS[kind]} matter at all?")
        out["omnibus"] = {"table": fmt, "files": file_links(files, ctx["out_dir"])}
    out["pairwise"] = _format_pairwise(res["pairwise"])
    out["pairwise_files"] = file_links(write_table(res["pairwise"], out["pairwise"], tables, f"{safe}__pairwise",
                                                   caption=f"{title}: every pair of variants, paired by seed"),
                                       ctx["out_dir"])
    raw = res["across"]
    extra = best_module_words(seeds, res["pairwise"], {PLAIN, baseline}) if kind == "zoo" else ""
    out["sentence"] = study_sentence(title, raw, res["omnibus"], DESIGN_FACTORS.get(kind, ""), extra)
    if raw is None:
        return out
    out["across"] = format_across(raw)
    out["files"] = file_links(write_table(raw, out["across"], tables, f"{safe}__across_settings",
                                          caption=f"{title}: verdict across settings vs {baseline}"), ctx["out_dir"])
    out["figures"] = _figures(name, title, raw, res["nemenyi"], baseline, ctx)
    out["forest"] = out["figures"][0] if (raw["settings"] >= 2).any() else None
    out["headline"] = [{"Study": title, **row} for row in format_across(raw[raw["settings"] >= 2]).to_dict("records")]
    out["answers"] = [across.verdict_words(r) for _, r in raw.iterrows() if r["settings"] >= 2]
    return out
