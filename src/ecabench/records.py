"""Run records: schema validation and atomic JSON writes (a record is named by its run id,
:func:`ecabench.runconfig.run_id`).

A record is written whole or not at all (temp file in the same folder, then ``os.replace``), so a
crashed or concurrent run never leaves a half-written file for the aggregation to trip over. Every
record is validated against ``schemas/run_record.schema.json`` before it is written.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ecabench.util import atomic_write_text
from ecabench.util.hashing import to_jsonable

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A record that does not match the schema, or a folder it cannot be written to."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("ecabench").joinpath("schemas/run_record.schema.json").read_text())


def validate(record: dict) -> None:
    try:
        jsonschema.validate(record, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<record>"
        raise RecordError(f"run record does not match the schema at {where}: {exc.message}") from None


def _clean(obj: Any) -> Any:
    """NaN/inf are not JSON: store them as null (status and error say what happened)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_record(record: dict, path: str | os.PathLike) -> Path:
    record = _clean(json.loads(json.dumps(record, default=to_jsonable)))
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
