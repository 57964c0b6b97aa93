"""Report tables: per-variant statistics for one study, the runs that did not complete, writers.

Every table exists twice: a *raw* DataFrame (numbers, machine-readable, written as CSV) and a
*formatted* DataFrame of strings (mean ± std, CI brackets, unit prefixes) written as Markdown, LaTeX
and HTML. Comparisons are made within one (backbone, dataset) group: a variant is compared with the
study's baseline on the same backbone and dataset, paired over the seeds both completed.
"""
from __future__ import annotations

import html as _html
import math
import re
from pathlib import Path

import pandas as pd

from ecabench import stats
from ecabench.report.layout import safe_name
from ecabench.util import atomic_write, atomic_write_text

GROUP = ["backbone", "dataset"]
ACCURACY = "test_top1_pct"
STATIC = ("params_total", "params_attention", "macs", "elementwise_flops")
SPEED = ("inference_images_per_s", "inference_rel_none", "inference_rel_none_ci_low", "inference_rel_none_ci_high",
         "train_images_per_s", "train_rel_none", "train_rel_none_ci_low", "train_rel_none_ci_high",
         "peak_memory_inference_mb", "peak_memory_train_mb")
STATUS_ORDER = ("ok", "diverged", "failed", "missing")
POWER_TARGETS = (0.5, 1.0)  # points of top-1: how many seeds would detect a true difference this large

RAW_COLUMNS = [
    "backbone", "dataset", "spec", "spec_id", "variant", "is_baseline", "runs", "ok", "diverged", "failed",
    "missing", "n", "top1_mean", "top1_std", "top1_ci_low", "top1_ci_high", "delta_top1", "delta_std",
    "delta_ci_low", "delta_ci_high", "p_value", "p_holm", "t_stat", "n_pairs", "verdict", "note",
    "mde_80", "seeds_for_0_5", "seeds_for_1_0",
    "params_total", "params_attention", "macs", "elementwise_flops", "implementation", "inference_images_per_s",
    "throughput_rel_baseline", "throughput_rel_ci_low", "throughput_rel_ci_high", "throughput_rel_method",
    "train_images_per_s", "train_rel_baseline", "peak_memory_inference_mb", "peak_memory_train_mb",
    "k_per_stage", "k_param", "gamma", "b", "odd", "same_architecture_as", "architecture_id",
]


# ------------------------------------------------------------------------------------ building
def _first(values: pd.Series):
    """First value that is neither missing nor an empty string (any dtype, Arrow strings included)."""
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


