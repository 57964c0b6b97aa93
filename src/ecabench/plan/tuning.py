"""Tuning studies: another kind of study in the same planner.

A tuning study file names a budget, variants with their search spaces and (optionally) a shared
search over the training recipe; planning checks it against its schema, resolves backbone, dataset
and recipe exactly as the sweep's runs do, checks every search dimension against the variant's spec
and the recipe at both ends of its range, and resolves the storage, so a bad study fails before any
job starts. The result is one worker task per variant (JSON: it is a Snakemake param).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from ecabench import registry
from ecabench.models import describe
from ecabench.plan.config import dataset_entries, dataset_identity_options, load_config, plugin_dirs
from ecabench.plan.errors import TuneError
from ecabench.plan.search import extremes, parse_distribution
from ecabench.plan.storage import mask_url, resolve_storage
from ecabench.plan.studies import read_study_file, shown_path
from ecabench.registry import BACKBONES
from ecabench.runconfig import TrainConfig, make_run_config
from ecabench.schemas import show, validate
from ecabench.specs import parse_spec
from ecabench.util import short_hash

TRAIN_TUNABLE = ("lr", "weight_decay", "momentum", "label_smoothing", "warmup_epochs", "batch_size")
OBJECTIVE = "val_top1_pct"  # of the final epoch, on the validation split carved from the training set
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _first_backbone(config: Mapping) -> str | None:
    for entry in config.get("backbones") or []:
        return entry if isinstance(entry, str) else entry.get("name")
    return None


def _backbone_train(config: Mapping, name: str) -> dict:
    for entry in config.get("backbones") or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return dict(entry.get("train") or {})
    return {}


def _dataset(raw: Mapping, config: Mapping, where: str) -> dict:
    entries = dataset_entries(config)
    ds_raw = raw.get("dataset")
    if ds_raw is None:
        if not entries:
            raise TuneError(f"{where}: no dataset given and the config lists none")
        return entries[0]
    if isinstance(ds_raw, str):
        match = [e for e in entries if e["name"] == ds_raw]
        return match[0] if match else {"index": None, "name": ds_raw, "train": {}, "runtime": {}, "options": {}}
    return dataset_entries({"datasets": [ds_raw]})[0] | {"index": None}


def _run_kwargs(raw: Mapping, config: Mapping, where: str) -> dict:
    """Backbone, dataset, recipe and model of the study's trials: resolved as the sweep's runs are."""
    backbone = raw.get("backbone", _first_backbone(config))
    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise TuneError(f"{where}: backbone {show(backbone)} is not a known backbone; known: "
                        + ", ".join(BACKBONES.names()))
    ds = _dataset(raw, config, where)
    recipe = {**(config.get("train") or {}), **ds["train"], **_backbone_train(config, backbone),
              **(raw.get("train") or {})}
    return {"backbone": backbone, "dataset": ds["name"], "dataset_options": dataset_identity_options(ds),
            "train": recipe, "model": {**(config.get("model") or {}), **(raw.get("model") or {})},
            "seed": raw.get("seed", (config.get("seeds") or [0])[0])}


def _base_config(run_kwargs: dict, where: str) -> dict:
    try:
        base = make_run_config(attention="none", **run_kwargs)
    except ValueError as exc:
        raise TuneError(f"{where}: {exc}") from None
    if not base["dataset"]["val_size"]:
        raise TuneError(f"{where}: tuning needs a validation split but dataset {run_kwargs['dataset']!r} has "
                        "val_size=0 (the test split is never used for tuning)")
    return base


def _shared_search(raw: Mapping, base: dict, where: str) -> dict:
    """The study's search over the training recipe, each end of each range a valid recipe."""
    shared = {}
    for key, dist_raw in (raw.get("search") or {}).items():
        dwhere = f"{where}: search.{key}"
        if key not in TRAIN_TUNABLE:
            raise TuneError(f"{dwhere}: unknown training parameter {key!r}; tunable: {', '.join(TRAIN_TUNABLE)} "
                            "(attention parameters go under variants.<name>.search)")
        dist = parse_distribution(key, dist_raw, dwhere)
        for value in extremes(dist):
            try:
                TrainConfig.from_dict({**base["train"], key: value})
            except (ValueError, TypeError) as exc:
                raise TuneError(f"{dwhere}: value {show(value)} is not a valid training setting: {exc}") from None
        shared[key] = {"target": "train", **dist}
    return shared


