"""Measure jobs: one per (backbone, model options, input), timing every architecture trained on it.

A job's id hashes what the timing depends on besides the architectures (not the recipe, the split
sizes or the seeds), so changing those never re-times; the plain backbone is always timed too, as
the reference of every relative throughput.
"""
from __future__ import annotations

from typing import Mapping

from ecabench.plan.groups import canonical, describe_spec
from ecabench.runconfig import input_shape, run_id
from ecabench.specs import parse_spec

REFERENCE_SPEC = "none"


def measurement_group(measurements: dict, run_config: Mapping) -> dict:
    """The measure job of a run's (backbone, model options, input): found or added to ``measurements``."""
    ds = run_config["dataset"]
    dataset = {k: ds[k] for k in ("name", "num_classes", "in_channels", "image_size") if k in ds}
    shape = list(input_shape(run_config))
    key = {"backbone": run_config["backbone"], "model": run_config["model"], "dataset": dataset}
    mid = f"{run_id(key)}_{'x'.join(str(x) for x in shape)}"
    return measurements.setdefault(mid, {"measure_id": mid, **key, "input_shape": shape, "architectures": {},
                                         "reference": None, "runs": []})


def add_references(measurements: dict) -> None:
    """Give every measure job the plain backbone, as its reference."""
    for m in measurements.values():
        ds = m["dataset"]
        ref = describe_spec(m["backbone"], parse_spec(REFERENCE_SPEC), ds["num_classes"] or 1000, ds["in_channels"],
                            canonical(m["model"]))["architecture_id"]
        m["architectures"].setdefault(ref, {"spec": REFERENCE_SPEC, "attention": {"name": REFERENCE_SPEC}})
        m["reference"] = ref


def measure_job_config(measurement: Mapping) -> dict:
    """A measure job's input: its group without the run list (adding seeds must not re-time it)."""
    return {k: v for k, v in measurement.items() if k != "runs"}
