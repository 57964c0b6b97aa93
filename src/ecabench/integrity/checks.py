"""What a result file must hold to count as written: one check per kind, one line of reason when it fails.

Snakemake knows only that an output exists; these checks are the project's: a run record must parse,
match its schema and its checksum (:func:`ecabench.records.check_record`); a measurement file must be a
measure job's object (``architectures``) and match its checksum when it has one; a precision decision
must name its study and settings. Kinds are named by the folder under ``results/`` that holds them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from ecabench.records import check_record
from ecabench.util.checksum import check_checksum

RUNS, MEASURE, PRECISION = "runs", "measure", "precision"
KINDS = (RUNS, MEASURE, PRECISION)


class DamagedFile(ValueError):
    """A result file that cannot be used: the message is the one-line reason."""


def _check_measurement(m: Any) -> None:
    if not isinstance(m, dict) or not isinstance(m.get("architectures"), dict):
        raise ValueError("not a measurement file (no 'architectures' object)")
    check_checksum(m)


def _check_decision(d: Any) -> None:
    if not isinstance(d, dict) or not isinstance(d.get("study"), str) or not isinstance(d.get("settings"), list):
        raise ValueError("not a precision decision (no 'study' name and 'settings' list)")
    for i, s in enumerate(d["settings"]):
        if not (isinstance(s, dict) and isinstance(s.get("backbone"), str) and isinstance(s.get("dataset"), str)
                and isinstance(s.get("seeds"), list)):
            raise ValueError(f"precision decision: settings[{i}] lacks its backbone, dataset or seeds")


CHECKS: dict[str, Callable[[Any], None]] = {RUNS: check_record, MEASURE: _check_measurement,
                                            PRECISION: _check_decision}


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DamagedFile("not UTF-8 text (overwritten with binary data?)") from None
    except OSError as exc:
        raise DamagedFile(f"unreadable ({exc.strerror or type(exc).__name__})") from None
    if not text.strip():
        raise DamagedFile("empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedFile(f"not valid JSON, cut short or overwritten? ({exc.msg}: line {exc.lineno} column "
                          f"{exc.colno} of a {len(text)}-character file)") from None
    except RecursionError:
        raise DamagedFile("not a result file (JSON nested too deeply to read)") from None


def read_checked(path: str | os.PathLike, kind: str, *, named: bool = False) -> Any:
    """The file's JSON if it passes ``kind``'s check, else :class:`DamagedFile` with the reason.

    ``named``: the file is named as the workflow names it (a run record ``<run_id>.json``), so a record
    of another run under this name is damaged too (a copy gone wrong)."""
    path = Path(path)
    obj = _parse(path)
    try:
        CHECKS[kind](obj)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:  # RecordError, ChecksumError: ValueErrors
        raise DamagedFile(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if named and kind == RUNS and obj["run_id"] != path.stem:
        raise DamagedFile(f"holds run {obj['run_id']}, not the run its name says ({path.stem})")
    return obj


def problem(path: str | os.PathLike, kind: str, *, named: bool = True) -> str | None:
    """The one-line reason ``path`` is damaged, or None when it passes."""
    try:
        read_checked(path, kind, named=named)
    except DamagedFile as exc:
        return str(exc)
    return None


__all__ = ["CHECKS", "KINDS", "MEASURE", "PRECISION", "RUNS", "DamagedFile", "problem", "read_checked"]
