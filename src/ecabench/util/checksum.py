"""Content checksums: a result file carries the SHA-256 of its own canonical JSON.

Writes are atomic, so the workflow never leaves a half-written file; the checksum catches what happens
to a file afterwards (a full disk, a copy cut short, a hand edit) when what is left still parses as JSON.
A file without the field (written before checksums existed) is accepted: its schema is still checked.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from ecabench.util.hashing import canonical_json, to_jsonable

CHECKSUM_FIELD = "checksum"


class ChecksumError(ValueError):
    """A file's content does not match the checksum written with it."""


def content_checksum(obj: Mapping) -> str:
    """SHA-256 (hex) of ``obj``'s canonical JSON without its checksum field."""
    body = {k: v for k, v in obj.items() if k != CHECKSUM_FIELD}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def with_checksum(obj: Mapping) -> dict:
    """``obj`` as the plain JSON values it will be read back as, with its checksum added (numpy scalars,
    tuples and paths are converted first, so the checksum is of exactly what a reader sees)."""
    plain: dict[str, Any] = json.loads(json.dumps(obj, default=to_jsonable))
    plain.pop(CHECKSUM_FIELD, None)
    return {**plain, CHECKSUM_FIELD: content_checksum(plain)}


def check_checksum(obj: Mapping) -> None:
    """Raise :class:`ChecksumError` if ``obj`` carries a checksum its content does not match."""
    written = obj.get(CHECKSUM_FIELD)
    if written is None:
        return
    actual = content_checksum(obj)
    if written != actual:
        raise ChecksumError(f"content does not match its checksum (written {str(written)[:12]}..., "
                            f"content {actual[:12]}...): changed after it was written")


__all__ = ["CHECKSUM_FIELD", "ChecksumError", "check_checksum", "content_checksum", "with_checksum"]
