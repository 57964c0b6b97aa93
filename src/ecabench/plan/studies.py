"""Study files: where a study lives, its checked contents, and the specs it lists."""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from ecabench.plan.errors import PlanError
from ecabench.schemas import show, validate
from ecabench.specs import parse_spec


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
    return next((c for c in candidates if c.is_file()), None), candidates


def read_study_file(ref: str, where: str, *, study_dir: str, workdir, basedir, error=PlanError) -> tuple[Path, Any]:
    """The path and the parsed YAML of a study file; ``where`` names the config key that listed it."""
    path, tried = resolve_study_path(ref, study_dir=study_dir, workdir=workdir, basedir=basedir)
    if path is None:
        raise error(f"{where}: study file for {ref!r} not found (looked for " + ", ".join(map(str, tried)) + ")")
    try:
        return path, yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise error(f"{where}: study file {path} is not valid YAML: {exc}") from None


def shown_path(path: Path, workdir: str | os.PathLike) -> str:
    """Relative to the working directory when inside it: the plan must not depend on where the repo lives."""
    try:
        return str(path.resolve().relative_to(Path(workdir).resolve()))
    except ValueError:
        return str(path)


def load_study(ref: str, *, index: int = 0, study_dir: str = "ablations", workdir: str | os.PathLike = ".",
               basedir: str | os.PathLike | None = None) -> dict:
    """Read and check one study file (structure only; specs are parsed by :func:`expand_study`)."""
    path, raw = read_study_file(ref, f"config key 'studies[{index}]'", study_dir=study_dir, workdir=workdir,
                                basedir=basedir)
    name = Path(ref).stem if not ref.endswith((".yaml", ".yml")) else path.stem
    where = f"study {name!r} ({path})"
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where}: a study file is a mapping with 'variants' and/or 'grid', got {show(raw)}")
    raw = validate(raw, "study", where, PlanError)
    return {
        "name": name, "file": shown_path(path, workdir), "where": where, "title": raw.get("title") or name,
        "description": (raw.get("description") or "").strip(), "kind": raw["kind"], "baseline": raw["baseline"],
        "variants": raw.get("variants") or [], "grid": raw.get("grid"), "pair_by": raw.get("pair_by"),
        "train": dict(raw.get("train") or {}), "model": dict(raw.get("model") or {}),
    }


def expand_grid(grid: Any, where: str) -> list[tuple[str, dict]]:
    """``{name: eca, gamma: [1, 2], b: [0, 1]}`` (or a list of such) -> [(label, spec mapping)]."""
    grids = grid if isinstance(grid, list) else [grid]
    out = []
    for gi, g in enumerate(grids):
        gwhere = f"{where}: grid" + (f"[{gi}]" if isinstance(grid, list) else "")
        axes = [(key, values) for key, values in g.items() if key != "name"]
        keys = [k for k, _ in axes]
        for combo in itertools.product(*(v for _, v in axes)):
            params = dict(zip(keys, combo))
            out.append((f"{gwhere} entry " + show({"name": g["name"], **params}), {"name": g["name"], **params}))
    return out


def override_grid(study: dict, override: Mapping, where: str):
    """The study's grid with some axes' values replaced from the config (e.g. a CPU-sized sub-grid)."""
    grid = study.get("grid")
    if grid is None:
        raise PlanError(f"{where}': study {study['name']!r} ({study['file']}) has no grid to override")
    grids = grid if isinstance(grid, list) else [grid]
    axes = {k for g in grids for k in g if k != "name"}
    for key, values in override.items():
        if key not in axes:
            raise PlanError(f"{where}.{key}': study {study['name']!r} has no grid axis {key!r} "
                            f"(axes: {', '.join(sorted(axes)) or 'none'})")
        if not isinstance(values, list) or not values:
            raise PlanError(f"{where}.{key}' must be a non-empty list of values (e.g. {key}: [1, 2]), "
                            f"got {show(values)}")
    new = [{**g, **{k: v for k, v in override.items() if k in g}} for g in grids]
    return new if isinstance(grid, list) else new[0]


