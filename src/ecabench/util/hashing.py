"""Canonical JSON and the short hashes that name runs, architectures and measure jobs.

The same configuration must always give the same bytes (sorted keys, no whitespace), whatever the
order in which it was built, so its hash can be an identity.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any


def to_jsonable(value: Any) -> Any:
    """``json.dumps``' ``default``: numpy/torch scalars as numbers, tuples and sets as lists, anything
    else (paths, specs) as its text."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=to_jsonable)


def short_hash(obj: Any, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``obj``'s canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]
