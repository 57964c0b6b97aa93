"""Workflow planning: config -> studies -> runs -> measurements (what the Snakefile executes).

``build_plan(config)`` reads the study files the config names (``ablations/<name>.yaml``), expands
their variants and grids, crosses them with the configured backbones, datasets and seeds and
returns the plan: every run (keyed by its run id, the hash of its normalised config), every
architecture measurement (keyed by architecture id and input size) and, per study, which runs
answer it. All checks happen here, at Snakefile parse time, so a bad config or study stops the
workflow before a single job starts, with a message naming the offending key.

Deduplication, so nothing is computed twice:

* two specs that build the same architecture on a backbone (``eca`` and ``eca(k=3)`` on ResNet-20,
  ``eca(gamma=2,b=0)`` and ``eca``) are one run per seed; the plan keeps the other names as
  ``aliases`` so the report can say "eca(gamma=2,b=0) = eca (same architecture)";
* a run needed by two studies is one run (same config -> same run id), listed in both studies;
* an architecture is measured (params, MACs, throughput) once per input size, not once per seed.

Which spec names a deduplicated run (the one written into its config, and so its id) is chosen so
that adding an alias later does not rename an existing run: a spec whose record already exists wins,
then the spec with the fewest non-default parameters, then the alphabetically first.

Study file format (see docs/workflow.md)::

    title: ECA kernel size            # optional, for the report
    description: ...                  # optional
    kind: kernel                      # report hint: kernel | gamma_b | odd_rule | zoo | other
    baseline: none                    # spec the deltas are taken against (added if not listed; null: none)
    variants: [eca, "eca(k=3)", {name: se, r: 8}]   # spec strings or mappings
    grid: {name: eca, gamma: [1, 2], b: [0, 1]}      # cartesian product of the list-valued keys
    pair_by: odd                      # keep only groups of variants differing in ``odd`` that change the model
    train: {lr: 0.05}                 # optional: overrides of the config's train recipe for this study
    model: {position: conv}           # optional: overrides of the config's model options
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

PLAN_VERSION = 2
REFERENCE_SPEC = "none"  # the plain backbone: the reference of every relative throughput
STUDY_KEYS = ("title", "description", "kind", "baseline", "variants", "grid", "pair_by", "train", "model")
STUDY_KINDS = ("kernel", "gamma_b", "odd_rule", "zoo", "other")
DATASET_RUNTIME_KEYS = ("root", "download")
MEASURE_KEYS = ("device", "batch_size", "dtype", "channels_last", "implementations", "modes", "warmup", "rounds",
                "min_time_s")


class PlanError(ValueError):
    """A config or study file that cannot be planned; the message names the offending key."""


# ------------------------------------------------------------------------------------------ helpers
def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _spec_repr(item: Any) -> str:
    return item if isinstance(item, str) else _fmt(item)


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PlanError(f"{where} must be a mapping, got {_fmt(value)}")
    return dict(value)


def _dataset_entries(config: dict) -> list[dict]:
    entries = config.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise PlanError("config key 'datasets' must be a non-empty list of dataset names or mappings")
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise PlanError(f"config key 'datasets[{i}]' must be a dataset name or a mapping with 'name', "
                            f"got {_fmt(entry)}")
        entry = dict(entry)
        out.append({"index": i, "name": entry.pop("name"),
                    "runtime": {k: entry.pop(k) for k in DATASET_RUNTIME_KEYS if k in entry},
                    "train": _mapping(entry.pop("train", None), f"config key 'datasets[{i}].train'"),
                    "options": entry})
    return out


def dataset_identity_options(ds: dict) -> dict:
    """A dataset entry's options for ``make_run_config``, with its root (which only a folder dataset
    counts as part of a run's identity; the others drop it)."""
    root = ds["runtime"].get("root")
    return {**ds["options"], "root": root} if root else dict(ds["options"])


