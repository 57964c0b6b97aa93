"""``ecabench verify``: every result file checked against what it must hold and against the plan.

* damaged: a run record, measurement file or precision decision that fails its check
  (:mod:`ecabench.integrity.checks`), or an unreadable ``plan.json``;
* missing: an output the plan needs and nobody wrote: the plan itself, every measurement, every run of a
  study without the two-stage rule, and for a precision study its decision and the runs of the seeds
  that decision keeps (before the checkpoint has decided: its stage-1 runs; candidates it did not keep
  are not needed);
* orphaned: a file the plan does not list (a run of an earlier config; harmless to the workflow, which
  reuses it if the config comes back). Run records of tuning evaluations (``results/tuning``) are listed.

It only reads: the workflow's own parse-time sweep (:func:`ecabench.integrity.quarantine.sweep`) is what
sets damaged files aside. Files already set aside are shown, not counted as problems.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ecabench.integrity.checks import KINDS, MEASURE, PRECISION, RUNS, problem
from ecabench.integrity.heal import needed_runs
from ecabench.integrity.quarantine import quarantine_dir, quarantined, tuning_pointers

DAMAGED, MISSING, ORPHANED = "damaged", "missing", "orphaned"


@dataclass(frozen=True)
class Finding:
    what: str  # damaged | missing | orphaned
    path: str
    why: str

    def line(self) -> str:
        return f"{self.what:<9} {self.path}: {self.why}"


def _files(results: Path) -> tuple[dict[str, set[str]], list[Finding]]:
    """The stems present per kind, and the damaged files among them."""
    present: dict[str, set[str]] = {kind: set() for kind in KINDS}
    damaged = []
    for kind in KINDS:
        for path in sorted((results / kind).glob("*.json")):
            present[kind].add(path.stem)
            reason = problem(path, kind)
            if reason:
                damaged.append(Finding(DAMAGED, str(path), reason))
    return present, damaged


def _plan(results: Path) -> tuple[dict | None, list[Finding]]:
    path = results / "plan.json"
    if not path.exists():
        return None, [Finding(MISSING, str(path), "the plan (written by the workflow's first step); without it "
                              "no run can be called missing or orphaned")]
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(plan, dict) or not isinstance(plan.get("runs"), dict):
            raise ValueError("not a plan (no 'runs' object)")
    except (OSError, ValueError) as exc:
        return None, [Finding(DAMAGED, str(path), str(exc).splitlines()[0])]
    return plan, []


def _run_text(entry: Mapping) -> str:
    return f"{entry.get('spec')} on {entry.get('backbone')}/{entry.get('dataset')}, seed {entry.get('seed')}"


def _needed_runs(plan: Mapping, results: Path, present: dict) -> tuple[set[str], list[Finding]]:
    """The runs the plan needs now (precision studies: as decided), and the decisions still missing."""
    needed, undecided = needed_runs(plan, results)
    return needed, [Finding(MISSING, str(results / PRECISION / f"{study}.json"), f"study {study!r} has no two-stage "
                            "decision yet: only its stage-1 runs are known to be needed")
                    for study in undecided if study not in present[PRECISION]]  # a damaged one is reported


def _against_plan(plan: Mapping, results: Path, present: dict) -> list[Finding]:
    needed, findings = _needed_runs(plan, results, present)
    runs = plan["runs"]
    for rid in sorted(needed - present[RUNS]):
        findings.append(Finding(MISSING, str(results / RUNS / f"{rid}.json"), f"no record of run {rid} "
                                f"({_run_text(runs.get(rid, {}))})"))
    measurements = set(plan.get("measurements") or {})
    findings += [Finding(MISSING, str(results / MEASURE / f"{mid}.json"), "no measurement file for a measure job "
                         "the plan lists") for mid in sorted(measurements - present[MEASURE])]
    known = set(runs) | set(tuning_pointers(results).values())
    findings += [Finding(ORPHANED, str(results / RUNS / f"{rid}.json"), f"run {rid} is not in the plan")
                 for rid in sorted(present[RUNS] - known)]
    findings += [Finding(ORPHANED, str(results / MEASURE / f"{mid}.json"), "a measure job the plan does not list")
                 for mid in sorted(present[MEASURE] - measurements)]
    findings += [Finding(ORPHANED, str(results / PRECISION / f"{s}.json"), f"study {s!r} has no two-stage rule in "
                         "the plan") for s in sorted(present[PRECISION] - set(plan.get("precision") or {}))]
    return findings


def verify(results_dir: str | os.PathLike = "results") -> dict:
    """``{"findings": [Finding], "checked": {kind: files}, "quarantined": [...]}`` for ``results_dir``."""
    results = Path(results_dir)
    present, findings = _files(results)
    plan, plan_findings = _plan(results)
    findings += plan_findings
    if plan is not None:
        findings += _against_plan(plan, results, present)
    return {"findings": findings, "checked": {kind: len(present[kind]) for kind in KINDS},
            "quarantined": quarantined(quarantine_dir(results))}


def verify_lines(result: Mapping, results_dir: str | os.PathLike = "results") -> list[str]:
    """What ``ecabench verify`` prints: one line per problem, the files set aside, then a verdict."""
    checked = result["checked"]
    lines = [f"checked {results_dir}: {checked[RUNS]} run records, {checked[MEASURE]} measurement files, "
             f"{checked[PRECISION]} precision decisions"]
    lines += [f.line() for f in result["findings"]]
    lines += [f"set aside {q['moved_to']} (was {q['file']}): {q['reason']}" for q in result["quarantined"]]
    counts = {w: sum(f.what == w for f in result["findings"]) for w in (DAMAGED, MISSING, ORPHANED)}
    if not result["findings"]:
        return lines + ["ok: nothing damaged, missing or orphaned"]
    summary = ", ".join(f"{n} {w}" for w, n in counts.items() if n)
    hint = ("; `snakemake` sets damaged files aside and computes them and the missing ones again"
            if counts[DAMAGED] or counts[MISSING] else "")
    return lines + [f"problems: {summary}{hint} (docs/troubleshooting.md)"]


__all__ = ["DAMAGED", "MISSING", "ORPHANED", "Finding", "verify", "verify_lines"]
