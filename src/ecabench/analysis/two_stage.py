"""Stein's two-stage seed rule, applied: stage-1 run records -> how many seeds each setting needs.

The workflow's ``precision`` checkpoint calls :func:`decide` with a study's rule (from the plan) and
its stage-1 records. Per (backbone, dataset) setting it measures the sd of every paired difference
between a variant and the study's baseline over the stage-1 seeds, computes the total seeds each
comparison needs for the target half-width (:func:`ecabench.analysis.paired.stein_total_n`, t quantile with the
stage-1 degrees of freedom) and keeps the largest, capped at ``max_seeds`` (the setting's backbone's
own cap when the rule gives one per backbone). The rule reads spreads
only, never the differences themselves, so stopping cannot favour a result (Stein 1945; the
sequential form is Chow & Robbins 1965). A comparison with fewer than two usable stage-1 pairs (runs
that failed or diverged) has no sd: its setting runs to the cap. A stage-1 run with no record at all
(missing, or damaged and set aside) is another matter: deciding without it would change the design
without a word, so :func:`decide` refuses (:class:`IncompleteStageError`) until it has been run.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ecabench.analysis.paired import stein_total_n

ACCURACY = "test_top1_pct"


class IncompleteStageError(ValueError):
    """Stage 1 lacks a run's record: the message names the runs."""


def _values(records: Mapping[str, dict], candidates: list[dict], stage1: set) -> dict:
    """{(backbone, dataset): {spec: {seed: top-1}}} over the stage-1 runs that completed."""
    out: dict = {}
    for c in candidates:
        if c["seed"] not in stage1:
            continue
        cell = out.setdefault((c["backbone"], c["dataset"]), {}).setdefault(c["spec"], {})
        rec = records.get(c["run_id"]) or {}
        value = (rec.get("metrics") or {}).get(ACCURACY)
        if rec.get("status") == "ok" and isinstance(value, (int, float)) and math.isfinite(value):
            cell[c["seed"]] = float(value)
    return out


def _comparison(spec: str, values: dict, base: dict, rule: Mapping) -> dict:
    seeds = sorted(set(values) & set(base))
    d = np.array([values[s] - base[s] for s in seeds])
    sd = float(d.std(ddof=1)) if len(d) >= 2 else math.nan
    need = stein_total_n(sd, len(d), rule["half_width"], level=rule["level"]) if len(d) >= 2 else -1
    # s0 and n0: what Stein's interval of the final comparison uses (mean +- t(n0 - 1) * s0 / sqrt(N))
    return {"spec": spec, "n_pairs": len(d), "sd": sd, "s0": sd, "n0": len(d), "n_required": need}


def _setting(key: tuple, cell: dict, rule: Mapping, baseline: str, seeds: list[int], cap: int) -> dict:
    base = cell.get(baseline, {})
    comparisons = [_comparison(spec, v, base, rule) for spec, v in cell.items() if spec != baseline]
    needs = [c["n_required"] for c in comparisons]
    unknown = not comparisons or any(n < 0 for n in needs)
    required = cap if unknown else max(needs)
    n = min(max(required, rule["n0"]), cap)
    sds = [c["sd"] for c in comparisons if math.isfinite(c["sd"])]
    return {"backbone": key[0], "dataset": key[1], "n0": rule["n0"], "max_seeds": cap, "comparisons": comparisons,
            "sd_max": max(sds) if sds else math.nan, "n_required": None if unknown else required, "n": n,
            "seeds": seeds[:n], "cap_reached": unknown or required > cap,
            "note": "a comparison had fewer than 2 stage-1 pairs: its sd is unknown, so the cap" if unknown else ""}


def _absent(records: Mapping[str, dict], candidates: list[dict], stage1: set) -> list[str]:
    """The stage-1 runs without a record, described (a failed or diverged run has one: it counts)."""
    return [f"{c['run_id']} ({c['spec']} on {c['backbone']}/{c['dataset']}, seed {c['seed']})"
            for c in sorted(candidates, key=lambda c: (c["backbone"], c["dataset"], c["seed"], c["spec"]))
            if c["seed"] in stage1 and c["run_id"] not in records]


def decide(plan_rule: Mapping, records: Mapping[str, dict]) -> dict:
    """The seeds each setting of a study keeps (``plan_rule``: one entry of the plan's ``precision``).

    Only on a complete stage 1: a stage-1 run without a record raises :class:`IncompleteStageError`.
    """
    rule = plan_rule["rule"]
    absent = _absent(records, plan_rule["candidates"], set(plan_rule["stage1_seeds"]))
    if absent:
        raise IncompleteStageError(
            f"study {plan_rule['study']!r}: stage 1 is incomplete, so no seeds are decided (a decision on part "
            f"of stage 1 would change the design unannounced); no valid record of {len(absent)} run(s): "
            + "; ".join(absent))
    cells = _values(records, plan_rule["candidates"], set(plan_rule["stage1_seeds"]))
    caps = plan_rule.get("caps") or {}
    settings = [_setting(key, cell, rule, plan_rule["baseline"], plan_rule["seeds"],
                         caps.get(key[0], rule["max_seeds"])) for key, cell in sorted(cells.items())]
    return {"study": plan_rule["study"], "rule": dict(rule), "baseline": plan_rule["baseline"],
            "stage1_seeds": list(plan_rule["stage1_seeds"]), "settings": settings}


__all__ = ["IncompleteStageError", "decide"]