def _backbone_entries(config: dict) -> list[dict]:
    from ecabench.registry import BACKBONES

    entries = config.get("backbones")
    if not isinstance(entries, list) or not entries:
        raise PlanError(f"config key 'backbones' must be a non-empty list, got {_fmt(entries)}")
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise PlanError(f"config key 'backbones[{i}]' must be a backbone name or a mapping with 'name', "
                            f"got {_fmt(entry)}")
        if entry["name"] not in BACKBONES:
            raise PlanError(f"config key 'backbones[{i}]': unknown backbone {entry['name']!r}; known: "
                            + ", ".join(BACKBONES.names()))
        unknown = sorted(set(entry) - {"name", "train"})
        if unknown:
            raise PlanError(f"config key 'backbones[{i}]': unknown key {unknown[0]!r}; allowed: name, train")
        out.append({"index": i, "name": entry["name"],
                    "train": _mapping(entry.get("train"), f"config key 'backbones[{i}].train'")})
    return out


# ------------------------------------------------------------------------------------- study files
def resolve_study_path(ref: str, *, study_dir: str = "ablations", workdir: str | os.PathLike = ".",
                       basedir: str | os.PathLike | None = None) -> tuple[Path | None, list[Path]]:
    """Where study ``ref`` lives: a name (``eca_kernel`` -> ``<study_dir>/eca_kernel.yaml``) or a path.

    Looked up relative to the working directory first, then to the workflow's own folder (so the
    built-in studies are found when the workflow runs in another directory). Returns the path found
    (or None) and every candidate tried.
    """
    is_path = ref.endswith((".yaml", ".yml")) or "/" in ref or os.sep in ref
    rel = Path(ref) if is_path else Path(study_dir) / f"{ref}.yaml"
    if rel.is_absolute():
        candidates = [rel]
    else:
        candidates = [Path(workdir) / rel]
        if basedir is not None and Path(basedir).resolve() != Path(workdir).resolve():
            candidates.append(Path(basedir) / rel)
    for cand in candidates:
        if cand.is_file():
            return cand, candidates
    return None, candidates


def load_study(ref: str, *, index: int = 0, study_dir: str = "ablations", workdir: str | os.PathLike = ".",
               basedir: str | os.PathLike | None = None) -> dict:
    """Read and check one study file (structure only; specs are parsed by :func:`expand_study`)."""
    path, tried = resolve_study_path(ref, study_dir=study_dir, workdir=workdir, basedir=basedir)
    if path is None:
        raise PlanError(f"config key 'studies[{index}]': study file for {ref!r} not found (looked for "
                        + ", ".join(str(p) for p in tried) + ")")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PlanError(f"config key 'studies[{index}]': study file {path} is not valid YAML: {exc}") from None
    name = Path(ref).stem if not ref.endswith((".yaml", ".yml")) else path.stem
    where = f"study {name!r} ({path})"
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where}: a study file is a mapping with 'variants' and/or 'grid', got {_fmt(raw)}")
    unknown = sorted(set(raw) - set(STUDY_KEYS))
    if unknown:
        raise PlanError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(STUDY_KEYS)}")
    if "variants" not in raw and "grid" not in raw:
        raise PlanError(f"{where}: no 'variants' and no 'grid': the study has nothing to run")
    kind = raw.get("kind", "other")
    if kind not in STUDY_KINDS:
        raise PlanError(f"{where}: kind={kind!r} is not one of {', '.join(STUDY_KINDS)}")
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise PlanError(f"{where}: {key} must be a string")
    if "pair_by" in raw and raw["pair_by"] is not None and not isinstance(raw["pair_by"], str):
        raise PlanError(f"{where}: pair_by must be the name of one parameter (e.g. odd), got {_fmt(raw['pair_by'])}")
    try:  # relative to the working directory when inside it: the plan must not depend on where the repo lives
        shown = str(path.resolve().relative_to(Path(workdir).resolve()))
    except ValueError:
        shown = str(path)
    study = {
        "name": name,
        "file": shown,
        "where": where,
        "title": raw.get("title") or name,
        "description": (raw.get("description") or "").strip(),
        "kind": kind,
        "baseline": raw.get("baseline", "none"),
        "variants": raw.get("variants") or [],
        "grid": raw.get("grid"),
        "pair_by": raw.get("pair_by"),
        "train": _mapping(raw.get("train"), f"{where}: train"),
        "model": _mapping(raw.get("model"), f"{where}: model"),
    }
    if not isinstance(study["variants"], list):
        raise PlanError(f"{where}: variants must be a list of specs, got {_fmt(study['variants'])}")
    return study


