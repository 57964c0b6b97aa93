"""Building the tidy summary table and the curves table from loaded records, measurements and the plan."""
from __future__ import annotations

import json
import warnings
from collections import Counter

import pandas as pd

from ecabench.aggregate.columns import COLUMNS, CURVE_COLUMNS, PARAM_PREFIX, param_text, typed, unit_of
from ecabench.aggregate.io import AggregateWarning
from ecabench.aggregate.rows import (
    _attention_params,
    _curve_rows,
    _dataset_name,
    _k_string,
    _measurement_for,
    _run_rows,
    _variant_of,
)
from ecabench.plan.reader import DEFAULT_STUDY


def _param_cell(value):
    """A parameter as it enters the table: scalars as they are (typed per column later), lists as text."""
    return param_text(value) if isinstance(value, (list, tuple, dict)) else value


def _environment_summary(records: dict[str, dict]) -> list[dict]:
    keys = ("python", "torch", "torchvision", "fvcore", "ecabench", "device", "cpu_model", "cpu_capability",
            "cuda", "cudnn", "devices", "num_threads", "platform", "git_commit", "git_dirty")
    counter: Counter = Counter()
    for rec in records.values():
        env = rec.get("environment") or {}
        counter[json.dumps({k: env.get(k) for k in keys if k in env}, sort_keys=True, default=str)] += 1
    return [{**json.loads(k), "runs": n} for k, n in counter.most_common()]


# ------------------------------------------------------------------------------------------ main


def build_tables(records: dict[str, dict], measurements: dict[str, dict],
                 plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy summary table and the curves table from already-loaded inputs (no I/O)."""
    studies = plan.get("studies") or {}
    if not studies:  # no plan: one study with every record
        studies = {DEFAULT_STUDY: {"runs": [{"run_id": rid} for rid in records], "baseline": "none"}}
    rows: list[dict] = []
    missing: list[str] = []
    param_cols: dict[str, None] = {}  # param_<name> in order of first appearance
    for study, s in studies.items():
        for plan_run in s.get("runs", []):
            rid = str(plan_run.get("run_id"))
            rec = records.get(rid)
            if rec is None:
                missing.append(f"{study}/{rid}")
            cfg = (rec or {}).get("config") or {}
            arch = (rec or {}).get("architecture_id") or plan_run.get("architecture_id") or ""
            meas = _measurement_for(measurements, plan_run, arch)
            # the study's own name for the variant (a deduplicated run may be recorded under an alias)
            spec = plan_run.get("spec") or (rec or {}).get("spec") or ""
            spec_id = plan_run.get("spec_id") or (rec or {}).get("spec_id") or ""
            seed = cfg.get("seed", plan_run.get("seed"))
            params = _attention_params(rec, plan_run)
            resolved = (rec or {}).get("resolved") or {}
            if "k" not in resolved and plan_run.get("k_per_stage") is not None:
                resolved = {"k": plan_run["k_per_stage"]}
            aliases = list(plan_run.get("aliases") or [])
            run_spec = (rec or {}).get("spec") or plan_run.get("run_spec")
            if run_spec and run_spec != spec and run_spec not in aliases:
                aliases.insert(0, run_spec)
            base = {
                "study": study,
                "run_id": rid,
                "backbone": plan_run.get("backbone") or cfg.get("backbone") or "",
                "dataset": _dataset_name(rec, plan_run),
                "variant": _variant_of(spec, rec),
                "spec": spec,
                "spec_id": spec_id,
                "architecture_id": arch,
                "seed": seed if isinstance(seed, int) else None,
                "status": rec["status"] if rec else "missing",
                "k_per_stage": _k_string(resolved.get("k")),
                "aliases": "; ".join(str(a) for a in aliases) if isinstance(aliases, list) else str(aliases),
                "error": ((rec or {}).get("error") or ("no run record" if rec is None else "")) or "",
                "device": str(((rec or {}).get("environment") or {}).get("device") or ""),
                **{PARAM_PREFIX + str(name): _param_cell(value) for name, value in params.items()},
            }
            param_cols.update(dict.fromkeys(c for c in base if c.startswith(PARAM_PREFIX)))
            for metric, value, source, impl in _run_rows(rec, meas, arch):
                rows.append({**base, "metric": metric, "value": value, "unit": unit_of(metric), "source": source,
                             "implementation": impl})
    if missing:
        warnings.warn(f"{len(missing)} planned run(s) have no record and are marked 'missing': "
                      + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""), AggregateWarning, stacklevel=2)
    df = pd.DataFrame(rows, columns=COLUMNS + list(param_cols))
    df = typed(df)

    curve_rows = []
    used = {r for s in studies.values() for r in (str(x.get("run_id")) for x in s.get("runs", []))}
    for rid in sorted(used):
        rec = records.get(rid)
        if rec is None:
            continue
        cfg = rec.get("config") or {}
        head = {"run_id": rid, "backbone": cfg.get("backbone", ""), "dataset": _dataset_name(rec, None),
                "variant": _variant_of(rec.get("spec", ""), rec), "spec": rec.get("spec", ""),
                "spec_id": rec.get("spec_id", ""), "seed": cfg.get("seed"), "status": rec.get("status")}
        curve_rows.extend({**head, **c} for c in _curve_rows(rec))
    curves = pd.DataFrame(curve_rows, columns=CURVE_COLUMNS)
    curves["seed"] = pd.array(curves["seed"], dtype="Int64")
    curves["epoch"] = pd.array(curves["epoch"], dtype="Int64")
    curves["value"] = curves["value"].astype(float)
    return df, curves