def run_level(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run of the (already filtered) tidy table: identity columns + status."""
    cols = ["run_id", "backbone", "dataset", "variant", "spec", "spec_id", "architecture_id", "seed", "status",
            "k_per_stage", "k_param", "gamma", "b", "odd", "aliases", "error", "device"]
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
    for cand in ("none",):
        if cand in ids:
            return cand
    hits = df.loc[df["variant"] == "none", "spec_id"]
    return hits.iloc[0] if len(hits) else None


def variant_table(df: pd.DataFrame, baseline: str | None = "none", metric: str = ACCURACY,
                  aliases: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Raw per-variant table of one study (``df``: the tidy rows of that study).

    One row per (backbone, dataset, spec_id), in the order the variants first appear, baseline first.
    Accuracy statistics use runs with status ``ok`` only; the status counts say how many runs each
    variant had of every status. The paired test is against the baseline of the same backbone and
    dataset over the seeds both completed; ``p_holm`` adjusts the p-values within a group.
    ``aliases``: extra "same architecture as" names per spec_id (e.g. from the plan).
    """
    if df.empty:
        return pd.DataFrame(columns=RAW_COLUMNS)
    bounds, delta_bounds = (stats.PCT_RANGE, stats.PCT_DELTA_RANGE) if metric.endswith("_pct") else (None, None)
    implementation = primary_implementation(df)
    base_id = baseline_spec_id(df, baseline)
    runs = run_level(df)
    study_order = list(pd.unique(runs["spec_id"]))  # plan order, the same in every group
    out = []
    for (backbone, dataset), g in df.groupby(GROUP, sort=False):
        g_runs = runs[(runs["backbone"] == backbone) & (runs["dataset"] == dataset)]
        present = set(g_runs["spec_id"])
        order = [sid for sid in study_order if sid in present]
        if base_id in order:
            order.remove(base_id)
            order.insert(0, base_id)
        ok = g[(g["status"] == "ok") & (g["metric"] == metric)]
        per_seed = {sid: ok[ok["spec_id"] == sid].dropna(subset=["value"]).drop_duplicates("run_id")
                    .set_index("seed")["value"] for sid in order}
        base_vals = per_seed.get(base_id)
        rows = []
        for sid in order:
            sr = g_runs[g_runs["spec_id"] == sid]
            sg = g[g["spec_id"] == sid]
            counts = sr["status"].value_counts()
            summ = stats.summarise(per_seed[sid].to_numpy(), bounds=bounds)
            row = {
                "backbone": backbone, "dataset": dataset, "spec": _first(sr["spec"]) or sid, "spec_id": sid,
                "variant": _first(sr["variant"]) or "", "is_baseline": sid == base_id,
                "runs": int(len(sr)), **{s: int(counts.get(s, 0)) for s in STATUS_ORDER},
                "n": summ.n, "top1_mean": summ.mean, "top1_std": summ.std,
                "top1_ci_low": summ.ci_low, "top1_ci_high": summ.ci_high,
            }
            if base_vals is not None and sid != base_id:
                pr = stats.paired_difference(per_seed[sid], base_vals, bounds=delta_bounds)
                pw = stats.power(pr.delta_std, pr.n_pairs, POWER_TARGETS)
                row.update(delta_top1=pr.delta_mean, delta_std=pr.delta_std, delta_ci_low=pr.ci_low,
                           delta_ci_high=pr.ci_high, p_value=pr.p_value, t_stat=pr.t_stat, n_pairs=pr.n_pairs,
                           verdict=stats.verdict(pr), note=pr.note or summ.note, mde_80=pw.mde,
                           seeds_for_0_5=pw.seeds_for[0.5], seeds_for_1_0=pw.seeds_for[1.0])
            elif sid == base_id:
                row.update(verdict="baseline", note=summ.note, n_pairs=summ.n)
            elif base_id is None:
                row.update(verdict="no baseline", note="the study has no baseline")
            else:
                row.update(verdict="no baseline", note="the study's baseline has no runs on this backbone/dataset")
            speed = sg[sg["implementation"] == implementation] if "implementation" in sg else sg
            for m in STATIC + SPEED:
                src = speed if m in SPEED else sg
                vals = src.loc[src["metric"] == m, "value"].dropna()
                row[m] = float(vals.median()) if len(vals) else math.nan
            row["implementation"] = implementation
            for col in ("k_per_stage", "k_param", "architecture_id"):
                row[col] = _first(sr[col]) or ""
            for col in ("gamma", "b"):
                row[col] = _first(sr[col]) if _first(sr[col]) is not None else math.nan
            odd = sr["odd"].dropna()
            row["odd"] = bool(odd.iloc[0]) if len(odd) else None
            rows.append(row)
        gdf = pd.DataFrame(rows)
        # same architecture: within the group, plus the plan's aliases
        same = []
        for _, r in gdf.iterrows():
            names = []
            if r["architecture_id"]:
                names += [s for s, a in zip(gdf["spec"], gdf["architecture_id"]) if a == r["architecture_id"]
                          and s != r["spec"]]
            for a in (aliases or {}).get(r["spec_id"], []):
                if a and a != r["spec"] and a not in names:
                    names.append(a)
            plan_aliases = _first(g_runs.loc[g_runs["spec_id"] == r["spec_id"], "aliases"]) if "aliases" in g_runs else None
            for a in (plan_aliases or "").split(";"):
                a = a.strip()
                if a and a != r["spec"] and a not in names:
                    names.append(a)
            same.append(", ".join(names))
        gdf["same_architecture_as"] = same
        _relative_throughput(gdf)
        mask = ~gdf["is_baseline"]
        if "p_value" in gdf:
            gdf.loc[mask, "p_holm"] = stats.holm(gdf.loc[mask, "p_value"].tolist())
        out.append(gdf)
    table = pd.concat(out, ignore_index=True)
    for col in RAW_COLUMNS:
        if col not in table.columns:
            table[col] = math.nan
    return table[RAW_COLUMNS]


def primary_implementation(df: pd.DataFrame) -> str:
    """The implementation the variant tables show: ``eager`` when measured, else the first one measured."""
    impls = [i for i in pd.unique(df["implementation"]) if i] if "implementation" in df else []
    return "eager" if "eager" in impls or not impls else str(impls[0])


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
        gdf[f"{out}_baseline"] = gdf[f"{mode}_rel_none"] / base if math.isfinite(base) and base > 0 else math.nan
        if out == "throughput_rel":
            for side in ("ci_low", "ci_high"):
                gdf[f"throughput_rel_{side}"] = gdf[f"inference_rel_none_{side}"] / base if math.isfinite(base) and base > 0 else math.nan
            is_none = bool(gdf.loc[gdf["is_baseline"], "variant"].eq("none").any())
            gdf["throughput_rel_method"] = [
                ("interleaved" if is_none else "ratio of medians") if math.isfinite(v) else ""
                for v in gdf["throughput_rel_baseline"]]


def fmt_rel_throughput(r) -> str:
    """``0.973× [0.95, 0.99]``: the median within-round ratio and its 95% CI."""
    v = r["throughput_rel_baseline"]
    if _isnan(v):
        return "–"
    if _isnan(r.get("throughput_rel_ci_low")):
        return f"{v:.3f}×"
    return f"{v:.3f}× [{r['throughput_rel_ci_low']:.3f}, {r['throughput_rel_ci_high']:.3f}]"


def _k_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def expand_aliases(vt: pd.DataFrame, variants: list[dict] | None) -> pd.DataFrame:
    """``vt`` plus one row per plan variant that is an alias (``same_as``) of a listed variant.

    The workflow runs one model per architecture, so a study's grid cell such as ``eca(gamma=2,b=0)``
    (the same model as ``eca``) has no row of its own; for the figures (γ×b grid, accuracy vs k) it gets a
    copy of its label's statistics with its own parameters. Column ``alias_of`` names the label.
    """
    out = vt.copy()
    out["alias_of"] = ""
    rows = []
    for v in variants or []:
        label = v.get("same_as")
        if not label or not isinstance(v, dict):
            continue
        hit = vt[(vt["spec"] == label) & (vt["backbone"] == v.get("backbone", vt["backbone"]))
                 & (vt["dataset"] == v.get("dataset", vt["dataset"]))] if len(vt) else vt
        if hit.empty:
            continue
        params = v.get("params") or {}
        for _, r in hit.iterrows():
            row = r.copy()
            row["spec"], row["spec_id"], row["alias_of"], row["is_baseline"] = v["spec"], v.get("spec_id", ""), label, False
            row["k_param"] = _k_text(params.get("k")) if "k" in params else row["k_param"]
            for key in ("gamma", "b"):
                if key in params:
                    row[key] = float(params[key])
            if "odd" in params:
                row["odd"] = bool(params["odd"])
            rows.append(row)
    if rows:
        out = pd.concat([out, pd.DataFrame(rows)], ignore_index=True)
    return out


def throughput_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every measured (implementation, mode) of every variant: images/s and the ratio to the plain
    backbone with its 95% CI (one measure job per backbone and input, so these all come from one
    set of alternating rounds)."""
    m = df[(df["source"] == "measure") & (df["implementation"] != "")]
    if m.empty:
        return pd.DataFrame()
    m = m.drop_duplicates(["backbone", "dataset", "spec_id", "implementation", "metric"])
    rows = []
    for (backbone, dataset, spec, impl), g in m.groupby(["backbone", "dataset", "spec", "implementation"], sort=False):
        v = dict(zip(g["metric"], g["value"]))
        for mode in ("inference", "train"):
            if f"{mode}_images_per_s" not in v:
                continue
            rows.append({"Backbone": backbone, "Dataset": dataset, "Variant": spec, "Implementation": impl,
                         "Mode": mode, "img/s": fmt_num(v[f"{mode}_images_per_s"], 1),
                         "× none [95% CI]": (f"{v[f'{mode}_rel_none']:.3f} "
                                             + fmt_ci(v.get(f"{mode}_rel_none_ci_low"), v.get(f"{mode}_rel_none_ci_high"), 3)
                                             if not _isnan(v.get(f"{mode}_rel_none")) else "–"),
                         "Peak memory MiB": fmt_num(v.get(f"peak_memory_{mode}_mb"), 0)})
    return pd.DataFrame(rows)


def incomplete_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Every run of the study whose status is not ``ok``, with its error: they are listed, never dropped."""
    runs = run_level(df)
    bad = runs[runs["status"] != "ok"]
    return bad[["backbone", "dataset", "spec", "seed", "status", "run_id", "error"]].reset_index(drop=True)


def odd_even_table(df: pd.DataFrame, metric: str = ACCURACY) -> pd.DataFrame:
    """Paired odd-rule comparisons: for every (backbone, dataset, gamma, b) with both odd and even ECA specs."""
    runs = run_level(df)
    ok = df[(df["status"] == "ok") & (df["metric"] == metric)].drop_duplicates("run_id")
    rows = []
    eca = runs[runs["odd"].notna()]
    for key, g in eca.groupby(GROUP + ["gamma", "b"], sort=False, dropna=False):
        odd_ids = list(pd.unique(g.loc[g["odd"] == True, "spec_id"]))  # noqa: E712
        even_ids = list(pd.unique(g.loc[g["odd"] == False, "spec_id"]))  # noqa: E712
        if not odd_ids or not even_ids:
            continue
        for o in odd_ids:
            for e in even_ids:
                a = ok[(ok["spec_id"] == o) & (ok["backbone"] == key[0]) & (ok["dataset"] == key[1])].set_index("seed")["value"]
                b = ok[(ok["spec_id"] == e) & (ok["backbone"] == key[0]) & (ok["dataset"] == key[1])].set_index("seed")["value"]
                pr = stats.paired_difference(a, b)
                ko = _first(g.loc[g["spec_id"] == o, "k_per_stage"]) or ""
                ke = _first(g.loc[g["spec_id"] == e, "k_per_stage"]) or ""
                rows.append({
                    "backbone": key[0], "dataset": key[1], "gamma": key[2], "b": key[3],
                    "odd_spec": _first(g.loc[g["spec_id"] == o, "spec"]), "even_spec": _first(g.loc[g["spec_id"] == e, "spec"]),
                    "k_odd": ko, "k_even": ke, "same_architecture": bool(ko and ko == ke),
                    "delta_odd_minus_even": pr.delta_mean, "delta_ci_low": pr.ci_low, "delta_ci_high": pr.ci_high,
                    "p_value": pr.p_value, "n_pairs": pr.n_pairs, "verdict": stats.verdict(pr), "note": pr.note,
                })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- formatting
def _isnan(x) -> bool:
    try:
        return x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x)
    except (TypeError, ValueError):
        return False


