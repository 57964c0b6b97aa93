"""Search dimensions of a tuning study, parsed into plain JSON-able descriptions.

A list is a set of categorical choices; ``{low, high}`` (with ``log`` or ``step``) a range, integer
when both bounds are integers (write ``1.0`` for a continuous range). The description is what the
workers hand to Optuna, and what names the study, so it must be exact and stable.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from ecabench.plan.errors import TuneError
from ecabench.schemas import show
from ecabench.util import canonical_json, is_int, is_number

DIST_KEYS = ("type", "low", "high", "log", "step", "choices")


def _number(value: Any, where: str) -> float | int:
    """A YAML number; numeric text such as ``1e-5`` (YAML 1.1 reads it as a string) is accepted."""
    if is_number(value):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TuneError(f"{where} must be a number, got {show(value)}")


def _choices(raw: Mapping, where: str) -> dict:
    if sorted(set(raw) - {"choices", "type"}) or raw.get("type", "categorical") != "categorical":
        raise TuneError(f"{where}: give either choices or low/high, not both")
    choices = raw["choices"]
    if not isinstance(choices, list) or not choices:
        raise TuneError(f"{where}: choices must be a non-empty list, got {show(choices)}")
    for c in choices:
        if c is not None and not isinstance(c, (bool, int, float, str)):
            raise TuneError(f"{where}: choice {show(c)} is not a number, string, boolean or null")
    if len({canonical_json(c) for c in choices}) != len(choices):
        raise TuneError(f"{where}: choices list a value twice: {show(choices)}")
    return {"type": "categorical", "choices": list(choices)}


def _range_kind(raw: Mapping, low, high, step, where: str) -> str:
    kind = raw.get("type")
    if kind is None:
        kind = "int" if is_int(low) and is_int(high) and (step is None or is_int(step)) else "float"
    if kind not in ("int", "float"):
        raise TuneError(f"{where}.type must be int, float or categorical, got {show(kind)}")
    if kind == "int":
        for key, v in (("low", low), ("high", high), ("step", step)):
            if v is not None and (not is_number(v) or float(v) != int(v)):
                raise TuneError(f"{where}.{key}={v} is not an integer (type: int)")
    return kind


def _range(raw: Mapping, where: str) -> dict:
    if "low" not in raw or "high" not in raw:
        raise TuneError(f"{where}: a range needs both low and high, got {show(dict(raw))}")
    low, high = _number(raw["low"], f"{where}.low"), _number(raw["high"], f"{where}.high")
    log, step = raw.get("log", False), raw.get("step")
    if not isinstance(log, bool):
        raise TuneError(f"{where}.log must be true or false, got {show(log)}")
    if step is not None:
        step = _number(step, f"{where}.step")
        if step <= 0:
            raise TuneError(f"{where}.step must be > 0, got {step}")
        if log:
            raise TuneError(f"{where}: step and log cannot be combined")
    kind = _range_kind(raw, low, high, step, where)
    cast = int if kind == "int" else float
    low, high, step = cast(low), cast(high), (cast(step) if step is not None else None)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise TuneError(f"{where}: needs finite low <= high, got low={low}, high={high}")
    if log and low <= 0:
        raise TuneError(f"{where}: log=true needs low > 0, got low={low}")
    out = {"type": kind, "low": low, "high": high, "log": log}
    return {**out, "step": step} if step is not None else out


def parse_distribution(name: str, raw: Any, where: str) -> dict:
    """One search dimension -> ``{"type": "float"|"int"|"categorical", ...}`` (module docstring)."""
    if isinstance(raw, list):
        raw = {"choices": raw}
    if not isinstance(raw, Mapping):
        raise TuneError(f"{where}: a search dimension is a list of choices or {{low, high[, log, step]}}, got "
                        f"{show(raw)} (fixed values belong in the variant's spec)")
    unknown = sorted(set(raw) - set(DIST_KEYS))
    if unknown:
        raise TuneError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(DIST_KEYS)}")
    return _choices(raw, where) if "choices" in raw else _range(raw, where)


def extremes(dist: dict) -> list:
    """The values a dimension can reach at its ends: every choice, or both bounds."""
    return list(dist["choices"]) if dist["type"] == "categorical" else [dist["low"], dist["high"]]
