"""Runs: one per (architecture group, seed), named by the group's simplest spec.

The name is chosen from the specs alone (fewest non-default parameters, then the shortest, then
alphabetical), so the plan is a pure function of the config and the study files; each study then
lists the runs that answer it under its own names for them.
"""
from __future__ import annotations

import copy

from ecabench.plan.config import backbone_label, dataset_identity_options
from ecabench.plan.errors import PlanError
from ecabench.plan.measurements import measurement_group
from ecabench.plan.studies import parse_baseline
from ecabench.runconfig import make_run_config, run_id


def _complexity(spec) -> tuple:
    return (len(spec.non_default()), len(str(spec)), str(spec))


class RunConfigs:
    """Normalised run configs, one per seed.

    ``make_run_config`` builds the model on the meta device to validate it, which dominates planning
    time at paper scale; a spec's config differs from its cell's base config only in the attention
    and seed fields, so configs are derived from the base, after checking once per plan that this
    gives exactly what ``make_run_config`` returns.
    """

    def __init__(self):
        self._derivation_ok: bool | None = None

    def __call__(self, group: dict, spec) -> list[dict]:
        base, seeds = group["base"], group["seeds"]
        derived = [{**copy.deepcopy(base), "attention": spec.to_dict(), "seed": s} for s in seeds]
        if self._derivation_ok is None:
            self._derivation_ok = all(self._full(group, spec, s) == d for s, d in zip(seeds[:2], derived[:2]))
        return derived if self._derivation_ok else [self._full(group, spec, s) for s in seeds]

    @staticmethod
    def _full(group: dict, spec, seed: int) -> dict:
        ds, base = group["dataset"], group["base"]
        try:
            return make_run_config(backbone=base["backbone"], attention=spec, dataset=ds["name"],
                                   dataset_options=dataset_identity_options(ds), train=group["train"],
                                   model=group["model"], seed=seed)
        except ValueError as exc:
            raise PlanError(f"{spec} on {base['backbone']}/{ds['name']}: {exc}") from None


def plan_runs(groups: dict) -> tuple[dict, dict, dict]:
    """(runs by id, measure jobs by id, group key -> [(seed, run id)])."""
    runs: dict = {}
    measurements: dict = {}
    group_runs: dict = {}
    configs_of = RunConfigs()
    for gkey in sorted(groups):
        g = groups[gkey]
        chosen = sorted(g["specs"], key=_complexity)[0]
        configs = configs_of(g, chosen)
        m = measurement_group(measurements, configs[0])
        m["architectures"].setdefault(g["arch"]["architecture_id"],
                                      {"spec": str(chosen), "attention": chosen.to_dict()})
        group_runs[gkey] = []
        for seed, cfg in zip(g["seeds"], configs):
            rid = run_id(cfg)
            group_runs[gkey].append((seed, rid))
            if rid in runs:  # e.g. a backbone listed under two alias names
                continue
            runs[rid] = _run_entry(g, chosen, seed, rid, cfg, m["measure_id"])
            m["runs"].append(rid)
    return runs, measurements, group_runs


def _label(g: dict) -> str:
    return backbone_label(g["base"]["backbone"], g["base"]["model"])


def _run_entry(g: dict, chosen, seed: int, rid: str, cfg: dict, mid: str) -> dict:
    ds = g["dataset"]
    return {
        "run_id": rid, "config": cfg, "backbone": _label(g), "dataset": ds["name"],
        "dataset_index": ds["index"], "seed": seed, "spec": str(chosen), "spec_id": chosen.id,
        "params": chosen.kwargs, "architecture_id": g["arch"]["architecture_id"],
        "k_per_stage": g["arch"]["k"], "aliases": [str(s) for s in g["specs"] if s != chosen],
        "studies": list(g["studies"]), "measure_id": mid,
    }


def study_output(study: dict, groups: dict, cells: dict, runs: dict, group_runs: dict) -> dict:
    """A study as the plan lists it: its variants (with aliases) and the runs answering it."""
    entries, variants, listed = [], [], set()
    for gkey, spec in study["placements"]:
        g = groups[gkey]
        own = cells[(study["name"], gkey)]
        chosen = runs[group_runs[gkey][0][1]]["spec"]
        label = next((s for s in own if str(s) == chosen), own[0])
        seeds = study["cell_seeds"].get(gkey, study["seeds"])
        ids = [(sd, rid) for sd, rid in group_runs[gkey] if sd in seeds]
        variants.append({
            "spec": str(spec), "spec_id": spec.id, "params": spec.kwargs, "backbone": _label(g),
            "dataset": g["dataset"]["name"], "architecture_id": g["arch"]["architecture_id"],
            "k_per_stage": g["arch"]["k"], "same_as": None if spec == label else str(label),
            "run_ids": [rid for _, rid in ids],
        })
        if (gkey, label) not in listed:
            listed.add((gkey, label))
            entries += [_study_run(g, label, chosen, seed, rid, runs) for seed, rid in ids]
    baseline = parse_baseline(study)
    return {
        "name": study["name"], "title": study["title"], "description": study["description"],
        "kind": study["kind"], "file": study["file"], "baseline": str(baseline) if baseline else None,
        "grid": study["grid"], "seeds": study["seeds"], "precision": study.get("precision"),
        "pair_by": study["pair_by"], "train": study["train"],
        "model": study["model"], "specs": [str(s) for _, s in study["specs"]], "variants": variants,
        "dropped": study["dropped"], "runs": entries,
    }


def _study_run(g: dict, label, chosen: str, seed: int, rid: str, runs: dict) -> dict:
    return {
        "run_id": rid, "spec": str(label), "spec_id": label.id, "run_spec": chosen, "variant": label.name,
        "params": label.kwargs, "backbone": _label(g), "dataset": g["dataset"]["name"], "seed": seed,
        "architecture_id": g["arch"]["architecture_id"], "k_per_stage": g["arch"]["k"],
        "aliases": [str(s) for s in g["specs"] if s != label], "measure_id": runs[rid]["measure_id"],
    }