def fmt_num(x, digits: int = 2) -> str:
    if _isnan(x):
        return "–"
    return f"{x:.{digits}f}"


def fmt_signed(x, digits: int = 2) -> str:
    if _isnan(x):
        return "–"
    return f"{x:+.{digits}f}"


def fmt_count(x) -> str:
    """Exact integers with thousands separators (parameter counts are compared to the unit)."""
    if _isnan(x):
        return "–"
    return f"{int(round(x)):,}"


def fmt_int(x) -> str:
    return "–" if _isnan(x) else str(int(x))


def fmt_si(x, digits: int = 3) -> str:
    """4.11 G, 40.8 M, 953 k - decimal prefixes (10^3 steps)."""
    if _isnan(x):
        return "–"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.{digits}g} {prefix}"
    return f"{x:.{digits}g}"


def fmt_p(p) -> str:
    if _isnan(p):
        return "–"
    if p < 1e-4:
        return "<0.0001"
    return f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def fmt_ci(lo, hi, digits: int = 2, signed: bool = False) -> str:
    if _isnan(lo) or _isnan(hi):
        return "–"
    f = fmt_signed if signed else fmt_num
    return f"[{f(lo, digits)}, {f(hi, digits)}]"


def status_text(row) -> str:
    parts = [f"{int(row[s])} {s}" for s in STATUS_ORDER if row.get(s, 0)]
    return ", ".join(parts) if parts else "0 runs"