def expand_grid(grid: Any, where: str) -> list[tuple[str, dict]]:
    """``{name: eca, gamma: [1, 2], b: [0, 1]}`` (or a list of such) -> [(label, spec mapping)]."""
    grids = grid if isinstance(grid, list) else [grid]
    out = []
    for gi, g in enumerate(grids):
        gwhere = f"{where}: grid" + (f"[{gi}]" if isinstance(grid, list) else "")
        if not isinstance(g, Mapping):
            raise PlanError(f"{gwhere} must be a mapping like {{name: eca, gamma: [1, 2], b: [0, 1]}}, got {_fmt(g)}")
        if not isinstance(g.get("name"), str):
            raise PlanError(f"{gwhere}.name must be the variant name (a string), got {_fmt(g.get('name'))}")
        axes = []
        for key, values in g.items():
            if key == "name":
                continue
            if not isinstance(values, list) or not values:
                raise PlanError(f"{gwhere}.{key} must be a non-empty list of values (e.g. {key}: [1, 2]), "
                                f"got {_fmt(values)}")
            axes.append((key, values))
        keys = [k for k, _ in axes]
        for combo in itertools.product(*(v for _, v in axes)):
            params = dict(zip(keys, combo))
            label = f"{gwhere} entry " + _fmt({"name": g["name"], **params})
            out.append((label, {"name": g["name"], **params}))
    return out


def override_grid(study: dict, override: Mapping, where: str):
    """The study's grid with some axes' values replaced from the config (e.g. a CPU-sized sub-grid)."""
    grid = study.get("grid")
    if grid is None:
        raise PlanError(f"{where}': study {study['name']!r} ({study['file']}) has no grid to override")
    grids = grid if isinstance(grid, list) else [grid]
    axes = {k for g in grids if isinstance(g, Mapping) for k in g if k != "name"}
    for key, values in override.items():
        if key not in axes:
            raise PlanError(f"{where}.{key}': study {study['name']!r} has no grid axis {key!r} "
                            f"(axes: {', '.join(sorted(axes)) or 'none'})")
        if not isinstance(values, list) or not values:
            raise PlanError(f"{where}.{key}' must be a non-empty list of values (e.g. {key}: [1, 2]), "
                            f"got {_fmt(values)}")
    new = [{**g, **{k: v for k, v in override.items() if k in g}} if isinstance(g, Mapping) else g for g in grids]
    return new if isinstance(grid, list) else new[0]


def expand_study(study: dict) -> list[tuple[str, Any]]:
    """Every (label for messages, spec) a study lists, baseline first, duplicates removed."""
    from ecabench.specs import parse_spec

    where = study["where"]
    items: list[tuple[str, Any]] = []
    for i, item in enumerate(study["variants"]):
        items.append((f"{where}: variants[{i}] {_spec_repr(item)}", item))
    if study["grid"] is not None:
        items.extend(expand_grid(study["grid"], where))
    if study["baseline"] is not None:
        items.insert(0, (f"{where}: baseline {_spec_repr(study['baseline'])}", study["baseline"]))
    seen, specs = set(), []
    for label, item in items:
        try:
            spec = parse_spec(item)
        except ValueError as exc:
            raise PlanError(f"{label}: {exc}") from None
        if spec not in seen:
            seen.add(spec)
            specs.append((label, spec))
    return specs


# ------------------------------------------------------------------------------------------ planning
@lru_cache(maxsize=4096)
def _describe(backbone: str, spec: Any, num_classes: int, in_channels: int, model_json: str) -> dict:
    from ecabench.models import describe, stage_values

    d = describe(backbone, spec, num_classes=num_classes, in_channels=in_channels, **json.loads(model_json))
    ks = stage_values(d, "k")
    return {"architecture_id": d["architecture_id"], "k": ks if any(k != [] for k in ks) else None,
            "params_total": d["params_total"], "params_attention": d["params_attention"]}


def _pair_groups(specs: list, key: str) -> dict:
    groups: dict = {}
    for spec in specs:
        kwargs = spec.kwargs
        if key not in kwargs:
            continue
        rest = canonical({"name": spec.name, **{k: v for k, v in kwargs.items() if k != key}})
        groups.setdefault(rest, []).append(spec)
    return groups


