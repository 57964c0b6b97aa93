"""Setting damaged result files aside: moved to ``results/quarantine/`` with a one-line reason beside them.

Snakemake counts an output as done when its file exists, so a damaged record would never be trained
again. The workflow therefore sweeps its results when it starts (:func:`ecabench.integrity.heal.heal`, called
by the ``Snakefile`` before Snakemake decides what to run): each damaged file is moved away, so that the
job writing it runs again in the same ``snakemake`` call, and is kept, with ``<name>.reason.txt`` saying
why, for whoever wants to look. Readers inside jobs (the precision checkpoint, aggregation) set aside what
they find damaged the same way. A file that cannot be moved (a read-only folder) is reported, not raised.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ecabench.integrity.checks import KINDS, RUNS, problem
from ecabench.util import atomic_write_text

QUARANTINE = "quarantine"
REASON_SUFFIX = ".reason.txt"
# A tuning evaluation's pointer (rules/tune.smk) is the output that makes its run record: setting the
# record aside must set the pointer aside too, or the evaluation would never run again.
TUNING_POINTERS = ("tuning/*/*/evaluate/*.json", "tuning/*/*/reference/*.json")


def quarantine_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / QUARANTINE


def _reason_path(target: Path) -> Path:
    return target.with_name(target.name + REASON_SUFFIX)


def set_aside(path: str | os.PathLike, reason: str, folder: str | os.PathLike) -> Path | None:
    """Move ``path`` into ``folder`` (never over an earlier file: ``<stem>.1.json`` ...) and write its reason
    beside it; None when the file is already gone (another reader set it aside first)."""
    path, folder = Path(path), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / path.name, 0
    while target.exists() or _reason_path(target).exists():
        n += 1
        target = folder / f"{path.stem}.{n}{path.suffix}"
    try:
        shutil.move(path, target)  # a rename: results/ and its quarantine are one file system
    except FileNotFoundError:
        return None
    atomic_write_text(_reason_path(target), f"{path}: {reason.splitlines()[0] if reason else 'damaged'}\n")
    return target


def tuning_pointers(results_dir: str | os.PathLike) -> dict[Path, str]:
    """{pointer file: the run id it names} for every tuning evaluation under ``results_dir``."""
    out = {}
    for pattern in TUNING_POINTERS:
        for path in sorted(Path(results_dir).glob(pattern)):
            try:
                rid = json.loads(path.read_text()).get("run_id")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(rid, str):
                out[path] = rid
    return out


def tuning_summary(pointer: Path) -> Path:
    """The summary a pointer feeds: ``<tune>/<variant>/evaluate/seed<s>.json`` -> ``<tune>/summary.json``."""
    return pointer.parents[2] / "summary.json"


def _pointers_to(results: Path, run_ids: set[str], folder: Path) -> list[dict]:
    """Set aside the tuning evaluations whose run record was set aside, and remove their study's summary
    (derived from them: Snakemake would not rerun an evaluation whose summary is up to date)."""
    out = []
    for path, rid in (tuning_pointers(results) if run_ids else {}).items():
        if rid in run_ids:
            reason = f"points to run record {rid}, which was set aside"
            moved = set_aside(path, reason, folder)
            if moved is not None:
                tuning_summary(path).unlink(missing_ok=True)
                out.append({"file": str(path), "reason": reason, "moved_to": str(moved),
                            "expired": str(tuning_summary(path))})
    return out


def sweep(results_dir: str | os.PathLike) -> list[dict]:
    """Check every run record, measurement and precision decision under ``results_dir``; set each damaged
    one aside. Returns ``[{file, reason, moved_to}]``, one per file moved."""
    results = Path(results_dir)
    folder = quarantine_dir(results)
    out = []
    for kind in KINDS:
        for path in sorted((results / kind).glob("*.json")):
            reason = problem(path, kind)
            if not reason:
                continue
            try:
                moved = set_aside(path, reason, folder)
            except OSError as exc:  # never stop the workflow's start: say so, leave the file
                out.append({"file": str(path), "reason": reason, "moved_to": None, "error": str(exc)})
                continue
            if moved is not None:
                out.append({"file": str(path), "reason": reason, "moved_to": str(moved)})
    runs = {Path(e["file"]).stem for e in out if e["moved_to"] and Path(e["file"]).parent.name == RUNS}
    return out + _pointers_to(results, runs, folder)


def sweep_message(entry: dict) -> str:
    """One line for the log: what was set aside, why, where it went and what happens next."""
    if not entry.get("moved_to"):
        return (f"ecabench: {entry['file']} is damaged ({entry['reason']}) but could not be set aside "
                f"({entry.get('error')}): move or delete it, then run snakemake again")
    return (f"ecabench: set aside {entry['file']} ({entry['reason']}) as {entry['moved_to']}; "
            "the job that writes it runs again")


def quarantined(folder: str | os.PathLike) -> list[dict]:
    """Every file set aside into ``folder`` (``results/quarantine``) so far: ``[{file (where it was), reason,
    moved_to}]``, read from the reason files."""
    out = []
    for reason_file in sorted(Path(folder).glob(f"*{REASON_SUFFIX}")):
        try:
            line = reason_file.read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, ValueError, IndexError):
            line = ""
        file, _, reason = line.partition(": ")
        out.append({"file": file or "?", "reason": reason or "no reason recorded",
                    "moved_to": str(reason_file)[: -len(REASON_SUFFIX)]})
    return out


__all__ = ["QUARANTINE", "REASON_SUFFIX", "quarantine_dir", "quarantined", "set_aside", "sweep", "sweep_message",
           "tuning_pointers", "tuning_summary"]