def format_variant_table(raw: pd.DataFrame, baseline_label: str = "baseline") -> pd.DataFrame:
    """Strings for Markdown/LaTeX/HTML; one row per raw row, same order."""
    rows = []
    for _, r in raw.iterrows():
        top1 = "–" if _isnan(r["top1_mean"]) else (
            f"{r['top1_mean']:.2f} ± {r['top1_std']:.2f}" if not _isnan(r["top1_std"]) else f"{r['top1_mean']:.2f}")
        if r["is_baseline"]:
            delta, dci, p, verdict = "(baseline)", "", "", "baseline"
        else:
            delta = fmt_signed(r["delta_top1"])
            dci = fmt_ci(r["delta_ci_low"], r["delta_ci_high"], signed=True)
            p = fmt_p(r["p_value"])
            verdict = r["verdict"] if isinstance(r["verdict"], str) else ""
            if verdict == stats.N_TOO_SMALL and not _isnan(r["delta_top1"]):
                verdict = f"{stats.N_TOO_SMALL} (n={int(r['n_pairs'])})"
        status = status_text(r)
        if r["diverged"] or r["failed"] or r["missing"]:
            status = "⚠ " + status
        rows.append({
            "Variant": r["spec"],
            "Runs": status,
            "n": str(int(r["n"])),
            "Top-1 % (mean ± std)": top1,
            "Top-1 95% CI": fmt_ci(r["top1_ci_low"], r["top1_ci_high"]),
            f"Δ top-1 vs {baseline_label}": delta,
            "Δ 95% CI": dci,
            "Δ sd (paired)": "" if r["is_baseline"] else fmt_num(r["delta_std"]),
            "p (paired t)": p,
            "Verdict": verdict,
            "MDE (80% power)": "" if r["is_baseline"] else fmt_num(r["mde_80"]),
            "Seeds for 0.5 / 1.0": "" if r["is_baseline"] else f"{fmt_int(r['seeds_for_0_5'])} / {fmt_int(r['seeds_for_1_0'])}",
            "Params": fmt_count(r["params_total"]),
            "Attention params": fmt_count(r["params_attention"]),
            "MACs": fmt_si(r["macs"]),
            "Elementwise FLOPs": fmt_si(r["elementwise_flops"]),
            "Inference img/s": fmt_num(r["inference_images_per_s"], 1),
            "Rel. throughput": fmt_rel_throughput(r),
            "k per stage": r["k_per_stage"] or "",
            "Same architecture as": r["same_architecture_as"] or "",
        })
    return pd.DataFrame(rows)


