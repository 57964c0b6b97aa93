"""The tidy table's columns and units (one row per study, run, metric)."""
from __future__ import annotations

import pandas as pd

COLUMNS = [
    "study", "run_id", "backbone", "dataset", "variant", "spec", "spec_id", "architecture_id", "seed",
    "status", "metric", "value", "unit", "source", "implementation", "k_per_stage", "k_param", "gamma", "b",
    "odd", "aliases", "error", "device",
]
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


def typed(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("study", "run_id", "backbone", "dataset", "variant", "spec", "spec_id", "architecture_id",
                "status", "metric", "unit", "source", "implementation", "k_per_stage", "k_param", "aliases", "error",
                "device"):
        df[col] = df[col].fillna("").astype(str)
    df["seed"] = pd.array(df["seed"], dtype="Int64")
    df["value"] = df["value"].astype(float)
    df["gamma"] = df["gamma"].astype(float)
    df["b"] = df["b"].astype(float)
    df["odd"] = pd.array(df["odd"], dtype="boolean")
    return df
