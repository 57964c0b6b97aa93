"""Run records: stable run ids, schema validation and atomic JSON writes.

A record is written whole or not at all (temp file in the same folder, then ``os.replace``), so a
crashed or concurrent run never leaves a half-written file for the aggregation to trip over. Every
record is validated against ``schemas/run_record.schema.json`` before it is written.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A record that does not match the schema, or a folder it cannot be written to."""


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable)


def run_id(config: dict) -> str:
    """Stable id of a normalised configuration: the same config always names the same run."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("ecabench").joinpath("schemas/run_record.schema.json").read_text())


def validate(record: dict) -> None:
    try:
        jsonschema.validate(record, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<record>"
        raise RecordError(f"run record does not match the schema at {where}: {exc.message}") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _clean(obj: Any) -> Any:
    """NaN/inf are not JSON: store them as null (status and error say what happened)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_record(record: dict, path: str | os.PathLike) -> Path:
    record = _clean(json.loads(json.dumps(record, default=_jsonable)))
    validate(record)
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False) + "\n")


def read_record(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        record = json.load(fh)
    validate(record)
    return record


def check_writable(folder: str | os.PathLike) -> Path:
    """Fail before training, not after, when results could not be saved."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise RecordError(f"output folder {str(folder)!r} is not writable: {exc.strerror or exc}") from None
    return folder
