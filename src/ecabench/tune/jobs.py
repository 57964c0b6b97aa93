"""The tuning jobs of rules/tune.smk: workers, the best setting, its evaluation runs, the summary.

Each writes one small JSON (atomically) that the next job reads; the evaluation runs are ordinary
run records in ``results/runs``, so the sweep's tables and report treat them like any run.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import optuna
import torch

from ecabench.experiment import run_experiment
from ecabench.plan.errors import TuneError
from ecabench.plan.tuning import OBJECTIVE
from ecabench.records import read_record
from ecabench.runconfig import run_id
from ecabench.runtime import run_runtime
from ecabench.specs import parse_spec
from ecabench.tune.budget import count_trials, optimize_with_budget
from ecabench.tune.objective import build_objective, k_per_stage, load_bundle, run_config_for, trial_settings
from ecabench.tune.study import open_study
from ecabench.util import atomic_write_json


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (a cancelled Snakemake/SLURM job) -> KeyboardInterrupt, which Optuna records as a
    failed trial instead of leaving it RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _never(trial):  # pragma: no cover - the budget is reached: optimize_with_budget only counts
    raise AssertionError("no trial should run")


def _best_so_far(study) -> dict | None:
    with contextlib.suppress(ValueError):
        bt = study.best_trial
        return {"number": bt.number, "value": bt.value, "params": bt.params}
    return None


def run_worker(task: Mapping, *, worker: int = 0, out_path: str | os.PathLike | None = None,
               config: Mapping | None = None, device: str | None = None, data_root: str | None = None,
               download: bool | None = None, num_threads: int | None = None,
               objective: Callable | None = None) -> dict:
    """One worker on a variant's study: trains trials until the study's budget is reached.

    Exits at once (loading no data) when the budget is already reached. ``out_path``: the worker's
    done-marker and summary JSON. ``objective``: replaces the training objective (tests).
    """
    rt = run_runtime(run_config_for(task, {}), config)
    device = device or rt["device"]
    study = open_study(task, worker=worker, config=config)
    counts = count_trials(study)
    if objective is None and counts["finished"] + counts["running"] < task["budget"]:
        bundle = load_bundle(task, device=device, data_root=data_root if data_root is not None else rt["data_root"],
                             download=rt["download"] if download is None else download)
        objective = build_objective(task, bundle, device=device, num_threads=num_threads)
    with sigterm_as_interrupt():
        result = optimize_with_budget(study, objective or _never, task["budget"],
                                      lock_path=task["storage"].get("lock"), worker=worker)
    summary = {"tune": task["tune"], "variant": task["variant"], "study_name": task["study_name"],
               "storage": task["storage"]["shown"], **result, "best_so_far": _best_so_far(study),
               "host": socket.gethostname(), "pid": os.getpid(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if out_path is not None:
        atomic_write_json(out_path, summary, sort_keys=False)
    optuna.logging.get_logger("ecabench.tune").info(
        f"worker {worker} of {task['study_name']}: ran {len(result['trials_run'])} trial(s); "
        f"{result['counts']['finished']}/{task['budget']} finished ({result['exit_reason']})")
    return summary


def _evaluation_runs(task: Mapping, params: Mapping) -> list[dict]:
    """The run config of a setting for each evaluation seed (``params`` empty: the untuned self)."""
    return [{"seed": s, "run_id": run_id(c), "config": c}
            for s, c in ((s, run_config_for(task, params, seed=s)) for s in task.get("evaluate_seeds") or [])]


def best_summary(task: Mapping, *, config: Mapping | None = None, out_path: str | os.PathLike | None = None) -> dict:
    """The variant's best trial (validation top-1), its spec, k per stage and evaluation run configs."""
    study = open_study(task, config=config, load_only=True)
    counts = count_trials(study)
    try:
        bt = study.best_trial
    except ValueError:
        raise TuneError(f"study {task['study_name']}: no completed trial, so no best setting "
                        f"(trials: {counts})") from None
    spec = parse_spec(trial_settings(task, bt.params)[0])
    config0 = run_config_for(task, bt.params)
    runs, untuned = _evaluation_runs(task, bt.params), _evaluation_runs(task, {})
    out = {
        "tune": task["tune"], "variant": task["variant"], "study_name": task["study_name"],
        "storage": task["storage"]["shown"], "budget": task["budget"], "trials": counts,
        "best": {"number": bt.number, "value": bt.value, "objective": task["objective"], "params": bt.params,
                 "spec": str(spec), "spec_id": spec.id, "attention": config0["attention"],
                 "train": {k: v for k, v in bt.params.items() if task["search"][k]["target"] == "train"},
                 "recipe": config0["train"], "k_per_stage": k_per_stage(config0),
                 "val_top1_curve": bt.user_attrs.get("val_top1_curve"), "run_id": run_id(config0)},
        "search": task["search"], "evaluate": runs,
        # the untuned self: the variant's own spec and the study's recipe, nothing searched applied
        "reference": {"spec": task["spec_str"], "attention": task["spec"],
                      "k_per_stage": k_per_stage(untuned[0]["config"]) if untuned else None, "evaluate": untuned},
    }
    if out_path is not None:
        atomic_write_json(out_path, out, sort_keys=False)
    return out


