"""Per-variant statistics of one study, the odd-rule pairs, the runs that did not complete: raw tidy tables.

These are the numbers (the report writes them as CSV, and formats them as strings for its Markdown,
LaTeX and HTML tables; nothing here formats). Comparisons are made within one (backbone, dataset) group:
a variant is compared with the study's baseline on the same backbone and dataset, paired over the
seeds both completed, because for one seed both saw the same data order and backbone initialisation.
"""
from __future__ import annotations

import math

import pandas as pd

from ecabench.aggregate.columns import PARAM_PREFIX, param_columns, param_text
from ecabench.analysis import paired as stats

GROUP = ["backbone", "dataset"]
ACCURACY = "test_top1_pct"
STATIC = ("params_total", "params_attention", "macs", "elementwise_flops")
SPEED = ("inference_images_per_s", "inference_rel_none", "inference_rel_none_ci_low", "inference_rel_none_ci_high",
         "train_images_per_s", "train_rel_none", "train_rel_none_ci_low", "train_rel_none_ci_high",
         "peak_memory_inference_mb", "peak_memory_train_mb")
STATUS_ORDER = ("ok", "diverged", "failed", "missing")
POWER_TARGETS = (0.5, 1.0)  # points of top-1: how many seeds would detect a true difference this large
INCOMPLETE_COLUMNS = ["backbone", "dataset", "spec", "seed", "status", "run_id", "error"]

RAW_COLUMNS = [
    "backbone", "dataset", "spec", "spec_id", "variant", "is_baseline", "runs", "ok", "diverged", "failed",
    "missing", "n", "top1_mean", "top1_std", "top1_ci_low", "top1_ci_high", "delta_top1", "delta_std",
    "delta_ci_low", "delta_ci_high", "interval", "p_value", "p_holm", "t_stat", "n_pairs", "verdict", "note",
    "mde_80", "seeds_for_0_5", "seeds_for_1_0",
    "params_total", "params_attention", "macs", "elementwise_flops", "implementation", "inference_images_per_s",
    "throughput_rel_baseline", "throughput_rel_ci_low", "throughput_rel_ci_high", "throughput_rel_method",
    "train_images_per_s", "train_rel_baseline", "peak_memory_inference_mb", "peak_memory_train_mb",
    "k_per_stage", "parameters", "same_architecture_as", "architecture_id",
    "target_half_width", "half_width", "target_met", "max_seeds", "precision",
]  # then the tidy table's param_<name> columns of the study's variants
TARGET_MET, CAP_REACHED, TARGET_MISSED = "target met", "cap reached", "target missed"

__all__ = ["ACCURACY", "GROUP", "INCOMPLETE_COLUMNS", "RAW_COLUMNS", "STATUS_ORDER", "add_precision",
           "baseline_spec_id", "eca_rule_view", "expand_aliases", "first_value", "incomplete_runs", "odd_even_table",
           "pairing_gain", "param", "parameters_text", "primary_implementation", "run_level",
           "variant_table"]


# --------------------------------------------------------------------------------------- helpers
def first_value(values: pd.Series):
    """First value that is neither missing nor an empty string (any dtype, Arrow strings included):
    a run's identity columns are repeated on every metric row, some of which leave them empty."""
    for v in values:
        if v is None or (isinstance(v, str) and v == ""):
            continue
        try:
            if pd.isna(v):
                continue
        except (TypeError, ValueError):
            pass
        return v
    return None


def param(df: pd.DataFrame, name: str) -> pd.Series:
    """The tidy table's ``param_<name>`` column of ``df``, all missing when no variant there has the parameter."""
    col = PARAM_PREFIX + name
    return df[col] if col in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)


def parameters_text(row) -> str:
    """Every parameter of a row's spec as ``k=adaptive, gamma=2, b=1, odd=true`` (``e_lambda=0.001``),
    a per-stage list in brackets (``k=[3,5,5]``); ``""`` for a variant without parameters."""
    parts = []
    for col in param_columns(row.index):
        text = param_text(row[col])
        if text:
            parts.append(f"{col[len(PARAM_PREFIX):]}={'[' + text + ']' if ',' in text else text}")
    return ", ".join(parts)


