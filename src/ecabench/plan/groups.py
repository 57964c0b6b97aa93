"""Architecture groups: every spec a study lists, on every dataset and backbone, by the model it builds.

Two specs that build the same architecture on a backbone (``eca`` and ``eca(k=3)`` on ResNet-20) are
one group, trained once per seed; a group shared by two studies is trained once for both. A study
with ``pair_by`` keeps only the specs whose partner (differing only in that parameter) builds a
different model.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ecabench.models import describe, stage_values
from ecabench.plan.config import backbone_label, dataset_identity_options, model_options, recipe
from ecabench.plan.errors import PlanError
from ecabench.plan.studies import parse_baseline, precision_cap
from ecabench.runconfig import make_run_config
from ecabench.util import canonical_json


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@lru_cache(maxsize=4096)
def describe_spec(backbone: str, spec: Any, num_classes: int, in_channels: int, model_json: str) -> dict:
    """Architecture id, per-stage k and parameter counts of a spec (built on the meta device, cached)."""
    d = describe(backbone, spec, num_classes=num_classes, in_channels=in_channels, **json.loads(model_json))
    ks = stage_values(d, "k")
    return {"architecture_id": d["architecture_id"], "k": ks if any(k != [] for k in ks) else None,
            "params_total": d["params_total"], "params_attention": d["params_attention"]}


class BaseConfigs:
    """The run config of the plain backbone per (dataset, backbone, recipe, model): what every run of
    that cell derives from. Errors are attributed to the config key that caused them."""

    def __init__(self, seed: int):
        self.seed = seed
        self._cache: dict = {}

    def get(self, ds: dict, backbone: str, train: dict, model: dict, where: str) -> dict:
        key = (ds["index"], backbone, canonical(train), canonical(model))
        if key not in self._cache:
            try:
                self._cache[key] = make_run_config(
                    backbone=backbone, attention="none", dataset=ds["name"],
                    dataset_options=dataset_identity_options(ds), train=train, model=model, seed=self.seed)
            except ValueError as exc:
                raise PlanError(f"{where}: {exc}") from None
        return self._cache[key]


def check_distinct_datasets(config: dict, datasets: list, backbones: list, bases: BaseConfigs) -> None:
    """Two dataset entries that give the same runs (they differ only in where the data is) are an error."""
    seen: dict = {}
    for ds in datasets:
        for bb in backbones:
            base = bases.get(ds, bb["name"], recipe(config, ds, bb), model_options(config, bb),
                             f"config key 'datasets[{ds['index']}]' ({ds['name']}) with backbone {bb['name']!r}")
            other = seen.setdefault(canonical_json(base), ds["index"])
            if other != ds["index"]:
                raise PlanError(f"config key 'datasets[{ds['index']}]' gives the same runs as 'datasets[{other}]' "
                                "(root and download are not part of a run's identity); remove one")


def _pair_groups(specs: list, key: str) -> dict:
    groups: dict = {}
    for spec in specs:
        kwargs = spec.kwargs
        if key in kwargs:
            rest = canonical({"name": spec.name, **{k: v for k, v in kwargs.items() if k != key}})
            groups.setdefault(rest, []).append(spec)
    return groups


def paired_specs(study: dict, arch: dict, base: dict, ds_name: str) -> list:
    """The study's specs on one cell, without the pair_by partners that build the same model."""
    kept = [spec for _, spec in study["specs"]]
    key = study["pair_by"]
    if not key:
        return kept
    pairs = _pair_groups(kept, key)
    if not pairs:
        raise PlanError(f"{study['where']}: pair_by={key!r} but no variant has a parameter {key!r}")
    drop = set()
    for members in pairs.values():
        if len(members) < 2 or len({arch[s]["architecture_id"] for s in members}) == 1:
            drop.update(members)
            study["dropped"].append({
                "backbone": backbone_label(base["backbone"], base["model"]), "dataset": ds_name,
                "specs": [str(s) for s in members],
                "k_per_stage": arch[members[0]]["k"],
                "reason": (f"{key} does not change the architecture" if len(members) > 1
                           else f"no partner differing only in {key}"),
            })
    baseline = parse_baseline(study)
    return [s for s in kept if s not in drop or s == baseline]


