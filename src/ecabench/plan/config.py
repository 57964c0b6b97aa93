"""The workflow config, checked once against its schema, and the entries planning reads from it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ecabench.plan.errors import PlanError
from ecabench.registry import BACKBONES
from ecabench.schemas import validate

DATASET_RUNTIME_KEYS = ("root", "download")


def load_config(config: Mapping) -> dict:
    """A checked copy of a workflow config with the schema's defaults filled in; raises PlanError."""
    return validate(dict(config), "config", "config key", PlanError)


def dataset_entries(config: Mapping) -> list[dict]:
    """The config's datasets: name, how to find the data (runtime), recipe override, options."""
    out = []
    for i, entry in enumerate(config["datasets"]):
        entry = dict({"name": entry} if isinstance(entry, str) else entry)
        out.append({"index": i, "name": entry.pop("name"),
                    "runtime": {k: entry.pop(k) for k in DATASET_RUNTIME_KEYS if k in entry},
                    "train": dict(entry.pop("train", None) or {}), "options": entry})
    return out


def dataset_identity_options(ds: dict) -> dict:
    """A dataset entry's options for ``make_run_config``, with its root (which only a folder dataset
    counts as part of a run's identity; the others drop it)."""
    root = ds["runtime"].get("root")
    return {**ds["options"], "root": root} if root else dict(ds["options"])


def backbone_entries(config: Mapping) -> list[dict]:
    out = []
    for i, entry in enumerate(config["backbones"]):
        entry = {"name": entry} if isinstance(entry, str) else entry
        if entry["name"] not in BACKBONES:
            raise PlanError(f"config key 'backbones[{i}]': unknown backbone {entry['name']!r}; known: "
                            + ", ".join(BACKBONES.names()))
        out.append({"index": i, "name": entry["name"], "train": dict(entry.get("train") or {}),
                    "model": dict(entry.get("model") or {})})
    return out


# Model options every backbone takes; any other option (e.g. mobilenet_v2's width_mult) is the
# backbone's own and names the setting (``mobilenet_v2(width_mult=0.35)``).
COMMON_MODEL_OPTIONS = ("small_input", "position")


def backbone_label(backbone: str, model: Mapping) -> str:
    """The setting's backbone as tables name it: the name, plus the backbone's own options."""
    own = {k: v for k, v in sorted(model.items()) if k not in COMMON_MODEL_OPTIONS}
    return backbone + ("(" + ",".join(f"{k}={v}" for k, v in own.items()) + ")" if own else "")


def model_options(config: Mapping, bb: dict, study: dict | None = None) -> dict:
    """A run's model options: config model < backbone model < study model."""
    return {**config.get("model", {}), **bb.get("model", {}), **((study or {}).get("model") or {})}


def plugin_dirs(config: Mapping, workdir: str | os.PathLike, basedir: str | os.PathLike | None) -> list[str]:
    """The config's plugin folders, relative to the working directory, else to the workflow's folder."""
    dirs = []
    for i, folder in enumerate(config.get("plugins") or []):
        cand = Path(workdir) / folder
        if not cand.is_dir() and basedir is not None and (Path(basedir) / folder).is_dir():
            cand = Path(basedir) / folder
        if not cand.is_dir():
            raise PlanError(f"config key 'plugins[{i}]': plugin folder {folder!r} not found")
        dirs.append(str(cand.resolve()))
    return dirs


def recipe(config: Mapping, ds: dict, bb: dict, study: dict | None = None) -> dict:
    """The training recipe of a run: config train < dataset train < backbone train < study train."""
    return {**config.get("train", {}), **ds["train"], **bb["train"], **((study or {}).get("train") or {})}


def job_resources(config: Mapping, rule: str) -> dict:
    """``resources.<rule>`` of a checked config (threads, mem_mb, runtime, gpu; defaults from the schema)."""
    return dict(config["resources"][rule])