def _complexity(spec) -> tuple:
    return (len(spec.non_default()), len(str(spec)), str(spec))


def _check_seeds(seeds: Any, where: str = "config key 'seeds'") -> list[int]:
    if not isinstance(seeds, list) or not seeds:
        raise PlanError(f"{where} must be a non-empty list of integers, got {_fmt(seeds)}")
    for i, s in enumerate(seeds):
        if not _is_int(s) or s < 0:
            raise PlanError(f"{where[:-1]}[{i}]' must be an integer >= 0, got {_fmt(s)}")
    if len(set(seeds)) != len(seeds):
        raise PlanError(f"{where} lists a seed twice: {_fmt(seeds)}")
    return list(seeds)


def build_plan(config: Mapping, *, workdir: str | os.PathLike = ".", basedir: str | os.PathLike | None = None,
               results_dir: str | os.PathLike | None = None) -> dict:
    """The whole plan for a (schema-validated) workflow config; raises :class:`PlanError`.

    ``workdir``: where relative paths in the config point (Snakemake's working directory);
    ``basedir``: the workflow's folder, the fallback for study files and plugin folders;
    ``results_dir``: where run records are looked for to keep existing run names (default: the
    config's ``results_dir`` under ``workdir``).
    """
    _describe.cache_clear()  # plugins may have been reloaded since the last plan
    from ecabench.models import skip_weight_init

    with skip_weight_init():
        return _build_plan(config, workdir=workdir, basedir=basedir, results_dir=results_dir)


