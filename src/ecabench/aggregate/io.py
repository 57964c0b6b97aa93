"""Reading run records and measure-job files, and writing and reading the tidy tables (atomically).

Every file is checked where it is read (:mod:`ecabench.integrity.checks`: schema and checksum); one that
fails is skipped with a warning naming it and, given a ``quarantine`` folder (the workflow's
``results/quarantine``), moved there with its reason, so the next ``snakemake`` computes it again.
"""
from __future__ import annotations

import glob
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ecabench.aggregate.columns import COLUMNS, typed
from ecabench.integrity.checks import MEASURE, RUNS, DamagedFile, read_checked
from ecabench.integrity.quarantine import set_aside
from ecabench.util import atomic_write


class AggregateWarning(UserWarning):
    """A record or measurement file that was skipped, or planned runs without records."""


def expand_paths(paths: Any) -> list[Path]:
    """A folder (its ``*.json``), a glob pattern, one file, or an iterable of those -> sorted files."""
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.glob("*.json")))
        elif any(c in str(p) for c in "*?[") and not p.exists():
            out.extend(Path(x) for x in sorted(glob.glob(str(p))))
        else:
            out.append(p)
    seen, unique = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def write_table(df: pd.DataFrame, parquet: str | os.PathLike | None = None,
                csv: str | os.PathLike | None = None) -> None:
    """Write ``df`` atomically as parquet and/or CSV."""
    if parquet is not None:
        atomic_write(parquet, lambda tmp: df.to_parquet(tmp, index=False))
    if csv is not None:
        atomic_write(csv, lambda tmp: df.to_csv(tmp, index=False))


def sibling(out_parquet: str | os.PathLike, suffix: str, ext: str) -> Path:
    """``results/summary.parquet`` + ``_curves`` + ``.csv`` -> ``results/summary_curves.csv``."""
    p = Path(out_parquet)
    return p.with_name(f"{p.stem}{suffix}{ext}")


def _skip(path: Path, why: str, skipped: list, quarantine: str | os.PathLike | None) -> None:
    moved = set_aside(path, why, quarantine) if quarantine is not None else None
    if moved is not None:
        why = f"{why}; set aside as {moved}, the next snakemake run computes it again"
    warnings.warn(f"skipping {path}: {why}", AggregateWarning, stacklevel=4)
    skipped.append({"file": str(path), "reason": why})


def _read_checked(paths: Any, kind: str, skipped: list,
                  quarantine: str | os.PathLike | None) -> Iterator[tuple[Path, Any]]:
    """(path, JSON) of each file that passes ``kind``'s check; any other file warns, is noted in ``skipped``
    and is set aside into ``quarantine`` (when given)."""
    for path in expand_paths(paths):
        try:
            obj = read_checked(path, kind)
        except DamagedFile as exc:
            _skip(path, str(exc), skipped, quarantine)
            continue
        yield path, obj


def load_records(run_paths: Any, skipped: list | None = None, *,
                 quarantine: str | os.PathLike | None = None) -> dict[str, dict]:
    """Read and check run records -> {run_id: record}; a bad file warns and is skipped (and set aside into
    ``quarantine`` when given)."""
    skipped = [] if skipped is None else skipped
    records: dict[str, dict] = {}
    for path, rec in _read_checked(run_paths, RUNS, skipped, quarantine):
        if rec["run_id"] in records:
            warnings.warn(f"{path}: run {rec['run_id']} was already read from another file; keeping the first",
                          AggregateWarning, stacklevel=2)
            continue
        rec["_path"] = str(path)
        records[rec["run_id"]] = rec
    return records


def load_measurements(measure_paths: Any, skipped: list | None = None, *,
                      quarantine: str | os.PathLike | None = None) -> dict[str, dict]:
    """Read measure-job files -> {measure id (file stem): m}.

    A bad file warns and is skipped (and set aside into ``quarantine`` when given); a failed measurement
    (``status: failed``) is kept (no metrics).
    """
    skipped = [] if skipped is None else skipped
    out: dict[str, dict] = {}
    for path, m in _read_checked(measure_paths, MEASURE, skipped, quarantine):
        out[path.stem] = m  # the workflow names files by measure id
    return out


def read_meta(summary_path: str | os.PathLike) -> dict:
    """The ``<stem>_meta.json`` written beside a summary table ({} if absent)."""
    path = sibling(summary_path, "_meta", ".json")
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """Read a summary table written by :func:`aggregate` (parquet or CSV) with its dtypes."""
    path = Path(path)
    if path.suffix == ".csv":
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        for col in COLUMNS:
            if col not in df.columns:
                df[col] = None
        return typed(df[COLUMNS + [c for c in df.columns if c not in COLUMNS]])
    return pd.read_parquet(path)


def read_curves(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