def expand_study(study: dict) -> list[tuple[str, Any]]:
    """Every (label for messages, spec) a study lists, baseline first, duplicates removed."""
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


def parse_baseline(study: dict):
    return parse_spec(study["baseline"]) if study.get("baseline") is not None else None


def _spec_repr(item: Any) -> str:
    return item if isinstance(item, str) else show(item)


def shifted(config: Mapping, seeds) -> list[int]:
    """Seeds as runs use them: shifted by the config's ``seed_base`` (0 unless set)."""
    return [int(s) + int(config.get("seed_base") or 0) for s in seeds]


def _seeds_and_precision(config: Mapping, ref: Any, i: int) -> tuple[list[int], dict | None]:
    """A study entry's seeds (shifted) and its two-stage rule (None: fixed seeds).

    With the rule, the candidates are the first ``max_seeds`` seeds from ``seed_base``; stage 1 is
    the first ``n0`` of them (docs/statistics.md, "Precision by design").
    """
    entry = ref if isinstance(ref, Mapping) else {}
    rule = entry.get("precision", config.get("precision"))
    if rule is None:
        return shifted(config, entry.get("seeds", config["seeds"])), None
    where = f"config key 'studies[{i}]'"
    if "seeds" in entry:
        raise PlanError(f"{where}: give either seeds or precision, not both (with precision the seeds are "
                        "seed_base + 0, 1, ... up to max_seeds)")
    caps = rule["max_seeds"] if isinstance(rule["max_seeds"], Mapping) else {None: rule["max_seeds"]}
    for backbone, cap in caps.items():
        if cap < rule["n0"]:
            key = "precision.max_seeds" + (f".{backbone}" if backbone else "")
            raise PlanError(f"{where}: {key}={cap} is below precision.n0={rule['n0']}; "
                            "the cap must be at least the stage-1 seeds")
    seeds = shifted(config, range(max(caps.values())))
    by_backbone = {k: v for k, v in caps.items() if k is not None}
    return seeds, {**rule, "max_seeds": max(caps.values()), "max_seeds_by_backbone": by_backbone or None,
                   "level": 0.95, "stage1_seeds": seeds[:rule["n0"]]}


def precision_cap(study: Mapping, backbone: str) -> int | None:
    """The seed cap of a study's two-stage rule on one of the config's backbones (None: no rule)."""
    rule = study.get("precision")
    if not rule:
        return None
    by_backbone = rule.get("max_seeds_by_backbone")
    if not by_backbone:
        return rule["max_seeds"]
    if backbone not in by_backbone:
        raise PlanError(f"{study['where']}: precision.max_seeds gives caps for {', '.join(sorted(by_backbone))} "
                        f"but not for backbone {backbone!r}, which the study runs on; give every backbone a cap")
    return by_backbone[backbone]


def config_studies(config: Mapping, workdir, basedir) -> list[dict]:
    """Every study the config lists, loaded, with its grid override and seeds, specs expanded."""
    studies, names = [], set()
    for i, ref in enumerate(config["studies"]):
        override, ref_backbones = None, None
        seeds, precision = _seeds_and_precision(config, ref, i)
        if isinstance(ref, Mapping):
            ref_backbones = ref.get("backbones")
            override = dict(ref.get("grid") or {})
            ref = ref["name"]
        study = load_study(ref, index=i, study_dir=config.get("study_dir", "ablations"), workdir=workdir,
                           basedir=basedir)
        if override:
            study["grid"] = override_grid(study, override, f"config key 'studies[{i}].grid")
        if study["name"] in names:
            raise PlanError(f"config key 'studies[{i}]': study {study['name']!r} is listed twice")
        names.add(study["name"])
        if precision is not None and study["baseline"] is None:
            raise PlanError(f"config key 'studies[{i}].precision': study {study['name']!r} has no baseline, so "
                            "it has no paired comparison whose precision the rule could target")
        study["seeds"], study["precision"] = list(seeds), precision
        study["backbones"] = list(ref_backbones) if ref_backbones else None
        studies.append(study)
    return studies