def cell_architectures(study: dict, base: dict, backbone: str) -> dict:
    nc, ic = base["dataset"]["num_classes"] or 1000, base["dataset"]["in_channels"]
    arch = {}
    for label, spec in study["specs"]:
        try:
            arch[spec] = describe_spec(base["backbone"], spec, nc, ic, canonical(base["model"]))
        except ValueError as exc:
            raise PlanError(f"{label} on {backbone}: {exc}") from None
    return arch


def study_backbones(study: dict, backbones: list) -> list:
    """The config's backbone entries a study runs on (all unless its entry names some)."""
    wanted = study.get("backbones")
    if not wanted:
        return backbones
    known = {bb["name"] for bb in backbones}
    for name in wanted:
        if name not in known:
            raise PlanError(f"{study['where']}: backbones lists {name!r}, which is not one of the config's "
                            f"backbones ({', '.join(sorted(known))})")
    return [bb for bb in backbones if bb["name"] in wanted]


def group_studies(config: dict, studies: list, datasets: list, backbones: list,
                  bases: BaseConfigs) -> tuple[dict, dict]:
    """(groups, study_cells): group key -> group; (study, group key) -> the study's specs in it."""
    groups: dict = {}
    cells: dict = {}
    for study in studies:
        study["placements"], study["dropped"], study["cell_seeds"] = [], [], {}
        on = study_backbones(study, backbones)
        _check_caps(study, on)
        for ds in datasets:
            for bb in on:
                model = model_options(config, bb, study)
                train = recipe(config, ds, bb, study)
                base = bases.get(ds, bb["name"], train, model, f"{study['where']}: train/model overrides")
                arch = cell_architectures(study, base, bb["name"])
                seeds = _cell_seeds(study, bb["name"], backbone_label(base["backbone"], base["model"]))
                for spec in paired_specs(study, arch, base, ds["name"]):
                    gkey = (ds["index"], base["backbone"], arch[spec]["architecture_id"], canonical(train),
                            canonical(base["model"]))
                    _place(groups.setdefault(gkey, {"specs": [], "studies": [], "dataset": ds, "train": train,
                                                    "model": model, "base": base, "arch": arch[spec], "seeds": []}),
                           study, spec, seeds)
                    cells.setdefault((study["name"], gkey), []).append(spec)
                    study["placements"].append((gkey, spec))
                    study["cell_seeds"][gkey] = seeds
    for g in groups.values():
        g["seeds"].sort()
    return groups, cells


def _check_caps(study: dict, on: list) -> None:
    """Per-backbone seed caps name only backbones the study runs on (a missing one fails in precision_cap)."""
    by_backbone = (study.get("precision") or {}).get("max_seeds_by_backbone") or {}
    unknown = sorted(set(by_backbone) - {bb["name"] for bb in on})
    if unknown:
        raise PlanError(f"{study['where']}: precision.max_seeds gives a cap for {unknown[0]!r}, which is not one of "
                        f"the backbones the study runs on ({', '.join(bb['name'] for bb in on)})")


def _cell_seeds(study: dict, backbone: str, label: str) -> list[int]:
    """The study's candidate seeds on one backbone: all of them, or up to that backbone's cap (recorded
    in the rule under the setting's label, for the checkpoint and the report)."""
    cap = precision_cap(study, backbone)
    if cap is None:
        return list(study["seeds"])
    study["precision"].setdefault("caps", {})[label] = cap
    return list(study["seeds"][:cap])


def _place(group: dict, study: dict, spec, seeds: list[int]) -> None:
    group["seeds"] += [sd for sd in seeds if sd not in group["seeds"]]
    if spec not in group["specs"]:
        group["specs"].append(spec)
    if study["name"] not in group["studies"]:
        group["studies"].append(study["name"])

