"""One run's rows of the tidy table: its record's metrics and its architecture's measurement."""
from __future__ import annotations

import math
from typing import Any

from ecabench.aggregate.columns import _STATIC_METRICS, THROUGHPUT_FIELDS


def _measurement_for(measurements: dict[str, dict], plan_run: dict, arch: str) -> dict | None:
    """A run's measurement: its plan ``measure_id``'s file, else the only file that measured its architecture."""
    mid = plan_run.get("measure_id")
    if mid and mid in measurements:
        return measurements[mid]
    hits = [m for m in measurements.values() if arch and arch in m.get("architectures", {})]
    return hits[0] if len(hits) == 1 else None


# ------------------------------------------------------------------------------------- helpers
def _num(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def _k_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        flat = []
        for v in value:
            if isinstance(v, (list, tuple)):  # several k in one stage
                flat.append("/".join(str(x) for x in v))
            else:
                flat.append(str(v))
        return ",".join(flat)
    return str(value)


def _attention_params(record: dict | None, plan_run: dict | None) -> dict:
    """The spec's full parameters as the plan or the run record wrote them (both hold every parameter,
    defaults included); the table never re-parses specs, so it needs no plugin loaded."""
    params: dict = {}
    if plan_run and plan_run.get("params") is not None:  # the study's spec (may be an alias of the run's)
        params.update(plan_run.get("params") or {})
    elif record:
        att = (record.get("config") or {}).get("attention") or {}
        params.update({k: v for k, v in att.items() if k != "name"})
    return params


def _dataset_name(record: dict | None, plan_run: dict | None) -> str:
    if plan_run and plan_run.get("dataset"):
        d = plan_run["dataset"]
        return d.get("name", "") if isinstance(d, dict) else str(d)
    if record:
        d = (record.get("config") or {}).get("dataset") or {}
        return d.get("name", "") if isinstance(d, dict) else str(d)
    return ""


def _variant_of(spec: str, record: dict | None) -> str:
    if record:
        name = ((record.get("config") or {}).get("attention") or {}).get("name")
        if name:
            return str(name)
    return spec.split("(", 1)[0] if spec else ""


def _measure_rows(measurement: dict | None, arch: str) -> list[tuple[str, float, str, str]]:
    """(metric, value, "measure", implementation) of one architecture in a measure job's file."""
    if measurement is None:
        return []
    rows = []
    counts = ((measurement.get("architectures") or {}).get(arch) or {}).get("metrics") or {}
    rows += [(key, _num(counts[key]), "measure", "") for key in _STATIC_METRICS if key in counts]
    for t in measurement.get("throughput") or []:
        if t.get("architecture_id") != arch:
            continue
        mode, impl = t.get("mode", "inference"), t.get("implementation", "eager")
        rows += [(f"{mode}_{name}", _num(t.get(field)), "measure", impl) for field, name in THROUGHPUT_FIELDS.items()]
        rows.append((f"peak_memory_{mode}_mb", _num(t.get("peak_memory_mb")), "measure", impl))  # CPU: NaN
    return rows


def _run_rows(record: dict | None, measurement: dict | None, arch: str) -> list[tuple[str, float, str, str]]:
    """(metric, value, source, implementation) for one run: its record's metrics and its measurement's."""
    measured = _measure_rows(measurement, arch)
    if record is None:  # planned, not (yet) recorded: accuracy unknown, the architecture's counts known
        return [("test_top1_pct", math.nan, "run", "")] + measured
    have = {r[0] for r in measured}
    rows = [r for r in measured if r[0] not in _STATIC_METRICS or r[0] not in (record.get("metrics") or {})]
    for key, value in (record.get("metrics") or {}).items():
        if isinstance(value, (list, dict, str)) or (key in have and key not in _STATIC_METRICS):
            continue
        rows.append((key, _num(value), "run", ""))
    timings = record.get("timings") or {}
    if "total_time_s" in timings:
        rows.append(("total_time_s", _num(timings["total_time_s"]), "run", ""))
    rows.append(("epochs_completed", float(len(record.get("curves") or [])), "run", ""))
    return rows


def _curve_rows(record: dict) -> list[dict]:
    out = []
    for point in record.get("curves") or []:
        epoch = point.get("epoch")
        for key, value in point.items():
            if key == "epoch" or isinstance(value, (list, dict, str)):
                continue
            out.append({"epoch": epoch, "metric": key, "value": _num(value)})
    return out
