"""The report's sections, one function each: they write the section's tables and figures and return plain data.

The templates (``templates/*.j2``) only lay that data out, in HTML and in Markdown, so both pages
say the same thing. Paths in the returned data are relative to the report folder (links work when
the folder is moved); figures also keep their absolute PNG path for embedding.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import yaml

from ecabench.analysis import variant_table as _tab
from ecabench.reference import (
    CITATION,
    find_reference_csv,
    load_reference,
    read_suite_counts,
    reference_pairs,
    shown_reference,
)
from ecabench.report import figures as _fig
from ecabench.report import formatting as _fmt
from ecabench.report import paper as _paper
from ecabench.report import prose
from ecabench.report.layout import figure_kinds, file_links, rel_path, safe_name
from ecabench.report.table2 import table2_table
from ecabench.report.verdicts import verdict_section
from ecabench.report.writers import write_table

__all__ = ["config_section", "environment_section", "overview_section", "paper_section", "study_section"]
HEADLINE_COLUMNS = ("Study", "Variant", "vs", "Settings", "Average Δ [95% CI]", "New setting [≥95% prediction]", "Wins",
                    "P(better on a seed) [≥95%]")


def anchor(name: str) -> str:
    return "study-" + safe_name(name).lower()


# -------------------------------------------------------------------------------------- overview
def _status_counts(df: pd.DataFrame) -> dict[str, int]:
    if df.empty:
        return {}
    counts = df.drop_duplicates("run_id")["status"].value_counts()
    order = [s for s in _tab.STATUS_ORDER if s in counts] + [s for s in counts.index if s not in _tab.STATUS_ORDER]
    return {s: int(counts[s]) for s in order}


def _skipped_notes(meta: dict) -> list[str]:
    """Everything aggregation skipped or a measure job lost, one warning each (never silently)."""
    aside = {q["file"] for q in meta.get("quarantined") or []}  # damaged files moved to results/quarantine/
    notes = [f"{'Set aside as damaged' if s['file'] in aside else 'Skipped while aggregating'}: {s['file']} "
             f"({s['reason']})" for s in meta.get("skipped", [])]
    for mid, m in (meta.get("measurements") or {}).items():
        if m.get("status", "ok") != "ok":
            err = str(m.get("error") or "").strip().splitlines()
            notes.append(f"Measure job {mid} ({m.get('backbone') or '?'}) {m.get('status')}: "
                         f"{err[0] if err else 'no error message'} — its throughput columns are empty.")
        for arch, error in (m.get("failed") or {}).items():
            first = str(error or "").strip().splitlines()
            notes.append(f"Measure job {mid}: architecture {arch} could not be measured "
                         f"({first[0] if first else 'no error message'}).")
    return notes


def overview_section(df: pd.DataFrame, meta: dict, studies: list[dict], headline: list[dict]) -> dict:
    """The first screen: one sentence per study, the headline study's forest plot, the at-a-glance table
    (best variant per study and setting), the across-settings table (only variants with >= 2 settings),
    precision lines and warnings."""
    counts = _status_counts(df)
    bad = {s: n for s, n in counts.items() if s != "ok"}
    incomplete = ("" if not bad else
                  f"{sum(bad.values())} run(s) did not complete ({', '.join(f'{n} {s}' for s, n in bad.items())}); "
                  "each study lists its own below and excludes them from the statistics.")
    verdicts = [s["verdict"] for s in studies if s["verdict"]]
    rows = [r for v in verdicts for r in v["headline"]]
    across = pd.DataFrame(rows) if rows else None
    if across is not None:
        across = across[[c for c in HEADLINE_COLUMNS if c in across.columns]].fillna("–")
    forests = [v["forest"] for v in verdicts if v["forest"]]
    return {"n_studies": len(studies), "n_runs": int(df["run_id"].nunique()) if len(df) else 0,
            "status_counts": counts, "incomplete": incomplete,
            "sentences": [v["sentence"] for v in verdicts if v["sentence"]],
            "forest": forests[0] if forests else None,
            "headline": pd.DataFrame(headline) if headline else None,
            "reading_guide": prose.READING_GUIDE, "skipped_notes": _skipped_notes(meta),
            "precision": [s["precision"] for s in studies if s["precision"]], "verdicts": across,
            "answers": [a for v in verdicts for a in v["answers"]]}


# ---------------------------------------------------------------------------------------- studies
def _plan_aliases(study: dict) -> dict[str, list[str]]:
    aliases: dict[str, list[str]] = {}
    for r in study.get("runs", []):
        if r.get("aliases") and r.get("spec_id"):
            names = aliases.setdefault(r["spec_id"], [])
            names += [a for a in r["aliases"] if a not in names]
    return aliases


def _baseline_label(vt: pd.DataFrame, study: dict) -> str:
    if vt["is_baseline"].any():
        return vt.loc[vt["is_baseline"], "spec"].iloc[0]
    return "(none: the study has no baseline)" if study.get("baseline") is None else str(study.get("baseline"))


def _pseudo_plan_runs(sdf: pd.DataFrame) -> list[dict]:
    """Plan-like run entries rebuilt from the tidy rows (for figure selection when the plan lacks params)."""
    runs = []
    for _, r in _tab.eca_rule_view(_tab.run_level(sdf)).iterrows():
        params: dict = {}
        if r["k_param"]:
            params["k"] = int(r["k_param"]) if str(r["k_param"]).isdigit() else r["k_param"]
        for col in ("gamma", "b"):
            if not _fmt.is_missing(r[col]):
                params[col] = float(r[col])
        if r["odd"] is not None:
            params["odd"] = bool(r["odd"])
        runs.append({"run_id": r["run_id"], "params": params})
    return runs


def _study_kinds(study: dict, sdf: pd.DataFrame) -> list[str]:
    """The plan's figures plus any the data calls for (a table without a plan still gets its k figure)."""
    kinds = set(figure_kinds(study))
    if len(sdf):
        kinds |= set(figure_kinds({"kind": study.get("kind"), "runs": _pseudo_plan_runs(sdf)}))
    return [k for k in _fig.KINDS if k in kinds]


