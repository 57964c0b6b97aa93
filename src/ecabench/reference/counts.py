"""The workflow's ``paper_counts`` job: the suite's own ImageNet counts of the models in the paper's Table 3.

Counting means building each model (ResNet-152 included) with :func:`ecabench.models.build_model`
and running fvcore on it, a few seconds per model, so it is a job of its own beside the training
runs, and the report only reads the JSON it writes (:func:`ecabench.reference.read_suite_counts`).
Counts are for 1000 classes and one 3x224x224 image; parameters exact, MACs in fvcore's convention
(one multiply-add = 1), elementwise FLOPs separately. The JSON records the package versions and the
input shape, and a cached file is reused only while both match.
"""
from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from ecabench.measure import count_flops, count_params
from ecabench.models import build_model
from ecabench.reference import find_reference_csv, load_reference, reference_pairs
from ecabench.util import atomic_write_json

CACHE_NAME = "paper_suite_counts.json"
INPUT_SHAPE = (3, 224, 224)

__all__ = ["CACHE_NAME", "INPUT_SHAPE", "count_model", "suite_counts", "write_suite_counts"]


def _versions() -> dict:
    """The versions the counts depend on: a cache written under other versions is recounted."""
    out = {}
    for name in ("ecabench", "torch", "fvcore"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def count_model(backbone: str, spec: str) -> dict:
    """Params and FLOPs of ``backbone`` with ``spec`` for ImageNet (1000 classes, 3x224x224)."""
    with torch.no_grad():
        model = build_model(backbone, spec, num_classes=1000, in_channels=3)
        p = count_params(model)
        f = count_flops(model, INPUT_SHAPE)
    return {"params_total": p["params_total"], "params_attention": p["params_attention"], "macs": f["macs"],
            "elementwise_flops": f["elementwise_flops"], "unsupported_ops": f.get("unsupported_ops", {})}


def _read_cache(cache_path: str | os.PathLike | None, versions: dict) -> dict[str, Any]:
    """The cached counts, or {} when absent, unreadable or written under other versions or input shape."""
    if cache_path is None or not Path(cache_path).exists():
        return {}
    try:
        loaded = json.loads(Path(cache_path).read_text())
    except (OSError, ValueError):
        return {}
    if loaded.get("versions") == versions and loaded.get("input_shape") == list(INPUT_SHAPE):
        return loaded.get("counts", {})
    return {}


def suite_counts(pairs: list[tuple[str, str]], cache_path: str | os.PathLike | None = None,
                 always_write: bool = False) -> dict[str, dict]:
    """{"backbone|spec": counts} for every pair, from the cache where it matches the package versions.

    A model that cannot be built gets ``{"error": ...}`` instead of counts, so one bad row is named in
    the comparison table rather than failing the whole job.
    """
    versions = _versions()
    cache = _read_cache(cache_path, versions)
    changed = False
    out = {}
    for backbone, spec in pairs:
        key = f"{backbone}|{spec}"
        if key not in cache:
            try:
                cache[key] = count_model(backbone, spec)
            except Exception as exc:  # a backbone/variant that cannot be built: say so in the table
                cache[key] = {"error": f"{type(exc).__name__}: {exc}"}
            changed = True
        out[key] = cache[key]
    if (changed or always_write) and cache_path is not None:
        atomic_write_json(cache_path, {"versions": versions, "input_shape": list(INPUT_SHAPE), "counts": cache})
    return out


def write_suite_counts(out_path: str | os.PathLike, reference_csv: str | os.PathLike | None = None,
                       config: dict | None = None) -> dict[str, dict]:
    """The workflow's ``paper_counts`` job: count every model the reference table names, write JSON.

    The file is always written (an empty ``counts`` when no reference table is found), because it is
    the job's declared output.
    """
    path = find_reference_csv(reference_csv, config)
    pairs = reference_pairs(load_reference(path)) if path is not None else []
    return suite_counts(pairs, out_path, always_write=True)