def format_incomplete(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"], "Variant": raw["spec"],
        "Seed": [("–" if _isnan(s) else str(int(s))) for s in raw["seed"]],
        "Status": [s.upper() for s in raw["status"]], "Run": raw["run_id"],
        "Error": [(e or "")[:300] for e in raw["error"]],
    })


def format_odd_even(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return raw
    return pd.DataFrame({
        "Backbone": raw["backbone"], "Dataset": raw["dataset"],
        "γ": [fmt_num(x, 2).rstrip("0").rstrip(".") for x in raw["gamma"]],
        "b": [fmt_num(x, 2).rstrip("0").rstrip(".") for x in raw["b"]],
        "Odd spec": raw["odd_spec"], "Even spec": raw["even_spec"], "k (odd)": raw["k_odd"], "k (even)": raw["k_even"],
        "Same architecture": ["yes" if s else "no" for s in raw["same_architecture"]],
        "Δ odd − even": [fmt_signed(x) for x in raw["delta_odd_minus_even"]],
        "Δ 95% CI": [fmt_ci(lo, hi, signed=True) for lo, hi in zip(raw["delta_ci_low"], raw["delta_ci_high"])],
        "p (paired t)": [fmt_p(p) for p in raw["p_value"]],
        "n pairs": [str(int(n)) for n in raw["n_pairs"]],
        "Verdict": raw["verdict"],
    })


# ------------------------------------------------------------------------------------- writers
def to_markdown(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_\n"

    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "Δ": r"$\Delta$", "γ": r"$\gamma$", "−": "-", "–": "--", "×": r"$\times$",
                  "⚠ ": "", "⚠": ""}


def latex_escape(text) -> str:
    s = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    for k, v in _LATEX_UNICODE.items():
        s = s.replace(k, v)
    return s


def to_latex(df: pd.DataFrame, caption: str = "", label: str = "") -> str:
    """A booktabs ``tabular`` (inside ``table``) with every cell escaped."""
    cols = "l" * len(df.columns) if len(df.columns) else "l"
    lines = [r"% generated by ecabench; needs \usepackage{booktabs}", r"\begin{table}[ht]", r"\centering", r"\small"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    if label:
        lines.append(r"\label{" + re.sub(r"[^A-Za-z0-9:_\-]", "-", label) + "}")
    lines += [r"\begin{tabular}{" + cols + "}", r"\toprule",
              " & ".join(latex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape(x) for x in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(df: pd.DataFrame, classes: str = "tbl", row_classes: list[str] | None = None) -> str:
    if df.empty:
        return "<p><em>(no rows)</em></p>"
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_html.escape(str(x))}</td>" for x in row) + "</tr>")
    return (f'<div class="tblwrap"><table class="{classes}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def write_table(raw: pd.DataFrame, formatted: pd.DataFrame, folder: Path, name: str, caption: str = "") -> dict:
    """``name.csv`` (raw numbers), ``name.md``, ``name.tex``, ``name.html`` (formatted) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / f"{name}.csv", "md": folder / f"{name}.md", "tex": folder / f"{name}.tex",
             "html": folder / f"{name}.html"}
    atomic_write(paths["csv"], lambda tmp: raw.to_csv(tmp, index=False))
    for key, text in (("md", to_markdown(formatted)), ("tex", to_latex(formatted, caption, f"tab:{name}")),
                      ("html", to_html(formatted))):
        atomic_write_text(paths[key], text)
    return paths


def row_classes(raw: pd.DataFrame) -> list[str]:
    out = []
    for _, r in raw.iterrows():
        if r.get("is_baseline"):
            out.append("baseline")
        elif r.get("failed") or r.get("diverged") or r.get("missing"):
            out.append("warn")
        elif r.get("verdict") == stats.INSIDE_NOISE:
            out.append("noise")
        else:
            out.append("")
    return out


__all__ = ["variant_table", "incomplete_runs", "odd_even_table", "format_variant_table", "format_incomplete",
           "format_odd_even", "expand_aliases", "to_markdown", "to_latex", "to_html", "write_table", "baseline_spec_id",
           "run_level"]
