"""``build_plan``: workflow config + study files -> studies, runs and measure jobs.

A pure function of the config and the study files the config names (it reads no results): every
run is keyed by the hash of its normalised config and every measure job by its backbone and input,
so outputs are keyed by what they compute. Every check happens here, before the workflow starts a
job, with a message naming the offending key.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from ecabench import registry
from ecabench.models import skip_weight_init
from ecabench.plan.config import backbone_entries, dataset_entries, load_config, plugin_dirs
from ecabench.plan.errors import PlanError
from ecabench.plan.groups import BaseConfigs, check_distinct_datasets, describe_spec, group_studies
from ecabench.plan.measurements import add_references
from ecabench.plan.precision import stages
from ecabench.plan.runs import plan_runs, study_output
from ecabench.plan.studies import config_studies, expand_study, shifted
from ecabench.util import atomic_write_text

PLAN_VERSION = 2


def build_plan(config: Mapping, *, workdir: str | os.PathLike = ".", basedir: str | os.PathLike | None = None) -> dict:
    """The whole plan for a workflow config; raises :class:`PlanError`.

    ``workdir``: where relative paths in the config point (Snakemake's working directory);
    ``basedir``: the workflow's folder, the fallback for study files and plugin folders.
    """
    config = load_config(config)
    describe_spec.cache_clear()  # plugins may have been reloaded since the last plan
    dirs = plugin_dirs(config, workdir, basedir)
    plugin_errors = [str(e) for e in registry.discover(dirs)]
    with skip_weight_init():
        datasets, backbones = dataset_entries(config), backbone_entries(config)
        studies = config_studies(config, workdir, basedir)
        for study in studies:
            study["specs"] = _expand(study, plugin_errors)
        bases = BaseConfigs(shifted(config, config["seeds"])[0])
        check_distinct_datasets(config, datasets, backbones, bases)
        groups, cells = group_studies(config, studies, datasets, backbones, bases)
        runs, measurements, group_runs = plan_runs(groups)
        add_references(measurements)
    out = {s["name"]: study_output(s, groups, cells, runs, group_runs) for s in studies}
    return {
        "version": PLAN_VERSION, "config": config, "seeds": shifted(config, config["seeds"]),
        "backbones": [b["name"] for b in backbones],
        "datasets": [{"name": d["name"], **d["options"]} for d in datasets],
        "studies": out, "runs": runs, "measurements": measurements, "plugin_dirs": dirs,
        "plugin_errors": plugin_errors, **stages(out),
    }


def _expand(study: dict, plugin_errors: list[str]) -> list:
    try:
        return expand_study(study)
    except PlanError as exc:
        if plugin_errors:
            raise PlanError(f"{exc}\n(plugins that failed to load: " + "; ".join(plugin_errors) + ")") from None
        raise


def plan_json(plan: Mapping) -> str:
    """The plan as stable JSON text (same plan -> same bytes: it is a Snakemake param)."""
    return json.dumps(plan, sort_keys=True, indent=1, default=str) + "\n"


def write_plan(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_text(path, text)


def plan_warnings(plan: Mapping) -> list[str]:
    """Warnings a user must see before anything runs: plugins (in any folder searched) that failed to load,
    whether or not a study uses them."""
    return [f"warning: {err}" for err in plan.get("plugin_errors", [])]


def summarize(plan: Mapping, *, warnings: bool = True) -> str:
    """One line per study for the workflow's start-up message, then the plan's warnings (``warnings``)."""
    n_arch = sum(len(m["architectures"]) for m in plan["measurements"].values())
    lines = [f"ecabench plan: {len(plan['runs'])} training runs, {len(plan['measurements'])} measure job(s) timing "
             f"{n_arch} architectures, {len(plan['studies'])} studies"]
    for name, s in plan["studies"].items():
        n = len({r["architecture_id"] for r in s["runs"]})
        aliased = sum(1 for v in s["variants"] if v["same_as"])
        extra = f", {aliased} aliases" if aliased else ""
        dropped = f", {len(s['dropped'])} pairs dropped (no change)" if s["dropped"] else ""
        rule = s.get("precision")
        seeds = f"{len(s['seeds'])} seeds"
        if rule:
            caps = rule.get("max_seeds_by_backbone")
            cap = ", ".join(f"{v} ({k})" for k, v in caps.items()) if caps else rule["max_seeds"]
            seeds = f"{rule['n0']} seeds, then up to {cap} for a 95% CI half-width of {rule['half_width']} points"
        lines.append(f"  {name}: {len(s['specs'])} specs -> {n} architectures x {seeds}{extra}{dropped}")
    if warnings:
        lines += [f"  {w}" for w in plan_warnings(plan)]
    return "\n".join(lines)