def _study_figures(name: str, study: dict, sdf: pd.DataFrame, vt: pd.DataFrame, ctx: dict) -> list[dict]:
    title = study.get("title") or name
    vt_all = _tab.expand_aliases(vt, study.get("variants"))  # grid cells that are aliases of a run
    draw = {
        "accuracy_vs_cost": lambda stem: _fig.accuracy_vs_cost(vt, stem, title),
        "accuracy_vs_k": lambda stem: _fig.accuracy_vs_k(vt_all, stem, title),
        "gamma_b_heatmap": lambda stem: _fig.gamma_b_heatmap(vt_all, stem, title),
        "odd_vs_even": lambda stem: _fig.odd_vs_even(sdf, stem, title, ctx["metric"]),
        "training_curves": lambda stem: _fig.training_curves(ctx["curves"], dict(zip(sdf["run_id"], sdf["spec"])),
                                                             stem, title, list(dict.fromkeys(vt["spec"]))),
    }
    figs = []
    for kind in _study_kinds(study, sdf):
        paths = draw[kind](_fig.figure_stem(ctx["out_dir"], name, kind))
        figs.append({"kind": kind, "caption": _fig.CAPTIONS[kind], "png": paths["png"],
                     "src": rel_path(paths["png"], ctx["out_dir"]), "files": file_links(paths, ctx["out_dir"])})
    return figs


def _tuning_links(name: str, study: dict, out_dir: Path) -> tuple[str, list[dict]]:
    """A tuned study's description (with how it was tuned) and links to its Optuna pages, where written."""
    description = study.get("description", "")
    if not study.get("tuned"):
        return description, []
    tune = study.get("tune", name)
    description = (f"{description} " if description else "") + prose.TUNED_NOTE
    links = [{"label": f"Optuna study {tune}: history, importances, contour, best parameters",
              "html": f"tuning/{tune}.html", "md": f"tuning/{tune}.md"}]
    return description, [ln for ln in links if (out_dir / ln["html"]).exists() or (out_dir / ln["md"]).exists()]


