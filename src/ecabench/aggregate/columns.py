"""The tidy table's columns and units (one row per study, run, metric)."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

# the fixed columns, in order; after them one ``param_<name>`` column per parameter of the runs' specs
COLUMNS = [
    "study", "run_id", "backbone", "dataset", "variant", "spec", "spec_id", "architecture_id", "seed",
    "status", "metric", "value", "unit", "source", "implementation", "k_per_stage", "aliases", "error", "device",
]
PARAM_PREFIX = "param_"
CURVE_COLUMNS = ["run_id", "backbone", "dataset", "variant", "spec", "spec_id", "seed", "status", "epoch",
                 "metric", "value"]

# Per (architecture, implementation, mode) throughput rows of a measure job -> metric names
# (``{mode}_images_per_s``, ``{mode}_rel_none`` ... with mode inference or train).
THROUGHPUT_FIELDS = {
    "images_per_s": "images_per_s", "images_per_s_p25": "images_per_s_p25", "images_per_s_p75": "images_per_s_p75",
    "images_per_s_ci_low": "images_per_s_ci_low", "images_per_s_ci_high": "images_per_s_ci_high",
    "rel": "rel_none", "rel_ci_low": "rel_none_ci_low", "rel_ci_high": "rel_none_ci_high",
}
# shared by measurement files and run records: the record's value is authoritative
_STATIC_METRICS = ("params_total", "params_attention", "macs", "elementwise_flops")


def unit_of(metric: str) -> str:
    m = metric.lower()
    if m.endswith("_pct"):
        return "pct"
    if m.startswith("inference_rel_"):
        return "ratio"
    if "images_per_s" in m:
        return "images_per_s"
    if m.endswith("_ms"):
        return "ms"
    if m.endswith("_mb"):
        return "mb"
    if m.endswith("_s"):
        return "s"
    if m.startswith("params") or "macs" in m or "flops" in m or m.startswith("epochs") or m.endswith("_count"):
        return "count"
    if "loss" in m:
        return "nat"
    return ""


def param_columns(columns) -> list[str]:
    """The ``param_<name>`` columns among ``columns``, in their order."""
    return [c for c in columns if str(c).startswith(PARAM_PREFIX)]


def param_text(value: Any) -> str:
    """One parameter value as the tidy table's text: lists ``"3,5,5"`` (several values in one stage
    joined by ``/``: ``"3/5,5"``), booleans ``true``/``false``, integral numbers without ``.0``;
    ``""`` for a missing value."""
    if _missing(value):
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join("/".join(param_text(x) for x in v) if isinstance(v, (list, tuple)) else param_text(v)
                        for v in value)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def typed_param(values: pd.Series) -> pd.Series:
    """One ``param_<name>`` column typed from the values it holds (so a CSV read back gets the same type):
    all booleans -> ``boolean``; all numbers -> ``Int64`` when every one is integral, else ``float64``;
    anything else (strings, per-stage lists, a mix) -> ``str`` via :func:`param_text`. A run whose
    variant has no such parameter holds a missing value (``<NA>``/NaN)."""
    present = [v for v in values if not _missing(v)]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return pd.Series(pd.array([None if _missing(v) else bool(v) for v in values], dtype="boolean"),
                         index=values.index)
    if present and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in present):
        nums = pd.to_numeric(values, errors="coerce").astype(float)
        if all(float(v).is_integer() for v in nums.dropna()):
            return nums.astype("Int64")
        return nums
    return pd.Series([None if _missing(v) else param_text(v) for v in values], index=values.index, dtype="str")


def typed(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("study", "run_id", "backbone", "dataset", "variant", "spec", "spec_id", "architecture_id",
                "status", "metric", "unit", "source", "implementation", "k_per_stage", "aliases", "error", "device"):
        df[col] = df[col].astype(object).fillna("").astype(str)
    df["seed"] = pd.array(df["seed"], dtype="Int64")
    df["value"] = df["value"].astype(float)
    for col in param_columns(df.columns):
        df[col] = typed_param(df[col])
    return df
