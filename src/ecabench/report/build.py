"""``build_report``: the report's assembly (tables, prose, figures, paper comparison, HTML + Markdown).

See :mod:`ecabench.report` for the files it writes.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

import pandas as pd

from ecabench import stats
from ecabench.aggregate import read_curves, read_meta, read_summary, sibling
from ecabench.report import figures as _fig
from ecabench.report import paper as _paper
from ecabench.report import tables as _tab
from ecabench.report.html import render_html
from ecabench.report.layout import figure_kinds, load_plan
from ecabench.report.markdown import render_markdown
from ecabench.util import atomic_write_text

__all__ = ["build_report"]

READING_GUIDE = (
    "How to read the tables: accuracy is the test top-1 of runs that completed (status ok), mean ± sample std "
    "over seeds, with a t-based 95% confidence interval that never leaves [0, 100]. Δ is the variant minus the "
    "study's baseline on the same backbone and dataset, paired by seed: for one seed every variant saw the same "
    "data, batch order and augmentation and started from the same backbone weights, so the paired difference "
    "measures the attention, not the draw (paired t-test over the seeds both completed). A difference whose 95% "
    "CI includes zero is labelled \"inside the noise\". MDE is the smallest true difference the comparison would "
    "detect with 80% power (two-sided, α = 0.05) given the measured sd of the paired differences and n; \"seeds for "
    "0.5 / 1.0\" say how many seeds would detect a 0.5- or 1-point difference. p-values are not corrected for the "
    "number of variants (the raw CSV also has Holm-adjusted p_holm). Throughput is measured once per (backbone, "
    "input, device) for all architectures together, in alternating rounds after warm-up; \"Rel. throughput\" is "
    "the median within-round ratio to the baseline with its 95% CI (order statistics), for the implementation "
    "named in the table (eager: the modules as written; compile: torch.compile of the whole model)."
)
TUNED_NOTE = (
    "Tuned with Optuna: every variant had the same trial budget, its best setting was chosen on the "
    "validation split and then trained with each evaluation seed and scored on the test split (the rows "
    "below). Throughput columns are filled only for architectures the sweep also measured."
)
PAPER_INTRO = (
    "The ECA paper's Table 3 (ImageNet, 224×224) prints parameters in units of 2^20 and FLOPs counted with thop "
    "divided by 2^30 (\"G\") or 2^20 (\"M\"). Beside them, the suite's own counts for the same ImageNet models "
    "(1000 classes, 3×224×224, batch 1): parameters exact and in 10^6 and 2^20 units, MACs from fvcore (one "
    "multiply-add = 1) in 10^9 and 2^30 units, and the elementwise FLOPs fvcore ignores in a separate column. "
    "\"diff %\" compares the suite's count with the paper's after converting both to absolute numbers. The paper's "
    "accuracy and FPS (4× RTX 2080Ti) are quoted as published; the suite does not re-train ImageNet here."
)


# ----------------------------------------------------------------------------------------- prose
def _pts(x: float) -> str:
    return f"{x:+.2f}"


def _p_text(p) -> str:
    text = _tab.fmt_p(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def _variant_sentence(r: pd.Series, base: str) -> str | None:
    if r["is_baseline"]:
        if r["n"] == 0:
            return f"The baseline {base} has no completed run here, so no difference can be computed."
        return None
    name = r["spec"]
    if r["verdict"] == "no baseline":
        if r["note"] == "the study has no baseline":
            return None
        return f"{name}: the baseline {base} has no runs on this backbone/dataset; no comparison."
    if _tab._isnan(r["delta_top1"]):
        return f"{name}: no completed seed shared with {base}; no comparison."
    extras = []
    if not _tab._isnan(r["params_attention"]):
        extras.append(f"{int(r['params_attention']):,} attention parameters")
    if not _tab._isnan(r["throughput_rel_baseline"]):
        how = (f", 95% CI {r['throughput_rel_ci_low']:.3f}–{r['throughput_rel_ci_high']:.3f} over rounds timed "
               "in alternation" if not _tab._isnan(r.get("throughput_rel_ci_low")) else "")
        extras.append(f"{r['throughput_rel_baseline']:.3f}× the baseline's inference throughput ({r['implementation']})"
                      f"{how}")
    extra = f" ({'; '.join(extras)})" if extras else ""
    if r["verdict"] == stats.N_TOO_SMALL:
        return (f"{name} vs {base}: Δ top-1 = {_pts(r['delta_top1'])} points from {int(r['n_pairs'])} paired seed(s) — "
                f"n too small for a confidence interval, so it cannot be told apart from seed noise{extra}.")
    ci = f"95% CI {_pts(r['delta_ci_low'])} to {_pts(r['delta_ci_high'])}"
    p = _p_text(r["p_value"])
    mde = (f"; smallest difference detectable with 80% power: {r['mde_80']:.2f} points"
           if not _tab._isnan(r.get("mde_80")) else "")
    head = (f"{name} vs {base}: Δ top-1 = {_pts(r['delta_top1'])} points ({ci}, paired t-test {p}, "
            f"n = {int(r['n_pairs'])} seeds{mde})")
    if r["note"] == stats.CLIPPED:
        head += " (the interval was cut at the metric's range: too few seeds for an informative interval)"
    if r["verdict"] == stats.INSIDE_NOISE:
        tail = " — inside the noise: the interval includes zero"
        if r["note"] == stats.ZERO_VARIANCE_TIE:
            tail += " (identical results on every seed)"
    elif r["verdict"] == "better":
        tail = " — better than the baseline beyond seed noise (the interval excludes zero)"
    else:
        tail = " — worse than the baseline beyond seed noise (the interval excludes zero)"
    return head + tail + extra + "."


def headline_rows(name: str, title: str, vt: pd.DataFrame) -> list[dict]:
    """The first-screen summary of one study: per setting, the best variant against the baseline."""
    rows = []
    for (backbone, dataset), g in vt.groupby(["backbone", "dataset"], sort=False):
        cand = g[~g["is_baseline"] & g["top1_mean"].notna()]
        if cand.empty:
            continue
        r = cand.loc[cand["top1_mean"].astype(float).idxmax()]
        base = g.loc[g["is_baseline"], "spec"]
        rows.append({
            "Study": title, "Setting": f"{backbone} / {dataset}",
            "Best variant": r["spec"], "Baseline": base.iloc[0] if len(base) else "–",
            "Δ top-1 [95% CI]": (f"{_tab.fmt_signed(r['delta_top1'])} "
                                 f"{_tab.fmt_ci(r['delta_ci_low'], r['delta_ci_high'], signed=True)}"),
            "Verdict": r["verdict"] if isinstance(r["verdict"], str) else "",
            "MDE (80% power)": _tab.fmt_num(r.get("mde_80")),
            "n": "–" if _tab._isnan(r.get("n_pairs")) else str(int(r["n_pairs"])),
        })
    return rows


def pairing_text(vt: pd.DataFrame) -> str:
    """How much seed variance the pairing removed: pooled sd of single runs vs of paired differences."""
    single = stats.pooled_sd(vt["top1_std"], vt["n"])
    paired = stats.pooled_sd(vt.loc[~vt["is_baseline"], "delta_std"], vt.loc[~vt["is_baseline"], "n_pairs"])
    if _tab._isnan(single) or _tab._isnan(paired):
        return ""
    unpaired = math.sqrt(2) * single  # sd of a difference of two independent runs
    removed = 1 - (paired / unpaired) ** 2 if unpaired > 0 else math.nan
    text = (f"Seed noise: single runs vary with sd {single:.2f} points (pooled over variants), so an unpaired "
            f"difference would have sd {unpaired:.2f}; the paired differences (same data order, same backbone "
            f"initialisation per seed) have sd {paired:.2f}")
    if not _tab._isnan(removed):
        text += f" — the pairing removed {100 * removed:.0f}% of the variance of a difference"
    return text + "."


def _group_prose(vt: pd.DataFrame, base: str) -> list[str]:
    out = [s for s in (_variant_sentence(r, base) for _, r in vt.iterrows()) if s]
    bad = vt[(vt["failed"] + vt["diverged"] + vt["missing"]) > 0]
    for _, r in bad.iterrows():
        parts = [f"{int(r[s])} {s}" for s in ("failed", "diverged", "missing") if r[s]]
        out.append(f"{r['spec']}: {', '.join(parts)} run(s) — excluded from the statistics and listed below.")
    return out


def _study_summary(vt: pd.DataFrame) -> str:
    cmp = vt[~vt["is_baseline"] & vt["verdict"].isin([stats.INSIDE_NOISE, "better", "worse", stats.N_TOO_SMALL])]
    if cmp.empty:
        return ""
    n = len(cmp)
    noise = int((cmp["verdict"] == stats.INSIDE_NOISE).sum())
    small = int((cmp["verdict"] == stats.N_TOO_SMALL).sum())
    better = int((cmp["verdict"] == "better").sum())
    worse = int((cmp["verdict"] == "worse").sum())
    text = f"{noise} of {n} differences from the baseline are inside the noise (95% CI includes zero)"
    bits = []
    if better:
        bits.append(f"{better} better")
    if worse:
        bits.append(f"{worse} worse")
    if small:
        bits.append(f"{small} with n too small to tell")
    if bits:
        text += "; " + ", ".join(bits)
    return text + "."


def _odd_even_prose(raw: pd.DataFrame) -> list[str]:
    out = []
    for _, r in raw.iterrows():
        where = f"{r['backbone']}/{r['dataset']}"
        if r["same_architecture"]:
            out.append(f"{where}, {r['odd_spec']} vs {r['even_spec']}: both rules give k = {r['k_odd']} — the same "
                       f"architecture, so any difference is seed noise by construction.")
            continue
        if r["verdict"] == stats.N_TOO_SMALL:
            out.append(f"{where}, {r['odd_spec']} vs {r['even_spec']}: n too small for a confidence interval.")
            continue
        label = {"better": "odd rule better beyond the noise", "worse": "odd rule worse beyond the noise"}.get(
            r["verdict"], "inside the noise")
        out.append(f"{where}, {r['odd_spec']} (k={r['k_odd']}) − {r['even_spec']} (k={r['k_even']}): "
                   f"{_pts(r['delta_odd_minus_even'])} points, 95% CI {_pts(r['delta_ci_low'])} to "
                   f"{_pts(r['delta_ci_high'])}, {_p_text(r['p_value'])} — {label}.")
    return out


# ------------------------------------------------------------------------------------- helpers
def _pseudo_plan_runs(sdf: pd.DataFrame) -> list[dict]:
    """Plan-like run entries rebuilt from the tidy rows (for figure selection when the plan lacks params)."""
    runs = []
    for _, r in _tab.run_level(sdf).iterrows():
        params: dict = {}
        if r.get("k_param"):
            params["k"] = int(r["k_param"]) if str(r["k_param"]).isdigit() else r["k_param"]
        for col in ("gamma", "b"):
            if not _tab._isnan(r.get(col)):
                params[col] = float(r[col])
        if r.get("odd") is not None and not _tab._isnan(r.get("odd")):
            params["odd"] = bool(r["odd"])
        runs.append({"run_id": r["run_id"], "params": params})
    return runs


def _env_table(meta: dict) -> pd.DataFrame | None:
    envs = meta.get("environments") or []
    if not envs:
        return None
    rows = []
    for e in envs:
        devices = e.get("devices")
        rows.append({
            "Runs": e.get("runs", ""), "Device": e.get("device", ""),
            "GPU(s)": ", ".join(devices) if isinstance(devices, list) else (devices or ""),
            "CPU": e.get("cpu_model", "") or "", "Threads": e.get("num_threads", "") or "",
            "Python": e.get("python", ""), "torch": e.get("torch", ""), "torchvision": e.get("torchvision", "") or "",
            "CUDA": e.get("cuda", "") or "", "ecabench": e.get("ecabench", "") or "",
            "git commit": (str(e.get("git_commit") or "")[:12] + (" (dirty)" if e.get("git_dirty") else "")),
            "Platform": e.get("platform", "") or "",
        })
    return pd.DataFrame(rows).fillna("")


def _measure_table(meta: dict) -> pd.DataFrame | None:
    """One row per measure job: what was timed, how, and with how many threads."""
    ms = meta.get("measurements") or {}
    rows = []
    for mid, m in ms.items():
        setup = m.get("setup") or {}
        rows.append({
            "Measure job": mid, "Backbone": m.get("backbone") or "", "Input": "x".join(map(str, m.get("input_shape") or [])),
            "Architectures": m.get("architectures", ""), "Status": m.get("status", "ok"),
            "Device": setup.get("device_name") or setup.get("device") or "", "Threads": setup.get("threads", ""),
            "Batch": setup.get("batch_size", ""), "dtype": setup.get("dtype", ""),
            "Memory format": setup.get("memory_format", ""),
            "Implementations": ", ".join(setup.get("implementations") or []),
            "Modes": ", ".join(setup.get("modes") or []), "Rounds": setup.get("rounds", ""),
            "Timer": setup.get("timer", ""),
        })
    return pd.DataFrame(rows).astype(str) if rows else None


def _anchor(name: str) -> str:
    return "study-" + _tab.safe_name(name).lower()


def _status_counts(df: pd.DataFrame) -> dict[str, int]:
    runs = df.drop_duplicates("run_id")
    counts = runs["status"].value_counts()
    order = [s for s in _tab.STATUS_ORDER if s in counts] + [s for s in counts.index if s not in _tab.STATUS_ORDER]
    return {s: int(counts[s]) for s in order}


# ------------------------------------------------------------------------------------------ main
def build_report(summary_path: str | os.PathLike, plan_path: str | os.PathLike | dict | None,
                 out_dir: str | os.PathLike = "reports", config: dict | None = None,
                 reference_csv: str | os.PathLike | None = None, curves_path: str | os.PathLike | None = None,
                 *, paper_comparison: bool = True, meta_path: str | os.PathLike | None = None,
                 metric: str = "test_top1_pct", title: str = "ecabench report",
                 paper_counts: str | os.PathLike | None = None) -> Path:
    """Write the report (see :mod:`ecabench.report`) and return the path of ``index.html``.

    ``config``: the workflow configuration shown in the report (default: the plan's ``config``).
    ``reference_csv``: the paper's Table 3 (default: found by :func:`ecabench.report.paper.find_reference_csv`).
    ``curves_path``: the curves table (default: ``<summary stem>_curves.parquet`` beside the summary).
    ``paper_counts``: the suite's ImageNet counts written by the workflow's ``paper_counts`` job; without
    it, ``paper_comparison=True`` counts them here and ``False`` skips them (the paper's
    figures are still shown). ``metric``: the accuracy metric of the tables (test top-1 by default).
    """
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    summary_path = Path(summary_path)
    df = read_summary(summary_path)
    plan = load_plan(plan_path)
    if config is None:
        config = plan.get("config") or {}
    if curves_path is None:
        for cand in (sibling(summary_path, "_curves", ".parquet"), sibling(summary_path, "_curves", ".csv")):
            if cand.exists():
                curves_path = cand
                break
    curves = read_curves(curves_path) if curves_path is not None and Path(curves_path).exists() else None
    meta = read_meta(summary_path) if meta_path is None else json.loads(Path(meta_path).read_text())

    studies = dict(plan["studies"])
    studies.update(meta.get("tuned_studies") or {})  # tuning studies' test-split evaluations (aggregate)
    for name in pd.unique(df["study"]):  # studies present in the table but not in the plan
        if name not in studies:
            studies[name] = {"title": name, "description": "", "kind": "other", "baseline": "none", "runs": []}

    sections, headline = [], []
    for name, study in studies.items():
        sdf = df[df["study"] == name]
        aliases: dict[str, list[str]] = {}
        for r in study.get("runs", []):
            if r.get("aliases") and r.get("spec_id"):
                aliases.setdefault(r["spec_id"], [])
                aliases[r["spec_id"]] += [a for a in r["aliases"] if a not in aliases[r["spec_id"]]]
        vt = _tab.variant_table(sdf, study.get("baseline"), metric, aliases)
        base_spec = (vt.loc[vt["is_baseline"], "spec"].iloc[0] if vt["is_baseline"].any()
                     else ("(none: the study has no baseline)" if study.get("baseline") is None
                           else str(study.get("baseline"))))
        fmt = _tab.format_variant_table(vt, base_spec)
        safe = _tab.safe_name(name)
        tables_dir = out_dir / "tables"
        full = pd.concat([vt[["backbone", "dataset"]].rename(columns=str.title).reset_index(drop=True),
                          fmt.reset_index(drop=True)], axis=1) if len(vt) else fmt
        table_files = _tab.write_table(vt, full, tables_dir, f"{safe}__variants",
                                       caption=f"{study.get('title', name)}: test top-1 over seeds vs {base_spec}")
        thr = _tab.throughput_table(sdf) if len(sdf) else pd.DataFrame()
        inc_raw = _tab.incomplete_runs(sdf) if len(sdf) else pd.DataFrame(
            columns=["backbone", "dataset", "spec", "seed", "status", "run_id", "error"])
        inc_fmt = _tab.format_incomplete(inc_raw)
        _tab.write_table(inc_raw, inc_fmt, tables_dir, f"{safe}__incomplete",
                         caption=f"{study.get('title', name)}: runs that did not complete")
        groups = []
        for (backbone, dataset), g in vt.groupby(["backbone", "dataset"], sort=False):
            idx = g.index
            groups.append({"backbone": backbone, "dataset": dataset, "formatted": fmt.loc[idx].reset_index(drop=True),
                           "row_classes": _tab.row_classes(g), "prose": _group_prose(g, base_spec)})

        kinds = list(figure_kinds(study))
        for k in figure_kinds({"kind": study.get("kind"), "runs": _pseudo_plan_runs(sdf)} if len(sdf) else {}):
            if k not in kinds:
                kinds.append(k)
        kinds = [k for k in _fig.KINDS if k in kinds]
        odd_raw = odd_fmt = None
        odd_files: dict = {}
        if "odd_vs_even" in kinds:
            odd_raw = _tab.odd_even_table(sdf, metric) if len(sdf) else pd.DataFrame()
            odd_fmt = _tab.format_odd_even(odd_raw)
            odd_files = _tab.write_table(odd_raw, odd_fmt, tables_dir, f"{safe}__odd_even",
                                         caption=f"{study.get('title', name)}: odd rule, paired differences")
        title_ = study.get("title") or name
        figs = []
        run_ids = dict(zip(sdf["run_id"], sdf["spec"]))
        spec_order = list(dict.fromkeys(vt["spec"]))
        vt_all = _tab.expand_aliases(vt, study.get("variants"))  # grid cells that are aliases of a run
        for kind in kinds:
            stem = _fig.figure_stem(out_dir, name, kind)
            if kind == "accuracy_vs_cost":
                paths = _fig.accuracy_vs_cost(vt, stem, title_)
            elif kind == "accuracy_vs_k":
                paths = _fig.accuracy_vs_k(vt_all, stem, title_)
            elif kind == "gamma_b_heatmap":
                paths = _fig.gamma_b_heatmap(vt_all, stem, title_)
            elif kind == "odd_vs_even":
                paths = _fig.odd_vs_even(sdf, stem, title_, metric)
            else:
                paths = _fig.training_curves(curves, run_ids, stem, title_, spec_order)
            figs.append({"kind": kind, "caption": _fig.CAPTIONS[kind], **paths})
        description = study.get("description", "")
        links = []
        if study.get("tuned"):
            tune = study.get("tune", name)
            description = (f"{description} " if description else "") + TUNED_NOTE
            links = [{"label": f"Optuna study {tune}: history, importances, contour, best parameters",
                      "html": f"tuning/{tune}.html", "md": f"tuning/{tune}.md"}]
            links = [ln for ln in links if (out_dir / ln["html"]).exists() or (out_dir / ln["md"]).exists()]
        headline.extend(headline_rows(name, title_, vt) if len(vt) else [])
        sections.append({
            "name": name, "anchor": _anchor(name), "title": title_, "description": description, "links": links,
            "pairing": pairing_text(vt) if len(vt) else "", "throughput": thr if len(thr) else None,
            "kind": study.get("kind", "other"), "baseline_spec": base_spec, "groups": groups,
            "summary": _study_summary(vt) if len(vt) else "", "table_files": table_files,
            "odd_even": odd_fmt, "odd_even_prose": _odd_even_prose(odd_raw) if odd_raw is not None else [],
            "odd_even_files": odd_files, "incomplete": inc_fmt, "figures": figs,
        })

    # paper comparison
    if paper_counts is not None:
        counts = _paper.read_suite_counts(paper_counts)
    elif paper_comparison:  # outside the workflow: count here, cached beside the report
        ref = _paper.find_reference_csv(reference_csv, config)
        pairs = _paper.reference_pairs(_paper.load_reference(ref)) if ref is not None else []
        counts = _paper.suite_counts(pairs, out_dir / _paper.CACHE_NAME)
    else:
        counts = None
    pc = _paper.paper_comparison(reference_csv, config, counts)
    paper_files = {}
    if pc["raw"] is not None:
        paper_files = _tab.write_table(pc["raw"], pc["formatted"], out_dir / "tables", "paper_comparison",
                                       caption="ECA paper Table 3 beside the suite's counts")
    paper = {"intro": PAPER_INTRO, "message": pc["message"], "formatted": pc["formatted"], "path": pc["path"],
             "files": paper_files}

    counts = _status_counts(df) if len(df) else {}
    n_runs = int(df["run_id"].nunique()) if len(df) else 0
    bad = {s: n for s, n in counts.items() if s != "ok"}
    incomplete = ("" if not bad else
                  f"{sum(bad.values())} run(s) did not complete ({', '.join(f'{n} {s}' for s, n in bad.items())}); "
                  "each study lists its own below and excludes them from the statistics.")
    skipped_notes = [f"Skipped while aggregating: {s['file']} ({s['reason']})" for s in meta.get("skipped", [])]
    for mid, m in (meta.get("measurements") or {}).items():
        if m.get("status", "ok") != "ok":
            err = str(m.get("error") or "").strip().splitlines()
            skipped_notes.append(f"Measure job {mid} ({m.get('backbone') or '?'}) {m.get('status')}: "
                                 f"{err[0] if err else 'no error message'} — its throughput columns are empty.")
        for arch, error in (m.get("failed") or {}).items():
            first = str(error or "").strip().splitlines()
            skipped_notes.append(f"Measure job {mid}: architecture {arch} could not be measured "
                                 f"({first[0] if first else 'no error message'}).")
    data = {
        "title": title, "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "summary_path": str(summary_path), "plan_path": str(plan_path if not isinstance(plan_path, dict) else "<dict>"),
        "overview": {"n_studies": len(sections), "n_runs": n_runs, "status_counts": counts, "incomplete": incomplete},
        "headline": pd.DataFrame(headline), "reading_guide": READING_GUIDE, "skipped_notes": skipped_notes,
        "studies": sections, "paper": paper,
        "environment": _env_table(meta), "measurements": _measure_table(meta), "config": config,
    }
    html_path = out_dir / "index.html"
    atomic_write_text(out_dir / "index.md", render_markdown(data, out_dir))
    atomic_write_text(html_path, render_html(data, out_dir))
    return html_path