def _ok_record(path: Path) -> dict | None:
    with contextlib.suppress(Exception):
        record = read_record(path)
        return record if record.get("status") == "ok" else None
    return None


def _train_record(entry: Mapping, runs_dir: Path, config, device, num_threads) -> dict:
    rt = run_runtime(entry["config"], config)
    threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        return run_experiment(entry["config"], out_dir=runs_dir, device=device or rt["device"],
                              data_root=rt["data_root"], download=rt["download"], progress=False)
    finally:
        torch.set_num_threads(threads)


def evaluate_best(best: Mapping, *, seed: int, results_dir: str | os.PathLike = "results",
                  out_path: str | os.PathLike | None = None, config: Mapping | None = None,
                  device: str | None = None, num_threads: int | None = None, untuned: bool = False) -> dict:
    """Train the best setting with ``seed`` and report it on the test split: a normal run record
    (``<results_dir>/runs/<run_id>.json``, via ``run_experiment``); an existing ``ok`` record of the
    same config is reused. ``out_path``: a small pointer JSON (run id, status, test/val top-1).
    ``untuned``: the variant's untuned self instead (its spec and the study's recipe as written), the
    reference a tuned setting is compared with on the same seeds."""
    entries = best["reference"]["evaluate"] if untuned else best["evaluate"]
    entry = next((r for r in entries if r["seed"] == seed), None)
    if entry is None:
        raise TuneError(f"{best['tune']}/{best['variant']}: seed {seed} is not among the evaluation seeds "
                        f"{[r['seed'] for r in entries]}")
    runs_dir = Path(results_dir) / "runs"
    path = runs_dir / f"{entry['run_id']}.json"
    record = _ok_record(path) if path.exists() else None
    reused = record is not None
    record = record or _train_record(entry, runs_dir, config, device, num_threads)
    metrics = record.get("metrics") or {}
    out = {"tune": best["tune"], "variant": best["variant"], "seed": seed, "run_id": entry["run_id"],
           "record": str(path), "reused": reused, "status": record.get("status"), "spec": record.get("spec"),
           "test_top1_pct": metrics.get("test_top1_pct"), "val_top1_pct": metrics.get("val_top1_pct"),
           "error": record.get("error")}
    if out_path is not None:
        atomic_write_json(out_path, out, sort_keys=False)
    return out


def _test_top1(evals: list) -> dict:
    ev = sorted(evals, key=lambda e: e["seed"])
    tops = [e["test_top1_pct"] for e in ev if e.get("status") == "ok" and e.get("test_top1_pct") is not None]
    return {"evaluation": ev, "test_top1_mean": statistics.fmean(tops) if tops else None,
            "test_top1_std": statistics.stdev(tops) if len(tops) > 1 else None, "n": len(tops)}


def _variant_summary(task: Mapping, best: dict | None, evals: list, untuned: list) -> dict:
    reference = (best or {}).get("reference")
    return {
        "study_name": task["study_name"], "storage": task["storage"]["shown"], "spec": task["spec_str"],
        "search": task["search"], "trials": best["trials"] if best else None, "best": best["best"] if best else None,
        **_test_top1(evals),
        "reference": ({"spec": reference["spec"], "attention": reference["attention"],
                       "k_per_stage": reference["k_per_stage"], **_test_top1(untuned)} if reference and untuned
                      else None),
    }


def _by_variant(paths: Iterable[str | os.PathLike]) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in (json.loads(Path(p).read_text()) for p in paths):
        out.setdefault(e["variant"], []).append(e)
    return out


def summarize(study: Mapping, best_paths: Iterable[str | os.PathLike], eval_paths: Iterable[str | os.PathLike] = (),
              reference_paths: Iterable[str | os.PathLike] = (), *,
              out_path: str | os.PathLike | None = None) -> dict:
    """One tuning study's summary: per variant the best setting, trial counts, the test-split
    evaluation (mean ± std over seeds) and that of its untuned self on the same seeds."""
    bests = {b["variant"]: b for b in (json.loads(Path(p).read_text()) for p in best_paths)}
    evals, untuned = _by_variant(eval_paths), _by_variant(reference_paths)
    variants = {label: _variant_summary(task, bests.get(label), evals.get(label, []), untuned.get(label, []))
                for label, task in study["variants"].items()}
    out = {"tune": study["name"], "title": study["title"], "description": study["description"],
           "file": study["file"], "budget": study["budget"], "fair": study["fair"],
           "evaluate_seeds": study["evaluate_seeds"], "objective": OBJECTIVE, "variants": variants,
           "tasks": study["variants"]}
    if out_path is not None:
        atomic_write_json(out_path, out, sort_keys=False)
    return out
