"""The workflow's parse-time step: set damaged results aside, and make sure Snakemake recomputes what is missing.

Moving a damaged record away is not enough by itself: Snakemake recomputes a missing file only when a job
that needs it has to run, and an up-to-date summary table does not (Snakemake treats the missing file like
a deleted intermediate; an older modification time does not help either, as Snakemake compares the
inputs' checksums). So when any file the tables need now is missing (set aside, or deleted by hand) while
the tables exist, the tables (the aggregate rule's outputs, derived and cheap) are removed: aggregation
must run, Snakemake first recomputes every input it asks for, a precision checkpoint downstream of a
retrained run decides again, and the report is rebuilt.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ecabench.integrity.checks import MEASURE, PRECISION, RUNS, DamagedFile, read_checked
from ecabench.integrity.quarantine import sweep, sweep_message
from ecabench.plan.precision import chosen_run_ids


def needed_runs(plan: Mapping, results_dir: str | os.PathLike) -> tuple[set[str], list[str]]:
    """(the runs the plan needs now, its precision studies not decided yet).

    Every run of a study without the two-stage rule; for a precision study, the runs of the seeds its
    decision (``results/precision/<study>.json``) keeps, or only its stage-1 runs before it has decided.
    """
    needed = set(plan.get("static_runs", plan["runs"]))  # a plan without the two-stage rule: every run
    undecided = []
    for study, rule in sorted((plan.get("precision") or {}).items()):
        try:
            decision = read_checked(Path(results_dir) / PRECISION / f"{study}.json", PRECISION)
        except DamagedFile:
            undecided.append(study)
            continue
        needed |= set(chosen_run_ids(rule, decision))
    return needed, undecided


def needed_paths(plan: Mapping, results_dir: str | os.PathLike) -> list[Path]:
    """Every file aggregation needs now: the runs as decided, the measurements and the precision decisions."""
    results = Path(results_dir)
    runs, _ = needed_runs(plan, results)
    return ([results / RUNS / f"{rid}.json" for rid in sorted(runs)]
            + [results / MEASURE / f"{mid}.json" for mid in sorted(plan.get("measurements") or {})]
            + [results / PRECISION / f"{s}.json" for s in sorted(plan.get("precision") or {})])


def expire(outputs: list, inputs: list) -> list[Path]:
    """Remove ``outputs`` when any of ``inputs`` is missing, so that their job runs and asks for them; returns
    the missing inputs ([] and nothing removed when none is, or no output exists)."""
    missing = [Path(p) for p in inputs if not Path(p).exists()]
    present = [Path(p) for p in outputs if Path(p).exists()]
    if not missing or not present:
        return []
    for path in present:
        path.unlink(missing_ok=True)
    return missing


def heal(results_dir: str | os.PathLike, plan: Mapping, tables: list) -> list[str]:
    """Set damaged files aside (:func:`~ecabench.integrity.quarantine.sweep`), then remove ``tables`` (the
    aggregate rule's outputs) if anything they need is missing. One line per action, for the log."""
    moved = sweep(results_dir)
    lines = [sweep_message(e) for e in moved]
    expired = [Path(e["expired"]) for e in moved if e.get("expired")]  # tuning summaries of set-aside evaluations
    missing = expire(tables, needed_paths(plan, results_dir) + expired)
    if missing:
        what = (f"{missing[0]} and {len(missing) - 1} more file(s), which are missing" if len(missing) > 1
                else f"{missing[0]}, which is missing")
        lines.append(f"ecabench: the tables need {what}: removed {Path(tables[0]).name} and the other tables, so "
                     "that the missing files are computed again, then aggregated")
    return lines


__all__ = ["expire", "heal", "needed_paths", "needed_runs"]