def _build_plan(config: Mapping, *, workdir: str | os.PathLike = ".", basedir: str | os.PathLike | None = None,
                results_dir: str | os.PathLike | None = None) -> dict:
    from ecabench import registry
    from ecabench.experiment import make_run_config
    from ecabench.records import run_id
    from ecabench.specs import parse_spec

    config = copy.deepcopy(dict(config))
    workdir = Path(workdir)
    plugin_dirs = []
    for i, folder in enumerate(config.get("plugins") or []):
        if not isinstance(folder, str):
            raise PlanError(f"config key 'plugins[{i}]' must be a folder path, got {_fmt(folder)}")
        cand = workdir / folder
        if not cand.is_dir() and basedir is not None and (Path(basedir) / folder).is_dir():
            cand = Path(basedir) / folder
        if not cand.is_dir():
            raise PlanError(f"config key 'plugins[{i}]': plugin folder {folder!r} not found")
        plugin_dirs.append(str(cand.resolve()))
    plugin_errors = [str(e) for e in registry.discover(plugin_dirs)]

    seeds = _check_seeds(config.get("seeds"))
    backbones = _backbone_entries(config)
    datasets = _dataset_entries(config)
    base_train = _mapping(config.get("train"), "config key 'train'")
    base_model = _mapping(config.get("model"), "config key 'model'")
    refs = config.get("studies")
    if not isinstance(refs, list) or not refs:
        raise PlanError(f"config key 'studies' must be a non-empty list of study names, got {_fmt(refs)}")
    results = Path(results_dir) if results_dir is not None else workdir / config.get("results_dir", "results")

    # -- studies: structure and specs
    studies = []
    names = set()
    for i, ref in enumerate(refs):
        override, study_seeds = None, seeds
        if isinstance(ref, Mapping):
            unknown = sorted(set(ref) - {"name", "grid", "seeds"})
            if unknown or not isinstance(ref.get("name"), str):
                raise PlanError(f"config key 'studies[{i}]' must be a study name or {{name: <study>, grid: "
                                f"{{<axis>: [values]}}, seeds: [...]}}, got {_fmt(ref)}")
            override = _mapping(ref.get("grid"), f"config key 'studies[{i}].grid'")
            if "seeds" in ref:
                study_seeds = _check_seeds(ref["seeds"], f"config key 'studies[{i}].seeds'")
            ref = ref["name"]
        if not isinstance(ref, str):
            raise PlanError(f"config key 'studies[{i}]' must be a study name or a file path, got {_fmt(ref)}")
        study = load_study(ref, index=i, study_dir=config.get("study_dir", "ablations"), workdir=workdir,
                           basedir=basedir)
        if override:
            study["grid"] = override_grid(study, override, f"config key 'studies[{i}].grid")
        study["seeds"] = study_seeds
        if study["name"] in names:
            raise PlanError(f"config key 'studies[{i}]': study {study['name']!r} is listed twice")
        names.add(study["name"])
        try:
            study["specs"] = expand_study(study)
        except PlanError as exc:
            if plugin_errors:
                raise PlanError(f"{exc}\n(plugins that failed to load: " + "; ".join(plugin_errors) + ")") from None
            raise
        studies.append(study)

    # -- base run config per (dataset, backbone, train/model overrides): attributes errors to config keys
    bases: dict = {}

    def base_config(ds: dict, backbone: str, train: dict, model: dict, where: str) -> dict:
        key = (ds["index"], backbone, canonical(train), canonical(model))
        if key not in bases:
            try:
                bases[key] = make_run_config(backbone=backbone, attention="none", dataset=ds["name"],
                                             dataset_options=dataset_identity_options(ds), train=train, model=model,
                                             seed=seeds[0])
            except ValueError as exc:
                raise PlanError(f"{where}: {exc}") from None
        return bases[key]

    def recipe(ds: dict, bb: dict, study: dict | None = None) -> dict:
        """config train < dataset train < backbone train < study train."""
        return {**base_train, **ds["train"], **bb["train"], **((study or {}).get("train") or {})}

    seen_runs: dict = {}
    for ds in datasets:
        for bb in backbones:
            base = base_config(ds, bb["name"], recipe(ds, bb), base_model,
                               f"config key 'datasets[{ds['index']}]' ({ds['name']}) with backbone {bb['name']!r}")
            other = seen_runs.setdefault(canonical(base), (ds["index"], bb["index"]))
            if other[0] != ds["index"]:
                raise PlanError(f"config key 'datasets[{ds['index']}]' gives the same runs as 'datasets[{other[0]}]' "
                                "(root and download are not part of a run's identity); remove one")

    # -- per study, dataset and backbone: architecture of every spec, pair_by filter, run groups
    groups: dict = {}  # group key -> {"specs": [...], ...}
    study_cells: dict = {}  # (study name, group key) -> [specs of that study in the group]
    for study in studies:
        model = {**base_model, **study["model"]}
        study["placements"], study["dropped"] = [], []
        for ds in datasets:
            for bb in backbones:
                backbone = bb["name"]
                train = recipe(ds, bb, study)
                base = base_config(ds, backbone, train, model, f"{study['where']}: train/model overrides")
                nc = base["dataset"]["num_classes"] or 1000
                ic = base["dataset"]["in_channels"]
                arch = {}
                for label, spec in study["specs"]:
                    try:
                        arch[spec] = _describe(base["backbone"], spec, nc, ic, canonical(base["model"]))
                    except ValueError as exc:
                        raise PlanError(f"{label} on {backbone}: {exc}") from None
                kept = [spec for _, spec in study["specs"]]
                if study["pair_by"]:
                    pair_groups = _pair_groups(kept, study["pair_by"])
                    if not pair_groups:
                        raise PlanError(f"{study['where']}: pair_by={study['pair_by']!r} but no variant has "
                                        f"a parameter {study['pair_by']!r}")
                    drop = set()
                    for members in pair_groups.values():
                        if len(members) < 2 or len({arch[s]["architecture_id"] for s in members}) == 1:
                            drop.update(members)
                            study["dropped"].append({
                                "backbone": base["backbone"], "dataset": ds["name"],
                                "specs": [str(s) for s in members],
                                "k_per_stage": arch[members[0]]["k"],
                                "reason": (f"{study['pair_by']} does not change the architecture"
                                           if len(members) > 1 else f"no partner differing only in {study['pair_by']}"),
                            })
                    baseline = parse_baseline(study)
                    kept = [s for s in kept if s not in drop or s == baseline]
                for spec in kept:
                    gkey = (ds["index"], base["backbone"], arch[spec]["architecture_id"], canonical(train),
                            canonical(base["model"]))
                    g = groups.setdefault(gkey, {"specs": [], "studies": [], "dataset": ds, "train": train,
                                                 "model": model, "base": base, "arch": arch[spec], "seeds": []})
                    g["seeds"] += [sd for sd in study["seeds"] if sd not in g["seeds"]]
                    if spec not in g["specs"]:
                        g["specs"].append(spec)
                    if study["name"] not in g["studies"]:
                        g["studies"].append(study["name"])
                    study_cells.setdefault((study["name"], gkey), []).append(spec)
                    study["placements"].append((gkey, spec))

    for g in groups.values():
        g["seeds"].sort()

    # -- one run per group and seed; the group's name: existing record, then simplest spec
    runs: dict = {}
    measurements: dict = {}
    group_runs: dict = {}
    records_exist = (results / "runs").is_dir() and any((results / "runs").glob("*.json"))
    derivation_ok: list = []

    def run_configs(base: dict, spec, ds: dict, train: dict, model: dict, seeds: list[int]) -> list[dict]:
        """One normalised run config per seed.

        ``make_run_config`` builds the model on the meta device to validate it, which dominates
        planning time at paper scale; the base config of (dataset, backbone, recipe) differs from a
        spec's config only in the attention and seed fields, so configs are derived from it, after
        checking once per plan that this gives exactly what ``make_run_config`` returns.
        """
        def full(seed):
            try:
                return make_run_config(backbone=base["backbone"], attention=spec, dataset=ds["name"],
                                       dataset_options=dataset_identity_options(ds), train=train, model=model, seed=seed)
            except ValueError as exc:
                raise PlanError(f"{spec} on {base['backbone']}/{ds['name']}: {exc}") from None

        derived = [{**copy.deepcopy(base), "attention": spec.to_dict(), "seed": s} for s in seeds]
        if not derivation_ok:
            derivation_ok.append(all(full(s) == d for s, d in zip(seeds[:2], derived[:2])))
        return derived if derivation_ok[0] else [full(s) for s in seeds]

    for gkey in sorted(groups):
        g = groups[gkey]
        ds, base = g["dataset"], g["base"]
        configs: dict = {}

        def configs_for(spec):
            if spec not in configs:
                configs[spec] = run_configs(base, spec, ds, g["train"], g["model"], g["seeds"])
            return configs[spec]

        def has_record(spec) -> bool:
            return any((results / "runs" / f"{run_id(c)}.json").exists() for c in configs_for(spec))

        ranked = sorted(g["specs"], key=_complexity)
        existing = [s for s in ranked if has_record(s)] if records_exist and len(ranked) > 1 else []
        chosen = (existing or ranked)[0]
        aliases = [str(s) for s in g["specs"] if s != chosen]
        m = measurement_group(measurements, configs_for(chosen)[0])
        m["architectures"].setdefault(g["arch"]["architecture_id"], {"spec": str(chosen), "attention": chosen.to_dict()})
        mid = m["measure_id"]
        group_runs[gkey] = []
        for seed, cfg in zip(g["seeds"], configs_for(chosen)):
            rid = run_id(cfg)
            group_runs[gkey].append((seed, rid))
            if rid in runs:  # e.g. a backbone listed under two alias names
                continue
            runs[rid] = {
                "run_id": rid, "config": cfg, "backbone": base["backbone"], "dataset": ds["name"],
                "dataset_index": ds["index"], "seed": seed, "spec": str(chosen), "spec_id": chosen.id,
                "params": chosen.kwargs, "architecture_id": g["arch"]["architecture_id"],
                "k_per_stage": g["arch"]["k"], "aliases": aliases, "studies": list(g["studies"]),
                "measure_id": mid,
            }
            m["runs"].append(rid)

    for m in measurements.values():  # the plain backbone is every group's reference
        ds = m["dataset"]
        ref = _describe(m["backbone"], parse_spec(REFERENCE_SPEC), ds["num_classes"] or 1000, ds["in_channels"],
                        canonical(m["model"]))["architecture_id"]
        m["architectures"].setdefault(ref, {"spec": REFERENCE_SPEC, "attention": {"name": REFERENCE_SPEC}})
        m["reference"] = ref

    # -- per study: its runs (named as the study names them) and its variant -> run map
    out_studies: dict = {}
    for study in studies:
        entries, variants, listed = [], [], set()
        for gkey, spec in study["placements"]:
            g = groups[gkey]
            own = study_cells[(study["name"], gkey)]
            chosen = runs[group_runs[gkey][0][1]]["spec"]
            label = next((s for s in own if str(s) == chosen), own[0])
            variants.append({
                "spec": str(spec), "spec_id": spec.id, "params": spec.kwargs, "backbone": g["base"]["backbone"],
                "dataset": g["dataset"]["name"], "architecture_id": g["arch"]["architecture_id"],
                "k_per_stage": g["arch"]["k"], "same_as": None if spec == label else str(label),
                "run_ids": [rid for sd, rid in group_runs[gkey] if sd in study["seeds"]],
            })
            if (gkey, label) in listed:
                continue
            listed.add((gkey, label))
            others = [str(s) for s in g["specs"] if s != label]
            for seed, rid in group_runs[gkey]:
                if seed not in study["seeds"]:
                    continue
                entries.append({
                    "run_id": rid, "spec": str(label), "spec_id": label.id, "run_spec": chosen,
                    "variant": label.name, "params": label.kwargs, "backbone": g["base"]["backbone"],
                    "dataset": g["dataset"]["name"], "seed": seed,
                    "architecture_id": g["arch"]["architecture_id"], "k_per_stage": g["arch"]["k"],
                    "aliases": others, "measure_id": runs[rid]["measure_id"],
                })
        baseline = parse_baseline(study)
        out_studies[study["name"]] = {
            "name": study["name"], "title": study["title"], "description": study["description"],
            "kind": study["kind"], "file": study["file"], "baseline": str(baseline) if baseline else None,
            "grid": study["grid"], "seeds": study["seeds"],
            "pair_by": study["pair_by"], "train": study["train"], "model": study["model"],
            "specs": [str(s) for _, s in study["specs"]], "variants": variants, "dropped": study["dropped"],
            "runs": entries,
        }

    return {
        "version": PLAN_VERSION,
        "config": config,
        "seeds": seeds,
        "backbones": [b["name"] for b in backbones],
        "datasets": [{"name": d["name"], **d["options"]} for d in datasets],
        "studies": out_studies,
        "runs": runs,
        "measurements": measurements,
        "plugin_dirs": plugin_dirs,
        "plugin_errors": plugin_errors,
    }


