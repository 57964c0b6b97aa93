"""Run records: schema validation, checksums and atomic JSON writes (a record is named by its run id,
:func:`ecabench.runconfig.run_id`).

A record is written whole or not at all (temp file in the same folder, then ``os.replace``), so a
crashed or concurrent run never leaves a half-written file for the aggregation to trip over. Every
record is validated against ``schemas/run_record.schema.json`` before it is written and carries the
SHA-256 of its content (``checksum``, :mod:`ecabench.util.checksum`), so a reader can tell a record
damaged later (a full disk, a cut copy, a hand edit) from the one that was written
(:func:`check_record`). Records written before checksums existed are accepted if they match the schema.
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
from ecabench.util.checksum import ChecksumError, check_checksum, with_checksum
from ecabench.util.hashing import to_jsonable

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A record that does not match the schema, or a folder it cannot be written to."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("ecabench").joinpath("schemas/run_record.schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    """Built once: every record read at parse time is checked, and building a validator costs more than
    checking a record with it."""
    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def validate(record: dict) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))  # as jsonschema.validate picks
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<record>"
        raise RecordError(f"run record does not match the schema at {where}: {error.message}")


def check_record(record: dict) -> None:
    """The schema, then the checksum (when the record has one): what every reader of a record checks."""
    validate(record)
    try:
        check_checksum(record)
    except ChecksumError as exc:
        raise RecordError(f"run record {exc}") from None


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
    record = with_checksum(_clean(json.loads(json.dumps(record, default=to_jsonable))))
    validate(record)
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False) + "\n")


def read_record(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        record = json.load(fh)
    check_record(record)
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
