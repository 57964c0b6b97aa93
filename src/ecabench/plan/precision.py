"""The two-stage seed rule in the plan: which runs every workflow needs, which ones a rule may add.

A study with ``precision`` lists its candidate seeds up to the cap; the runs of its first ``n0``
seeds (stage 1) are needed outright, like every run of a study without the rule. The rest wait for
the workflow's ``precision`` checkpoint (:mod:`ecabench.analysis.two_stage`), which reads the stage-1 records
and picks, per setting, how many seeds the target needs: the plan names those runs in advance (their
ids are hashes of their configs), so stage 2 only ever adds runs, and a run made once is never redone.
"""
from __future__ import annotations

from typing import Mapping


def stages(studies: Mapping) -> dict:
    """``{"static_runs": [...], "precision": {study: {rule, baseline, candidates}}}`` for a plan's studies."""
    static: set[str] = set()
    rules: dict = {}
    for name, s in studies.items():
        rule = s.get("precision")
        if not rule:
            static.update(r["run_id"] for r in s["runs"])
            continue
        stage1 = set(rule["stage1_seeds"])
        static.update(r["run_id"] for r in s["runs"] if r["seed"] in stage1)
        rules[name] = {
            "study": name, "rule": {k: rule[k] for k in ("half_width", "n0", "max_seeds", "level")},
            "caps": dict(rule.get("caps") or {}),  # per setting's backbone label, when the caps differ
            "seeds": s["seeds"], "stage1_seeds": rule["stage1_seeds"], "baseline": s["baseline"],
            "candidates": [{k: r[k] for k in ("run_id", "backbone", "dataset", "seed", "spec", "spec_id")}
                           for r in s["runs"]],
        }
    return {"static_runs": sorted(static), "precision": rules}


def stage1_run_ids(rule: Mapping) -> list[str]:
    stage1 = set(rule["stage1_seeds"])
    return sorted({c["run_id"] for c in rule["candidates"] if c["seed"] in stage1})


def chosen_run_ids(rule: Mapping, decision: Mapping) -> list[str]:
    """The runs of the seeds a decision (the checkpoint's output) keeps, setting by setting."""
    keep = {(d["backbone"], d["dataset"]): set(d["seeds"]) for d in decision["settings"]}
    return sorted({c["run_id"] for c in rule["candidates"]
                   if c["seed"] in keep.get((c["backbone"], c["dataset"]), ())})



def restrict_plan(plan: Mapping, decisions: list[Mapping]) -> dict:
    """The plan with each precision study's runs cut to the seeds its decision kept, and the decision
    attached to the study (``precision_decision``), so the tables list exactly the runs that answer it."""
    studies = dict(plan.get("studies") or {})
    for decision in decisions:
        name = decision["study"]
        if name not in studies:
            continue
        keep = {(s["backbone"], s["dataset"]): set(s["seeds"]) for s in decision["settings"]}
        s = dict(studies[name])
        s["runs"] = [r for r in s.get("runs", []) if r.get("seed") in keep.get((r.get("backbone"), r.get("dataset")),
                                                                               set(decision["stage1_seeds"]))]
        s["precision_decision"] = decision
        studies[name] = s
    return {**plan, "studies": studies}


__all__ = ["chosen_run_ids", "restrict_plan", "stage1_run_ids", "stages"]