def measurement_group(measurements: dict, run_config: Mapping) -> dict:
    """The measure job of a run's (backbone, model options, input): found or added to ``measurements``.

    Its id hashes what the timing depends on besides the architectures (not the recipe, the split
    sizes or the seeds), so one job times every architecture trained on that backbone and input.
    """
    from ecabench.experiment import input_shape
    from ecabench.records import run_id

    ds = run_config["dataset"]
    dataset = {k: ds[k] for k in ("name", "num_classes", "in_channels", "image_size") if k in ds}
    shape = list(input_shape(run_config))
    key = {"backbone": run_config["backbone"], "model": run_config["model"], "dataset": dataset}
    mid = f"{run_id(key)}_{'x'.join(str(x) for x in shape)}"
    return measurements.setdefault(mid, {"measure_id": mid, **key, "input_shape": shape, "architectures": {},
                                         "reference": None, "runs": []})


def measure_job_config(measurement: Mapping) -> dict:
    """A measure job's input: its group without the run list (adding seeds must not re-time it)."""
    return {k: v for k, v in measurement.items() if k != "runs"}


def parse_baseline(study: dict):
    from ecabench.specs import parse_spec

    return parse_spec(study["baseline"]) if study.get("baseline") is not None else None


def plugin_path_env(plan: Mapping, current: str | None = None) -> str:
    """``$ECABENCH_PLUGIN_PATH`` for the jobs: the config's plugin folders, so every job process
    (local script jobs, SLURM jobs) registers the same variants the plan was made with."""
    from ecabench.registry import PLUGIN_PATH_ENV

    current = os.environ.get(PLUGIN_PATH_ENV, "") if current is None else current
    dirs = [d for d in current.split(os.pathsep) if d]
    dirs += [d for d in plan.get("plugin_dirs", []) if d not in dirs]
    return os.pathsep.join(dirs)