def eca_rule_view(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with working columns for ECA's rule read from the generic parameter columns: ``k_param``
    (text: ``"adaptive"``, ``"5"``, ``"3,5,5"``; ``""`` without k), ``gamma``/``b`` (float, NaN) and
    ``odd`` (True/False, None) - what the k, γ×b and odd-rule tables and figures group by."""
    out = df.copy()
    out["k_param"] = [param_text(v) for v in param(df, "k")]
    for name in ("gamma", "b"):
        out[name] = pd.to_numeric(param(df, name), errors="coerce").astype(float)
    out["odd"] = pd.Series([None if first_value([v]) is None else bool(v) for v in param(df, "odd")],
                           index=df.index, dtype=object)
    return out


def run_level(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run of the (already filtered) tidy table: identity columns, status and parameters."""
    cols = ["run_id", "backbone", "dataset", "variant", "spec", "spec_id", "architecture_id", "seed", "status",
            "k_per_stage", "aliases", "error", "device"] + param_columns(df.columns)
    cols = [c for c in cols if c in df.columns]
    return df.drop_duplicates("run_id")[cols].reset_index(drop=True)


def baseline_spec_id(df: pd.DataFrame, baseline: str | None) -> str | None:
    """The study's baseline as a spec_id present in ``df`` (plan value, or its spec string, or ``none``)."""
    ids = set(df["spec_id"])
    if baseline is None:  # the study says it has no baseline
        return None
    if baseline:
        if baseline in ids:
            return baseline
        match = df.loc[df["spec"] == baseline, "spec_id"]
        if len(match):
            return match.iloc[0]
    if "none" in ids:
        return "none"
    hits = df.loc[df["variant"] == "none", "spec_id"]
    return hits.iloc[0] if len(hits) else None


def primary_implementation(df: pd.DataFrame) -> str:
    """The implementation the variant tables show: ``eager`` when measured, else the first one measured."""
    impls = [i for i in pd.unique(df["implementation"]) if i] if "implementation" in df else []
    return "eager" if "eager" in impls or not impls else str(impls[0])


# ------------------------------------------------------------------------------ per-variant table
def variant_table(df: pd.DataFrame, baseline: str | None = "none", metric: str = ACCURACY,
                  aliases: dict[str, list[str]] | None = None, stage1: list | None = None) -> pd.DataFrame:
    """Raw per-variant table of one study (``df``: the tidy rows of that study).

    One row per (backbone, dataset, spec_id), in the order the variants first appear, baseline first.
    Accuracy statistics use runs with status ``ok`` only; the status counts say how many runs each
    variant had of every status. The paired test is against the baseline of the same backbone and
    dataset over the seeds both completed; ``p_holm`` adjusts the p-values within a group.
    ``aliases``: extra "same architecture as" names per spec_id (e.g. from the plan). ``stage1``: the
    stage-1 seeds of a two-stage (Stein) study: its intervals are then Stein's (``paired_difference``).
    """
    if df.empty:
        return pd.DataFrame(columns=RAW_COLUMNS)
    ctx = {
        "bounds": (stats.PCT_RANGE, stats.PCT_DELTA_RANGE) if metric.endswith("_pct") else (None, None),
        "implementation": primary_implementation(df), "base_id": baseline_spec_id(df, baseline), "metric": metric,
        "stage1": stage1,
    }
    runs = run_level(df)
    study_order = list(pd.unique(runs["spec_id"]))  # plan order, the same in every group
    out = []
    for (backbone, dataset), g in df.groupby(GROUP, sort=False):
        g_runs = runs[(runs["backbone"] == backbone) & (runs["dataset"] == dataset)]
        present = set(g_runs["spec_id"])
        order = [sid for sid in study_order if sid in present]
        if ctx["base_id"] in order:
            order.remove(ctx["base_id"])
            order.insert(0, ctx["base_id"])
        gdf = pd.DataFrame(_group_rows((backbone, dataset), g, g_runs, order, ctx))
        gdf["same_architecture_as"] = _same_architecture(gdf, g_runs, aliases or {})
        _relative_throughput(gdf)
        mask = ~gdf["is_baseline"]
        if "p_value" in gdf:
            gdf.loc[mask, "p_holm"] = stats.holm(gdf.loc[mask, "p_value"].tolist())
        out.append(gdf)
    table = pd.concat(out, ignore_index=True)
    for col in RAW_COLUMNS:
        if col not in table.columns:
            table[col] = math.nan
    return table[RAW_COLUMNS + param_columns(table.columns)]


def _group_rows(key: tuple, g: pd.DataFrame, g_runs: pd.DataFrame, order: list[str], ctx: dict) -> list[dict]:
    """The rows of one (backbone, dataset) group, in ``order`` (baseline first)."""
    ok = g[(g["status"] == "ok") & (g["metric"] == ctx["metric"])]
    per_seed = {sid: ok[ok["spec_id"] == sid].dropna(subset=["value"]).drop_duplicates("run_id")
                .set_index("seed")["value"] for sid in order}
    base_id = ctx["base_id"]
    rows = []
    for sid in order:
        sr = g_runs[g_runs["spec_id"] == sid]
        counts = sr["status"].value_counts()
        summ = stats.summarise(per_seed[sid].to_numpy(), bounds=ctx["bounds"][0])
        row = {
            "backbone": key[0], "dataset": key[1],
            "spec": first_value(sr["spec"]) or sid, "spec_id": sid, "variant": first_value(sr["variant"]) or "",
            "is_baseline": sid == base_id, "runs": int(len(sr)), **{s: int(counts.get(s, 0)) for s in STATUS_ORDER},
            "n": summ.n, "top1_mean": summ.mean, "top1_std": summ.std,
            "top1_ci_low": summ.ci_low, "top1_ci_high": summ.ci_high,
        }
        row.update(_comparison(sid, per_seed[sid], per_seed.get(base_id), base_id, summ, ctx))
        row.update(_costs(g[g["spec_id"] == sid], ctx["implementation"]))
        row.update(_architecture(sr, param_columns(g_runs.columns)))
        rows.append(row)
    return rows


def _comparison(sid: str, values: pd.Series, base_values: pd.Series | None, base_id: str | None,
                summ, ctx: dict) -> dict:
    """The paired difference from the baseline (or why there is none) with its power figures."""
    if base_values is not None and sid != base_id:
        pr = stats.paired_difference(values, base_values, bounds=ctx["bounds"][1], stage1=ctx["stage1"])
        pw = stats.power(pr.delta_std, pr.n_pairs, POWER_TARGETS)
        return {"delta_top1": pr.delta_mean, "delta_std": pr.delta_std, "delta_ci_low": pr.ci_low,
                "delta_ci_high": pr.ci_high, "p_value": pr.p_value, "t_stat": pr.t_stat, "n_pairs": pr.n_pairs,
                "verdict": stats.verdict(pr), "note": pr.note or summ.note, "mde_80": pw.mde, "interval": pr.method,
                "seeds_for_0_5": pw.seeds_for[0.5], "seeds_for_1_0": pw.seeds_for[1.0]}
    if sid == base_id:
        return {"verdict": "baseline", "note": summ.note, "n_pairs": summ.n}
    if base_id is None:
        return {"verdict": "no baseline", "note": "the study has no baseline"}
    return {"verdict": "no baseline", "note": "the study's baseline has no runs on this backbone/dataset"}


def _costs(sg: pd.DataFrame, implementation: str) -> dict:
    """Counts (any source) and speed (the shown implementation only), median over the variant's rows."""
    speed = sg[sg["implementation"] == implementation] if "implementation" in sg else sg
    row = {}
    for m in STATIC + SPEED:
        src = speed if m in SPEED else sg
        vals = src.loc[src["metric"] == m, "value"].dropna()
        row[m] = float(vals.median()) if len(vals) else math.nan
    row["implementation"] = implementation
    return row


def _architecture(sr: pd.DataFrame, params: list[str]) -> dict:
    """The variant's resolved kernel sizes and its spec's parameters (``param_<name>``, missing: None)."""
    row = {col: first_value(sr[col]) or "" for col in ("k_per_stage", "architecture_id")}
    row.update({col: first_value(sr[col]) for col in params})
    row["parameters"] = parameters_text(pd.Series({col: row[col] for col in params}, dtype=object))
    return row


def _same_architecture(gdf: pd.DataFrame, g_runs: pd.DataFrame, aliases: dict[str, list[str]]) -> list[str]:
    """Per row, the other names of the same model: within the group, the caller's aliases and the plan's."""
    same = []
    for _, r in gdf.iterrows():
        names = []
        if r["architecture_id"]:
            names += [s for s, a in zip(gdf["spec"], gdf["architecture_id"]) if a == r["architecture_id"]
                      and s != r["spec"]]
        plan_aliases = (first_value(g_runs.loc[g_runs["spec_id"] == r["spec_id"], "aliases"])
                        if "aliases" in g_runs else None)
        for a in list(aliases.get(r["spec_id"], [])) + (plan_aliases or "").split(";"):
            a = a.strip() if a else a
            if a and a != r["spec"] and a not in names:
                names.append(a)
        same.append(", ".join(names))
    return same


def _relative_throughput(gdf: pd.DataFrame) -> None:
    """``throughput_rel_baseline`` (+ CI, method) and ``train_rel_baseline`` in place.

    Each measure job times every architecture with the plain backbone in alternating rounds and
    records the median within-round ratio with its 95% CI (``inference_rel_none``). Against a
    ``none`` baseline that is the figure; against another baseline it is the ratio of the two
    medians (``method`` says ``ratio of medians``; its CI is the variant's scaled by the baseline's median).
    """
    def baseline_value(col: str) -> float:
        vals = gdf.loc[gdf["is_baseline"], col].dropna() if col in gdf else pd.Series(dtype=float)
        return float(vals.iloc[0]) if len(vals) else math.nan

    for out, mode in (("throughput_rel", "inference"), ("train_rel", "train")):
        base = baseline_value(f"{mode}_rel_none")
        usable = math.isfinite(base) and base > 0
        gdf[f"{out}_baseline"] = gdf[f"{mode}_rel_none"] / base if usable else math.nan
        if out == "throughput_rel":
            for side in ("ci_low", "ci_high"):
                gdf[f"throughput_rel_{side}"] = gdf[f"inference_rel_none_{side}"] / base if usable else math.nan
            is_none = bool(gdf.loc[gdf["is_baseline"], "variant"].eq("none").any())
            gdf["throughput_rel_method"] = [
                ("interleaved" if is_none else "ratio of medians") if math.isfinite(v) else ""
                for v in gdf["throughput_rel_baseline"]]


def add_precision(vt: pd.DataFrame, decision: dict | None) -> pd.DataFrame:
    """Each comparison's precision against its study's two-stage rule, in place (NaN without a rule).

    ``half_width``: the half-width of the comparison's Stein interval (``t(n0 - 1) * s0 / sqrt(N)``, the
    interval ``variant_table`` computes when given the stage-1 seeds): "target met" when it is within the
    target - true by construction whenever the rule could run the seeds it asked for - else "cap
    reached" when the setting ran to ``max_seeds``, else "target missed" (a run failed, so fewer pairs).
    """
    if not decision or vt.empty:
        return vt
    rule = decision["rule"]
    caps = {(s["backbone"], s["dataset"]): s.get("max_seeds", rule["max_seeds"]) for s in decision["settings"]}
    capped = {key: s["n"] >= caps[key] for key, s in zip(caps, decision["settings"])}
    cols: dict[str, list] = {"target_half_width": [], "half_width": [], "target_met": [], "max_seeds": [],
                             "precision": []}
    for _, r in vt.iterrows():
        if r["is_baseline"]:
            for values in cols.values():
                values.append(None)
            continue
        half = (float(r["delta_ci_high"]) - float(r["delta_ci_low"])) / 2
        met = bool(half <= rule["half_width"] + 1e-9) if math.isfinite(half) else False
        status = TARGET_MET if met else CAP_REACHED if capped.get((r["backbone"], r["dataset"])) else TARGET_MISSED
        cap = caps.get((r["backbone"], r["dataset"]), rule["max_seeds"])
        for key, value in zip(cols, (float(rule["half_width"]), half, met, int(cap), status)):
            cols[key].append(value)
    for key, values in cols.items():
        vt[key] = pd.Series(values, index=vt.index, dtype=float if key in ("target_half_width", "half_width")
                            else object)
    return vt


def pairing_gain(vt: pd.DataFrame) -> dict:
    """How much seed variance the pairing removed: the pooled sd of single runs (over variants), the sd an
    unpaired difference would have (sqrt(2) times it), the pooled sd of the paired differences, and the
    share of a difference's variance removed. NaN where a study has too few seeds."""
    single = stats.pooled_sd(vt["top1_std"], vt["n"])
    paired = stats.pooled_sd(vt.loc[~vt["is_baseline"], "delta_std"], vt.loc[~vt["is_baseline"], "n_pairs"])
    unpaired = math.sqrt(2) * single if math.isfinite(single) else math.nan
    removed = 1 - (paired / unpaired) ** 2 if math.isfinite(paired) and unpaired > 0 else math.nan
    return {"single": single, "unpaired": unpaired, "paired": paired, "removed": removed}


# ------------------------------------------------------------------------------------- aliases
def expand_aliases(vt: pd.DataFrame, variants: list[dict] | None) -> pd.DataFrame:
    """``vt`` plus one row per plan variant that is an alias (``same_as``) of a listed variant.

    The workflow runs one model per architecture, so a study's grid cell such as ``eca(gamma=2,b=0)``
    (the same model as ``eca``) has no row of its own; for the figures (γ×b grid, accuracy vs k) it gets a
    copy of its label's statistics with its own parameters. Column ``alias_of`` names the label.
    """
    out = vt.copy()
    out["alias_of"] = ""
    rows = [row for v in variants or [] if isinstance(v, dict) and v.get("same_as") for row in _alias_rows(vt, v)]
    if rows:
        out = pd.concat([out, pd.DataFrame(rows)], ignore_index=True)
    return out


def _alias_rows(vt: pd.DataFrame, v: dict) -> list[pd.Series]:
    """Copies of the label's rows (same backbone and dataset) renamed and re-parametrised as ``v``."""
    label = v["same_as"]
    hit = vt[(vt["spec"] == label) & (vt["backbone"] == v.get("backbone", vt["backbone"]))
             & (vt["dataset"] == v.get("dataset", vt["dataset"]))] if len(vt) else vt
    params = v.get("params") or {}
    rows = []
    for _, r in hit.iterrows():
        row = r.copy()
        row["spec"], row["spec_id"], row["alias_of"], row["is_baseline"] = v["spec"], v.get("spec_id", ""), label, False
        for key, value in params.items():
            row[PARAM_PREFIX + key] = param_text(value) if isinstance(value, (list, tuple)) else value
        row["parameters"] = parameters_text(row)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- other study tables
def incomplete_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Every run of the study whose status is not ``ok``, with its error: they are listed, never dropped."""
    if df.empty:
        return pd.DataFrame(columns=INCOMPLETE_COLUMNS)
    runs = run_level(df)
    bad = runs[runs["status"] != "ok"]
    return bad[INCOMPLETE_COLUMNS].reset_index(drop=True)


def odd_even_table(df: pd.DataFrame, metric: str = ACCURACY) -> pd.DataFrame:
    """Paired odd-rule comparisons: for every (backbone, dataset, gamma, b) with both odd and even ECA specs."""
    if df.empty:
        return pd.DataFrame()
    runs = eca_rule_view(run_level(df))
    ok = df[(df["status"] == "ok") & (df["metric"] == metric)].drop_duplicates("run_id")
    rows = []
    for key, g in runs[runs["odd"].notna()].groupby(GROUP + ["gamma", "b"], sort=False, dropna=False):
        odd_ids = list(pd.unique(g.loc[g["odd"] == True, "spec_id"]))  # noqa: E712
        even_ids = list(pd.unique(g.loc[g["odd"] == False, "spec_id"]))  # noqa: E712
        here = ok[(ok["backbone"] == key[0]) & (ok["dataset"] == key[1])]
        rows += [_odd_even_row(key, g, here, o, e) for o in odd_ids for e in even_ids]
    return pd.DataFrame(rows)


def _odd_even_row(key: tuple, g: pd.DataFrame, ok: pd.DataFrame, odd_id: str, even_id: str) -> dict:
    """One odd-minus-even paired difference; equal k on every stage means the same model (noise by construction)."""
    a = ok[ok["spec_id"] == odd_id].set_index("seed")["value"]
    b = ok[ok["spec_id"] == even_id].set_index("seed")["value"]
    pr = stats.paired_difference(a, b)
    ko = first_value(g.loc[g["spec_id"] == odd_id, "k_per_stage"]) or ""
    ke = first_value(g.loc[g["spec_id"] == even_id, "k_per_stage"]) or ""
    return {
        "backbone": key[0], "dataset": key[1], "gamma": key[2], "b": key[3],
        "odd_spec": first_value(g.loc[g["spec_id"] == odd_id, "spec"]),
        "even_spec": first_value(g.loc[g["spec_id"] == even_id, "spec"]),
        "k_odd": ko, "k_even": ke, "same_architecture": bool(ko and ko == ke),
        "delta_odd_minus_even": pr.delta_mean, "delta_ci_low": pr.ci_low, "delta_ci_high": pr.ci_high,
        "p_value": pr.p_value, "n_pairs": pr.n_pairs, "verdict": stats.verdict(pr), "note": pr.note,
    }
