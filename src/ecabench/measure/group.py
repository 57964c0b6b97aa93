"""One measure job: every architecture of one (backbone, input, device), counted and timed together.

``measure_group(group, out_path, ...)`` builds each architecture the workflow trains on that
backbone and input (untrained weights, common random numbers), counts its parameters, MACs and
elementwise FLOPs, and times all of them in one :func:`ecabench.measure.measure_interleaved` call,
the plain backbone included as the reference of the relative throughputs. An architecture that
cannot be built or run is recorded as failed and left out of the timing; the others are measured.
The result file (JSON, written atomically, with the checksum of its content: :mod:`ecabench.util.checksum`)
holds the counts and one throughput row per (architecture, implementation, mode).
"""
from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import torch

from ecabench.measure.environment import environment
from ecabench.measure.interleaved import measure_interleaved
from ecabench.measure.params import count_model
from ecabench.models import build_model, describe, resolved_by_stage
from ecabench.util import atomic_write_json
from ecabench.util.checksum import with_checksum

REFERENCE = "none"
# How the timing is done (options of measure_interleaved), from the config's ``measure`` section.
TIMING_OPTIONS = ("batch_size", "dtype", "channels_last", "implementations", "modes", "warmup", "rounds",
                  "min_time_s", "seed")


def _build(group: dict, attention: Any) -> torch.nn.Module:
    ds = group["dataset"]
    return build_model(group["backbone"], attention, num_classes=ds["num_classes"] or 1000,
                       in_channels=ds["in_channels"], seed=0, **group["model"])


def _architecture(group: dict, entry: dict, shape: tuple[int, int, int]) -> tuple[dict, Any]:
    """The architecture's entry (counts, or the error) and its model (None if it failed)."""
    ds = group["dataset"]
    out: dict[str, Any] = {"spec": entry["spec"], "status": "ok", "error": None}
    try:
        d = describe(group["backbone"], entry["attention"], num_classes=ds["num_classes"] or 1000,
                     in_channels=ds["in_channels"], **group["model"])
        model = _build(group, entry["attention"])
        out.update(spec_id=d["spec_id"], resolved=resolved_by_stage(d), metrics=count_model(model, shape))
        return out, model
    except Exception as exc:  # noqa: BLE001 - a variant that cannot run is a result, see module docstring
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=-3),
                   metrics={})
        return out, None


def measure_group(group: dict, *, out_path: str | Path, device: str = "cpu", num_threads: int | None = None,
                  **options: Any) -> dict:
    """Count and time every architecture of ``group`` (a plan measurement); write ``out_path``."""
    unknown = sorted(set(options) - set(TIMING_OPTIONS))
    if unknown:
        raise ValueError(f"measure options: unknown key {unknown[0]!r}; allowed: {', '.join(TIMING_OPTIONS)}")
    t0 = time.perf_counter()
    shape = tuple(group["input_shape"])
    architectures, models = {}, {}
    for arch_id, entry in group["architectures"].items():
        architectures[arch_id], model = _architecture(group, entry, shape)
        if model is not None:
            models[arch_id] = model
    reference = group["reference"]
    result: dict[str, Any] = {"measure_id": group["measure_id"], "backbone": group["backbone"],
                              "input_shape": list(shape), "reference": reference, "architectures": architectures,
                              "setup": None, "throughput": [], "status": "ok", "error": None}
    if reference not in models:
        result.update(status="failed", error=f"the reference architecture ({REFERENCE}) could not be built: "
                      + str(architectures.get(reference, {}).get("error")))
    else:
        timing = measure_interleaved(models, shape, reference=reference, device=device, num_threads=num_threads,
                                     **options)
        result["setup"] = timing["setup"]
        result["throughput"] = [{**row, "architecture_id": row.pop("key")} for row in timing["rows"]]
    result.update(environment=environment(), measure_time_s=time.perf_counter() - t0)
    result = with_checksum(result)  # as written and read back (plain JSON values)
    atomic_write_json(out_path, result)
    return result


def measure_group_safely(group: dict, *, out_path: str | Path, **options: Any) -> dict:
    """:func:`measure_group`, but a failure is written as a result instead of raised, so the tables
    and the report still complete (they then lack throughput for this group)."""
    try:
        return measure_group(group, out_path=out_path, **options)
    except Exception as exc:  # noqa: BLE001 - recorded
        result = {"measure_id": group.get("measure_id"), "backbone": group.get("backbone"),
                  "input_shape": group.get("input_shape"), "reference": group.get("reference"),
                  "architectures": {}, "setup": None, "throughput": [], "status": "failed",
                  "error": f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=-3)}
        result = with_checksum(result)
        atomic_write_json(out_path, result)
        return result


__all__ = ["REFERENCE", "TIMING_OPTIONS", "measure_group", "measure_group_safely"]