def plan_json(plan: Mapping) -> str:
    """The plan as stable JSON text (same plan -> same bytes: it is a Snakemake param)."""
    return json.dumps(plan, sort_keys=True, indent=1, default=str) + "\n"


def write_plan(path: str | os.PathLike, text: str) -> Path:
    from ecabench.records import atomic_write_text

    return atomic_write_text(path, text)


def summarize(plan: Mapping) -> str:
    """One line per study for the workflow's start-up message."""
    n_arch = sum(len(m["architectures"]) for m in plan["measurements"].values())
    lines = [f"ecabench plan: {len(plan['runs'])} training runs, {len(plan['measurements'])} measure job(s) timing "
             f"{n_arch} architectures, {len(plan['studies'])} studies"]
    for name, s in plan["studies"].items():
        n_arch = len({r["architecture_id"] for r in s["runs"]})
        aliased = sum(1 for v in s["variants"] if v["same_as"])
        extra = f", {aliased} aliases" if aliased else ""
        dropped = f", {len(s['dropped'])} pairs dropped (no change)" if s["dropped"] else ""
        lines.append(f"  {name}: {len(s['specs'])} specs -> {n_arch} architectures x {len(s['seeds'])} seeds"
                     f"{extra}{dropped}")
    for err in plan.get("plugin_errors", []):
        lines.append(f"  warning: {err}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- job-side helpers
def dataset_runtime(config: Mapping, run_config: Mapping) -> dict:
    """``data_root``/``download`` for a run: how it is executed, not what it is (not in its id).

    The config's dataset entry is the one with the run's dataset name and split options (two
    entries cannot agree on both: the plan rejects that).
    """
    ds = run_config["dataset"]
    matches = []
    for entry in _dataset_entries(dict(config)):
        if entry["name"] != ds["name"] and entry["name"].replace("_", "-").lower() != ds["name"]:
            continue
        same = all(ds.get(k) == v for k, v in entry["options"].items())
        if ds.get("root") is not None and entry["runtime"].get("root") != ds["root"]:
            continue  # a folder dataset: its root is its identity
        matches.append((not same, entry["index"], entry["runtime"]))
    if not matches:
        return {"data_root": None, "download": False}
    rt = sorted(matches, key=lambda m: m[:2])[0][2]
    return {"data_root": rt.get("root"), "download": bool(rt.get("download", False))}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def torch_threads(threads: int) -> int:
    """Threads a job gives torch: what it asked for, never more than the machine has."""
    return max(1, min(int(threads), usable_cpus()))


def cores_per_thread(cores: int | None) -> int:
    """Snakemake cores a local job claims per busy torch thread.

    ``--cores`` above the machine's CPU count would let Snakemake start more single-thread jobs than
    there are CPUs, and they would time-slice each other; scaling every job's claim by
    ``ceil(cores / cpus)`` keeps the busy threads at or below the CPU count while still filling it.
    ``None`` (a remote executor: each job has its own allocation) is 1.
    """
    if not cores:
        return 1
    return max(1, -(-int(cores) // usable_cpus()))


def measure_options(config: Mapping) -> dict:
    """Keyword arguments for the measure job (:func:`ecabench.measurement.measure_group`) from the config's
    ``measure`` section.

    The measurement device defaults to the training device. Thread count is added by the job
    (:func:`torch_threads`): it is how the job runs, not what it measures.
    """
    opts = {k: v for k, v in (config.get("measure") or {}).items() if k in MEASURE_KEYS}
    opts.setdefault("device", config.get("device", "auto"))
    return opts


def measure_safely(group: dict, *, out_path: str | os.PathLike, **options: Any) -> dict:
    """The measure job: see :func:`ecabench.measurement.measure_group_safely`."""
    from ecabench.measurement import measure_group_safely

    return measure_group_safely(group, out_path=out_path, **options)


__all__ = ["PlanError", "build_plan", "plugin_path_env", "dataset_runtime", "expand_grid", "expand_study", "load_study",
           "measure_options", "measure_safely", "plan_json", "resolve_study_path", "summarize", "torch_threads",
           "write_plan"]
