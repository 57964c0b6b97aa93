"""Tuning studies' test-split evaluation runs, joined to the tables as studies of their own."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ecabench.aggregate.io import expand_paths, load_records


def merge_tuned_studies(plan: dict, records: dict[str, dict], tune_summaries: Any,
                        skipped: list | None = None) -> tuple[dict, dict]:
    """Add tuning studies' test-split evaluation runs to ``plan`` as studies and their run records to
    ``records`` (in place); returns ``(plan, tuned study entries)``.

    The evaluation runs are ordinary run records (same schema and run id as any run), so they go
    through the same statistics; a tuning study named like a sweep study is added as ``tuned_<name>``.
    """
    summaries = [json.loads(Path(p).read_text()) for p in expand_paths(tune_summaries)]
    if not summaries:
        return plan, {}
    studies = dict(plan.get("studies") or {})
    tuned = {}
    for name, study in plan_studies(summaries).items():
        key = name if name not in studies else f"tuned_{name}"
        tuned[key] = {**study, "name": key, "tune": name}
    paths = [e["record"] for s in summaries for v in (s.get("variants") or {}).values()
             for e in [*(v.get("evaluation") or []), *((v.get("reference") or {}).get("evaluation") or [])]
             if e.get("record")]
    fresh = {rid: rec for rid, rec in load_records([p for p in paths if Path(p).exists()], skipped).items()
             if rid not in records}
    records.update(fresh)
    return {**plan, "studies": {**studies, **tuned}}, tuned


def tuned_label(spec: str | None, k_per_stage=None) -> str:
    """A tuned setting as tables and figures name it: continuous values to 4 significant digits and the
    k each stage resolved to when the spec does not fix it (``eca(gamma=3.146,b=1.098) [k 1,1,3]``); the
    CSV keeps the full values
    in its parameter columns."""
    label = re.sub(r"-?\d+\.\d+(?:e-?\d+)?", lambda m: f"{float(m.group()):.4g}", str(spec or ""))
    if k_per_stage and "k=" not in label:  # a fixed k already names itself
        flat = [",".join(map(str, k)) if isinstance(k, list) else str(k) for k in k_per_stage]
        label += f" [k {','.join(flat)}]"
    return label


#: How a variant's untuned self (its spec and the study's recipe as written) is named in tables.
UNTUNED = " (untuned)"


def _entries(evaluation, spec_label: str, spec_id, attention: Mapping, k, label: str, params) -> list[dict]:
    return [{"run_id": e["run_id"], "spec": spec_label, "spec_id": spec_id, "variant": attention.get("name"),
             "params": {k: v for k, v in attention.items() if k != "name"}, "seed": e["seed"],
             "k_per_stage": k, "aliases": [], "tuned_label": label, "tuned_params": params}
            for e in evaluation or []]


def _variant_runs(label: str, v: Mapping) -> tuple[list[dict], list[dict]]:
    """(tuned runs, untuned runs) of one variant; an untuned run that trains exactly what the tuned one
    trains (the search found the variant's own setting) is that run under a second name, not a run."""
    best = v.get("best") or {}
    attention = best.get("attention") or {}
    tuned = _entries(v.get("evaluation"), tuned_label(best.get("spec"), best.get("k_per_stage")),
                     best.get("spec_id"), attention, best.get("k_per_stage"), label, best.get("params"))
    ref = v.get("reference") or {}
    ref_label = tuned_label(ref.get("spec"), ref.get("k_per_stage")) + UNTUNED
    untuned = _entries(ref.get("evaluation"), ref_label, None, ref.get("attention") or {}, ref.get("k_per_stage"),
                       label, {})
    same = {r["run_id"] for r in tuned} & {r["run_id"] for r in untuned}
    for run in tuned:
        if run["run_id"] in same:
            run["aliases"].append(ref_label)
    return tuned, [r for r in untuned if r["run_id"] not in same]


def _baseline(variants: Mapping, tuned: list, untuned: list) -> str | None:
    """The plain backbone when it was tuned too (a fair comparison); else, for one variant, its untuned
    self (for ECA: gamma = 2, b = 1), so the tuned row reads as the gain from tuning."""
    for v in variants.values():
        if ((v.get("best") or {}).get("attention") or {}).get("name") == "none":
            return v["best"].get("spec")
    if len(variants) == 1:
        return untuned[0]["spec"] if untuned else (tuned[0]["spec"] if tuned else None)
    return None


def plan_studies(summaries: Iterable[str | os.PathLike | Mapping]) -> dict:
    """Study entries in the plan's format for the evaluation runs of tuning summaries
    (``results/tuning/<tune>/summary.json``), so they go through the same tables and report: each
    tuned setting and each variant's untuned self on the same seeds."""
    out = {}
    for s in summaries:
        s = s if isinstance(s, Mapping) else json.loads(Path(s).read_text())
        tuned, untuned = [], []
        for label, v in s["variants"].items():
            t, u = _variant_runs(label, v)
            tuned, untuned = tuned + t, untuned + u
        runs, baseline = tuned + untuned, _baseline(s["variants"], tuned, untuned)
        if runs:
            out[s["tune"]] = {"name": s["tune"], "title": s.get("title") or s["tune"],
                              "description": s.get("description", ""), "kind": "zoo" if s.get("fair") else "other",
                              "file": s.get("file"), "baseline": baseline, "tuned": True, "runs": runs}
    return out