def _odd_even_part(name: str, title: str, sdf: pd.DataFrame, ctx: dict) -> dict:
    raw = _tab.odd_even_table(sdf, ctx["metric"])
    formatted = _fmt.format_odd_even(raw)
    files = write_table(raw, formatted, ctx["out_dir"] / "tables", f"{safe_name(name)}__odd_even",
                        caption=f"{title}: odd rule, paired differences")
    return {"odd_even": formatted, "odd_even_prose": prose.odd_even_prose(raw),
            "odd_even_files": file_links(files, ctx["out_dir"])}


def _table2_part(name: str, title: str, vt: pd.DataFrame, ctx: dict) -> dict | None:
    """The paper's Table 2 beside the study's differences, for a study that runs the paper's designs."""
    t2 = table2_table(vt)
    if t2 is None:
        return None
    raw, formatted, note = t2
    files = write_table(raw, formatted, ctx["out_dir"] / "tables", f"{safe_name(name)}__table2",
                        caption=f"{title}: the ECA paper's Table 2 beside the suite's differences")
    return {"table": formatted, "note": note, "files": file_links(files, ctx["out_dir"])}


def study_section(name: str, study: dict, sdf: pd.DataFrame, ctx: dict) -> tuple[dict, list[dict]]:
    """One study: per-variant tables per (backbone, dataset) with their sentences, throughput by
    implementation, odd-rule pairs, runs that did not complete, figures. Returns the section and its
    at-a-glance rows. ``ctx``: out_dir, metric, curves."""
    title = study.get("title") or name
    out_dir, safe = ctx["out_dir"], safe_name(name)
    decision = ctx["precision"].get(name)
    vt = _tab.add_precision(_tab.variant_table(sdf, study.get("baseline"), ctx["metric"], _plan_aliases(study),
                                               stage1=decision["stage1_seeds"] if decision else None), decision)
    base = _baseline_label(vt, study)
    fmt = _fmt.format_variant_table(vt, base)
    full = pd.concat([vt[["backbone", "dataset"]].rename(columns=str.title).reset_index(drop=True),
                      fmt.reset_index(drop=True)], axis=1) if len(vt) else fmt
    table_files = write_table(vt, full, out_dir / "tables", f"{safe}__variants",
                              caption=f"{title}: test top-1 over seeds vs {base}")
    inc_raw = _tab.incomplete_runs(sdf)
    inc_fmt = _fmt.format_incomplete(inc_raw)
    write_table(inc_raw, inc_fmt, out_dir / "tables", f"{safe}__incomplete",
                caption=f"{title}: runs that did not complete")
    groups = [{"backbone": backbone, "dataset": dataset, "formatted": fmt.loc[g.index].reset_index(drop=True),
               "row_classes": _fmt.row_classes(g), "prose": prose.group_prose(g, base)}
              for (backbone, dataset), g in vt.groupby(["backbone", "dataset"], sort=False)]
    thr = _fmt.throughput_table(sdf)
    description, links = _tuning_links(name, study, out_dir)
    section = {
        "name": name, "anchor": anchor(name), "title": title, "description": description, "links": links,
        "kind": study.get("kind", "other"), "baseline_spec": base, "groups": groups,
        "summary": prose.study_summary(vt) if len(vt) else "",
        "pairing": prose.pairing_text(_tab.pairing_gain(vt)) if len(vt) else "",
        "table_files": file_links(table_files, out_dir), "throughput": thr if len(thr) else None,
        "odd_even": None, "odd_even_prose": [], "odd_even_files": [],
        "incomplete": inc_fmt if len(inc_fmt) else None, "figures": _study_figures(name, study, sdf, vt, ctx),
        "precision": prose.precision_sentence(title, vt) if len(vt) else "",
        "verdict": verdict_section(name, title, sdf, base if vt["is_baseline"].any() else None, ctx,
                                   str(study.get("kind", "other")).removeprefix("eca_"), decision) if len(vt) else None,
    }
    if "odd_vs_even" in [f["kind"] for f in section["figures"]]:
        section.update(_odd_even_part(name, title, sdf, ctx))
    section["table2"] = _table2_part(name, title, vt, ctx)
    return section, (_fmt.headline_table(title, vt) if len(vt) else [])


