"""How a workflow job runs (not what it computes): data location, CPU threads, measure options.

Everything here is read by the job processes (runners/*.py, rules/tune.smk) from the workflow config;
none of it is part of a run's identity.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, Mapping

from ecabench import registry
from ecabench.plan.config import dataset_entries, plugin_dirs


def dataset_runtime(config: Mapping, run_config: Mapping) -> dict:
    """``data_root``/``download`` for a run: how it is executed, not what it is (not in its id).

    The config's dataset entry is the one with the run's dataset name and split options (two
    entries cannot agree on both: the plan rejects that).
    """
    ds = run_config["dataset"]
    matches = []
    for entry in dataset_entries(config):
        if entry["name"] != ds["name"] and entry["name"].replace("_", "-").lower() != ds["name"]:
            continue
        if ds.get("root") is not None and entry["runtime"].get("root") != ds["root"]:
            continue  # a folder dataset: its root is its identity
        same = all(ds.get(k) == v for k, v in entry["options"].items())
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
    """Keyword arguments for the measure job (:func:`ecabench.measure.group.measure_group`): the config's
    ``measure`` section (its keys are checked by the config schema, and again by the job against
    :data:`ecabench.measure.group.TIMING_OPTIONS`); the device defaults to the training device."""
    return {"device": config.get("device", "auto"), **(config.get("measure") or {})}


def run_runtime(run_config: Mapping, config: Mapping | None) -> dict:
    """``device``/``data_root``/``download`` for a run config from the workflow config."""
    config = config or {}
    out = {"device": config.get("device", "auto"), "data_root": None, "download": False}
    if config.get("datasets"):
        out.update(dataset_runtime(config, run_config))
    return out




@contextlib.contextmanager
def logged(path: str | os.PathLike | None) -> Iterator[None]:
    """Send this process's stdout and stderr (C-level output included) to ``path`` inside the block."""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def job(smk) -> Iterator[None]:
    """What every workflow job does first: log to its ``log:`` file and load the config's plugins.

    Plugin folders are found as the planner found them (relative to the working directory, else to
    the workflow's folder, the runners' parent), so every job registers the variants the plan used.
    """
    with logged(smk.log[0] if smk.log else None):
        registry.discover(plugin_dirs(smk.config, os.getcwd(), Path(smk.scriptdir).parent))
        yield


__all__ = ["cores_per_thread", "dataset_runtime", "job", "logged", "measure_options", "run_runtime",
           "torch_threads", "usable_cpus"]