def _variant_search(spec, vraw: Mapping, shared: dict, base: dict, vwhere: str) -> dict:
    """A variant's search over its spec's parameters (each end a valid spec on the backbone), plus the shared one."""
    nc, ic = base["dataset"]["num_classes"] or 1000, base["dataset"]["in_channels"]
    accepted = list(spec.kwargs)
    search = {}
    for key, dist_raw in (vraw.get("search") or {}).items():
        dwhere = f"{vwhere}.search.{key}"
        if key not in accepted:
            hint = f" (training parameters go under the study's search: {key})" if key in TRAIN_TUNABLE else ""
            raise TuneError(f"{dwhere}: unknown parameter {key!r} for {spec.name}{hint}; "
                            f"its parameters: {', '.join(accepted) or 'none'}")
        if key in shared:
            raise TuneError(f"{dwhere}: {key!r} is also a training parameter searched by the study")
        dist = parse_distribution(key, dist_raw, dwhere)
        for value in extremes(dist):
            try:
                describe(base["backbone"], parse_spec({**spec.to_dict(), key: value}), num_classes=nc,
                         in_channels=ic, **base["model"])
            except ValueError as exc:
                raise TuneError(f"{dwhere}: value {show(value)} gives no valid {spec.name} spec: {exc}") from None
        search[key] = {"target": "attention", **dist}
    search.update(shared)
    if not search:
        raise TuneError(f"{vwhere}: empty search space: give the variant a search (e.g. gamma: {{low: 1.0, "
                        "high: 4.0}}) or the study a recipe search (e.g. lr: {low: 0.01, high: 0.5, log: true})")
    return search


def _options(raw: Mapping, config: Mapping) -> tuple[dict, dict | None, list | None]:
    """Sampler options, pruner options (None: no pruning) and the evaluation seeds (None: no evaluation)."""
    pruner = raw.get("pruner")
    if pruner in (None, False, "none") or (isinstance(pruner, Mapping) and pruner.get("type") == "none"):
        pruner = None
    evaluate = raw.get("evaluate")
    if evaluate in (None, False):
        seeds = None
    else:
        seeds = list((evaluate if isinstance(evaluate, Mapping) else {}).get("seeds") or config["seeds"])
    return dict(raw["sampler"]), (dict(pruner) if pruner is not None else None), seeds


def _task(name: str, label: str, spec, search: dict, ctx: dict, storage: Any, workers: int, workdir) -> dict:
    """One variant's worker task; its Optuna study name carries a hash of everything that is tuned."""
    identity = {"spec": spec.to_dict(), "search": search, "run": ctx["run"], "base_config": ctx["base"],
                "sampler": ctx["sampler"], "pruner": ctx["pruner"], "objective": OBJECTIVE}
    try:
        st = resolve_storage(storage, workers=workers, default_dir=f"{ctx['results_dir']}/tuning/{name}/{label}",
                             workdir=workdir)
    except TuneError as exc:
        raise TuneError(f"{exc} (tuning study {name!r})") from None
    return {
        "tune": name, "variant": label, "title": ctx["title"],
        "study_name": f"ecabench/{name}/{label}/{short_hash(identity, 12)}",
        "storage": {**st, "url": mask_url(st["url"]) if st["url"] else None},  # no password in params
        "budget": ctx["budget"], "spec": spec.to_dict(), "spec_str": str(spec), "search": search, "run": ctx["run"],
        "sampler": ctx["sampler"], "pruner": ctx["pruner"], "evaluate_seeds": ctx["eval_seeds"],
        "direction": "maximize", "objective": OBJECTIVE, "results_dir": ctx["results_dir"],
    }