# ------------------------------------------------------------------------------------------ paper
def _suite_counts(paper_counts, paper_comparison: bool, reference_csv, config: dict, out_dir: Path) -> dict | None:
    """The workflow's counts when given; for a library user without them, counted here (cached beside
    the report) unless ``paper_comparison`` is off; None: no suite counts."""
    if paper_counts is not None:
        return read_suite_counts(paper_counts)
    if not paper_comparison:
        return None
    from ecabench.reference.counts import CACHE_NAME, suite_counts  # builds models: only on this path

    ref = find_reference_csv(reference_csv, config)
    pairs = reference_pairs(load_reference(ref)) if ref is not None else []
    return suite_counts(pairs, out_dir / CACHE_NAME)


def paper_section(out_dir: Path, config: dict, reference_csv: str | os.PathLike | None,
                  paper_counts: str | os.PathLike | None, paper_comparison: bool) -> dict:
    """The paper's Table 3 beside the suite's counts (or a message saying why there is no comparison)."""
    counts = _suite_counts(paper_counts, paper_comparison, reference_csv, config, out_dir)
    pc = _paper.paper_comparison(reference_csv, config, counts)
    files = {}
    if pc["raw"] is not None:
        files = write_table(pc["raw"], pc["formatted"], out_dir / "tables", "paper_comparison",
                            caption="ECA paper Table 3 beside the suite's counts")
    return {"intro": prose.PAPER_INTRO, "message": pc["message"], "formatted": pc["formatted"],
            "path": shown_reference(pc["path"]) if pc["path"] is not None else None, "citation": CITATION,
            "files": file_links(files, out_dir)}


# ------------------------------------------------------------------------------------ environment
def _env_table(meta: dict) -> pd.DataFrame | None:
    """One row per distinct training environment recorded in the run records."""
    rows = []
    for e in meta.get("environments") or []:
        devices = e.get("devices")
        rows.append({
            "Runs": e.get("runs", ""), "Device": e.get("device", ""),
            "GPU(s)": ", ".join(devices) if isinstance(devices, list) else (devices or ""),
            "CPU": e.get("cpu_model", "") or "",
            "CPU kernels": e.get("cpu_capability", "") or "", "Threads": e.get("num_threads", "") or "",
            "Python": e.get("python", ""), "torch": e.get("torch", ""), "torchvision": e.get("torchvision", "") or "",
            "CUDA": e.get("cuda", "") or "", "ecabench": e.get("ecabench", "") or "",
            "git commit": (str(e.get("git_commit") or "")[:12] + (" (dirty)" if e.get("git_dirty") else "")),
            "Platform": e.get("platform", "") or "",
        })
    return pd.DataFrame(rows).fillna("") if rows else None


def _measure_table(meta: dict) -> pd.DataFrame | None:
    """One row per measure job: what was timed, how, and with how many threads."""
    rows = []
    for mid, m in (meta.get("measurements") or {}).items():
        setup = m.get("setup") or {}
        rows.append({
            "Measure job": mid, "Backbone": m.get("backbone") or "",
            "Input": "x".join(map(str, m.get("input_shape") or [])),
            "Architectures": m.get("architectures", ""), "Status": m.get("status", "ok"),
            "Device": setup.get("device_name") or setup.get("device") or "", "Threads": setup.get("threads", ""),
            "Batch": setup.get("batch_size", ""), "dtype": setup.get("dtype", ""),
            "Memory format": setup.get("memory_format", ""),
            "Implementations": ", ".join(setup.get("implementations") or []),
            "Modes": ", ".join(setup.get("modes") or []), "Rounds": setup.get("rounds", ""),
            "Timer": setup.get("timer", ""),
        })
    return pd.DataFrame(rows).astype(str) if rows else None


def environment_section(meta: dict) -> dict:
    """Where the runs trained and how throughput was measured (from the summary's ``_meta.json``)."""
    return {"environments": _env_table(meta), "measurements": _measure_table(meta)}


def config_section(config: dict | None) -> dict:
    """The workflow configuration as YAML (JSON when it does not serialise as YAML); None: none given."""
    if not config:
        return {"text": None}
    try:
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    except yaml.YAMLError:
        text = json.dumps(config, indent=2, default=str)
    return {"text": text.rstrip()}