def _variants(raw: Mapping, name: str, where: str, ctx: dict, shared: dict, storage, workers, workdir) -> dict:
    variants = {}
    for label, vraw in raw["variants"].items():
        vwhere = f"{where}: variants.{label}"
        vraw = {"spec": vraw} if isinstance(vraw, str) else vraw
        try:
            spec = parse_spec(vraw.get("spec", label))
        except ValueError as exc:
            raise TuneError(f"{vwhere}.spec: {exc}") from None
        search = _variant_search(spec, vraw, shared, ctx["base"], vwhere)
        variants[label] = _task(name, label, spec, search, ctx, storage, workers, workdir)
    return variants


def load_tune_study(ref: str, *, config: Mapping, index: int = 0, workdir: str | os.PathLike = ".",
                    basedir: str | os.PathLike | None = None, storage: Any = "auto", workers: int = 1,
                    results_dir: str = "results") -> dict:
    """Read, check and expand one tuning study file into a worker task per variant."""
    path, raw = read_study_file(ref, f"config key 'tuning.studies[{index}]'",
                                study_dir=config.get("study_dir", "ablations"), workdir=workdir, basedir=basedir,
                                error=TuneError)
    name, where = path.stem, f"tuning study {path.stem!r} ({path})"
    if not set(name) <= _NAME_OK:
        raise TuneError(f"{where}: the file name must use letters, digits, '_' and '-' only")
    if not isinstance(raw, Mapping):
        raise TuneError(f"{where}: a tuning study is a mapping with budget and variants, got {show(raw)}")
    raw = validate(raw, "tune_study", where, TuneError)
    run = _run_kwargs(raw, config, where)
    base = _base_config(run, where)
    sampler, pruner, eval_seeds = _options(raw, config)
    ctx = {"run": run, "base": base, "sampler": sampler, "pruner": pruner, "eval_seeds": eval_seeds,
           "budget": raw["budget"], "title": raw.get("title") or name, "results_dir": results_dir}
    variants = _variants(raw, name, where, ctx, _shared_search(raw, base, where), storage, workers, workdir)
    return {"name": name, "file": shown_path(path, workdir), "title": raw.get("title") or name,
            "description": (raw.get("description") or "").strip(), "budget": raw["budget"],
            "evaluate_seeds": eval_seeds, "fair": eval_seeds is not None and len(variants) > 1,
            "variants": variants}


def plan_tuning(config: Mapping, *, workdir: str | os.PathLike = ".", basedir: str | os.PathLike | None = None) -> dict:
    """Every tuning study of a (checked) workflow config; raises :class:`TuneError`.

    ``{"workers": n, "storage": ..., "results": "<results>/tuning", "reports": "<reports>/tuning",
    "resources": <the tuning jobs' resources>, "studies": {name: study}}``; no tuning studies: none.
    """
    config = load_config(config)
    section = config["tuning"]
    workers, refs, storage = section["workers"], section["studies"], section["storage"]
    results_dir = str(config["results_dir"]).rstrip("/")
    reports_dir = str(config["reports_dir"]).rstrip("/")
    if refs:  # check the storage once, before the studies, for one clear message
        resolve_storage(storage, workers=workers, default_dir=f"{results_dir}/tuning", workdir=workdir)

        registry.discover(_plugin_dirs(config, workdir, basedir))
    studies: dict = {}
    for i, ref in enumerate(refs):
        study = load_tune_study(ref, config=config, index=i, workdir=workdir, basedir=basedir, storage=storage,
                                workers=workers, results_dir=results_dir)
        if study["name"] in studies:
            raise TuneError(f"config key 'tuning.studies[{i}]': tuning study {study['name']!r} is listed twice")
        studies[study["name"]] = study
    return {"workers": workers, "storage": storage, "results": f"{results_dir}/tuning",
            "reports": f"{reports_dir}/tuning", "resources": config["resources"]["tune"], "studies": studies}


def _plugin_dirs(config: Mapping, workdir, basedir) -> list[str]:
    try:
        return plugin_dirs(config, workdir, basedir)
    except ValueError as exc:
        raise TuneError(str(exc)) from None


__all__ = ["OBJECTIVE", "TRAIN_TUNABLE", "load_tune_study", "plan_tuning"]
