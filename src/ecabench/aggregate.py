"""Run records + measurement files + the plan -> one tidy (long-form) table.

``aggregate(run_paths, measure_paths, plan_path, out_parquet, out_csv)`` writes

``<out_parquet>`` / ``<out_csv>`` (e.g. ``results/summary.parquet`` / ``.csv``)
    One row per (study, run, metric). Columns, in order: :data:`COLUMNS`.

    * ``study``: the plan's study name; a run shared by two studies appears once per study.
    * ``variant`` is the attention name (``none``, ``eca``, ``se``, ...); ``spec`` the compact spec
      (``eca(k=5)``), ``spec_id`` its file-safe id, ``architecture_id`` the model's hash.
    * ``status``: ``ok`` | ``diverged`` | ``failed`` from the record, or ``missing`` for a planned run
      whose record does not exist (or could not be read); such runs get one ``test_top1_pct`` row with
      ``value`` NaN (plus the measurement file's rows), so they are listed and counted, never silently
      dropped.
    * ``spec``/``spec_id``/parameters are the *study's* names for the variant (plan first, then the
      record): a run deduplicated across specs with the same architecture is recorded under one of them,
      and the others are listed in ``aliases``.
    * ``metric``/``value``/``unit``: every numeric field of the record's ``metrics`` (null -> NaN), plus
      ``total_time_s`` (timings) and ``epochs_completed`` (length of the curves). ``unit`` is one of
      ``pct``, ``count``, ``images_per_s``, ``ms``, ``mb``, ``s``, ``nat`` (losses) or ``""``.
    * ``source``: ``run`` for the record's own metrics, ``measure`` for the per-architecture measurement
      file. Measurement metrics (throughput, latency, memory, see :data:`MEASURE_METRICS`) are joined (by the
      plan's ``measure_id``, else ``architecture_id``) onto **every seed's run** as metric rows with ``source == "measure"``: the
      value is the same for all seeds of an architecture, so a per-variant mean over seeds is simply
      the measured value and the report does not need a second join. When a measurement file exists its
      throughput replaces a throughput the run record may carry; the record's value is kept only when
      no measurement file covers the architecture.
    * ``k_per_stage``: the resolved per-stage kernel sizes of ECA (``"3,5,5,7"``), ``""`` when the
      record does not resolve any; ``k_param``/``gamma``/``b``/``odd``: the spec's ECA parameters
      (plan ``params`` first, then the record's attention config); NaN/``""`` for other variants.
    * ``aliases``: other specs with the same architecture (the spec the run was recorded under, if
      different, then the plan's ``aliases``; ``"; "``-separated).
    * ``error``: the record's error message for diverged/failed runs.
    * ``device``: the training device from the record's environment.

``<stem>_curves.parquet`` / ``<stem>_curves.csv`` next to ``out_parquet`` (e.g. ``summary_curves``)
    The per-epoch curves: run_id, backbone, dataset, variant, spec, spec_id, seed, status, epoch,
    metric, value - one row per (run, epoch, metric); a run shared by several studies appears once.

``<stem>_meta.json`` next to ``out_parquet``
    The distinct training environments (with run counts), the measurement setup and status of every
    measurement file, and the files skipped with the reason; the report states them.

Every file is written atomically (temp file in the same folder, then ``os.replace``). An unreadable or
invalid record or measurement file is skipped with a ``UserWarning`` naming the file.
"""
from __future__ import annotations

import glob
import json
import math
import os
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from ecabench.records import RecordError, validate
from ecabench.util import atomic_write, atomic_write_json

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
from ecabench.report.layout import DEFAULT_STUDY, AggregateWarning, load_plan  # noqa: E402  (light, no pandas)


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


# --------------------------------------------------------------------------------------------- io
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


def _skip(path: Path, why: str, skipped: list) -> None:
    msg = f"skipping {path}: {why}"
    warnings.warn(msg, AggregateWarning, stacklevel=3)
    skipped.append({"file": str(path), "reason": why})


def load_records(run_paths: Any, skipped: list | None = None) -> dict[str, dict]:
    """Read and validate run records -> {run_id: record}; a bad file warns and is skipped."""
    skipped = [] if skipped is None else skipped
    records: dict[str, dict] = {}
    for path in expand_paths(run_paths):
        try:
            with open(path) as fh:
                rec = json.load(fh)
            validate(rec)
        except (OSError, ValueError, RecordError) as exc:  # JSONDecodeError is a ValueError
            _skip(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, skipped)
            continue
        if rec["run_id"] in records:
            warnings.warn(f"{path}: run {rec['run_id']} was already read from another file; keeping the first",
                          AggregateWarning, stacklevel=2)
            continue
        rec["_path"] = str(path)
        records[rec["run_id"]] = rec
    return records


def load_measurements(measure_paths: Any, skipped: list | None = None) -> dict[str, dict]:
    """Read measure-job files -> {measure id (file stem): m}.

    A bad file warns and is skipped; a failed measurement (``status: failed``) is kept (no metrics).
    """
    skipped = [] if skipped is None else skipped
    out: dict[str, dict] = {}
    for path in expand_paths(measure_paths):
        try:
            with open(path) as fh:
                m = json.load(fh)
            if not isinstance(m, dict) or not isinstance(m.get("architectures"), dict):
                raise ValueError("not a measurement file (no 'architectures' object)")
        except (OSError, ValueError) as exc:
            _skip(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, skipped)
            continue
        out[path.stem] = m  # the workflow names files by measure id
    return out


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
    params: dict = {}
    if plan_run and plan_run.get("params") is not None:  # the study's spec (may be an alias of the run's)
        params.update(plan_run.get("params") or {})
    elif record:
        att = (record.get("config") or {}).get("attention") or {}
        params.update({k: v for k, v in att.items() if k != "name"})
    if not params:  # neither the plan nor a record says: parse the spec (needs the variant registered)
        spec = (plan_run or {}).get("spec") or (record or {}).get("spec")
        if spec:
            try:
                from ecabench.specs import parse_spec
                params = dict(parse_spec(spec).kwargs)
            except Exception:  # unknown plugin variant, bad spec: no parameters, not a crash
                params = {}
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


def _environment_summary(records: dict[str, dict]) -> list[dict]:
    keys = ("python", "torch", "torchvision", "fvcore", "ecabench", "device", "cpu_model", "cuda",
            "cudnn", "devices", "num_threads", "platform", "git_commit", "git_dirty")
    counter: Counter = Counter()
    for rec in records.values():
        env = rec.get("environment") or {}
        counter[json.dumps({k: env.get(k) for k in keys if k in env}, sort_keys=True, default=str)] += 1
    return [{**json.loads(k), "runs": n} for k, n in counter.most_common()]


# ------------------------------------------------------------------------------------------ main
def build_tables(records: dict[str, dict], measurements: dict[str, dict], plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy summary table and the curves table from already-loaded inputs (no I/O)."""
    studies = plan.get("studies") or {}
    if not studies:  # no plan: one study with every record
        studies = {DEFAULT_STUDY: {"runs": [{"run_id": rid} for rid in records], "baseline": "none"}}
    rows: list[dict] = []
    missing: list[str] = []
    for study, s in studies.items():
        for plan_run in s.get("runs", []):
            rid = str(plan_run.get("run_id"))
            rec = records.get(rid)
            if rec is None:
                missing.append(f"{study}/{rid}")
            cfg = (rec or {}).get("config") or {}
            arch = (rec or {}).get("architecture_id") or plan_run.get("architecture_id") or ""
            meas = _measurement_for(measurements, plan_run, arch)
            # the study's own name for the variant (a deduplicated run may be recorded under an alias)
            spec = plan_run.get("spec") or (rec or {}).get("spec") or ""
            spec_id = plan_run.get("spec_id") or (rec or {}).get("spec_id") or ""
            seed = cfg.get("seed", plan_run.get("seed"))
            params = _attention_params(rec, plan_run)
            resolved = (rec or {}).get("resolved") or {}
            if "k" not in resolved and plan_run.get("k_per_stage") is not None:
                resolved = {"k": plan_run["k_per_stage"]}
            aliases = list(plan_run.get("aliases") or [])
            run_spec = (rec or {}).get("spec") or plan_run.get("run_spec")
            if run_spec and run_spec != spec and run_spec not in aliases:
                aliases.insert(0, run_spec)
            base = {
                "study": study,
                "run_id": rid,
                "backbone": cfg.get("backbone") or plan_run.get("backbone") or "",
                "dataset": _dataset_name(rec, plan_run),
                "variant": _variant_of(spec, rec),
                "spec": spec,
                "spec_id": spec_id,
                "architecture_id": arch,
                "seed": seed if isinstance(seed, int) else None,
                "status": rec["status"] if rec else "missing",
                "k_per_stage": _k_string(resolved.get("k")),
                "k_param": _k_string(params.get("k")) if "k" in params else "",
                "gamma": _num(params.get("gamma")) if "gamma" in params else math.nan,
                "b": _num(params.get("b")) if "b" in params else math.nan,
                "odd": params.get("odd") if isinstance(params.get("odd"), bool) else None,
                "aliases": "; ".join(str(a) for a in aliases) if isinstance(aliases, list) else str(aliases),
                "error": ((rec or {}).get("error") or ("no run record" if rec is None else "")) or "",
                "device": str(((rec or {}).get("environment") or {}).get("device") or ""),
            }
            for metric, value, source, impl in _run_rows(rec, meas, arch):
                rows.append({**base, "metric": metric, "value": value, "unit": unit_of(metric), "source": source,
                             "implementation": impl})
    if missing:
        warnings.warn(f"{len(missing)} planned run(s) have no record and are marked 'missing': "
                      + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""), AggregateWarning, stacklevel=2)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = _typed(df)

    curve_rows = []
    used = {r for s in studies.values() for r in (str(x.get("run_id")) for x in s.get("runs", []))}
    for rid in sorted(used):
        rec = records.get(rid)
        if rec is None:
            continue
        cfg = rec.get("config") or {}
        head = {"run_id": rid, "backbone": cfg.get("backbone", ""), "dataset": _dataset_name(rec, None),
                "variant": _variant_of(rec.get("spec", ""), rec), "spec": rec.get("spec", ""),
                "spec_id": rec.get("spec_id", ""), "seed": cfg.get("seed"), "status": rec.get("status")}
        curve_rows.extend({**head, **c} for c in _curve_rows(rec))
    curves = pd.DataFrame(curve_rows, columns=CURVE_COLUMNS)
    curves["seed"] = pd.array(curves["seed"], dtype="Int64")
    curves["epoch"] = pd.array(curves["epoch"], dtype="Int64")
    curves["value"] = curves["value"].astype(float)
    return df, curves


def _typed(df: pd.DataFrame) -> pd.DataFrame:
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


def merge_tuned_studies(plan: dict, records: dict[str, dict], tune_summaries: Any,
                        skipped: list | None = None) -> tuple[dict, dict]:
    """Add tuning studies' test-split evaluation runs to ``plan`` as studies and their run records to
    ``records`` (in place); returns ``(plan, tuned study entries)``.

    The evaluation runs are ordinary run records (same schema and run id as any run), so they go
    through the same statistics; a tuning study named like a sweep study is added as ``tuned_<name>``.
    """
    summaries = [json.loads(Path(p).read_text()) for p in expand_paths(tune_summaries)]
    if not summaries:
        return plan, {}
    from ecabench.tune import plan_studies

    studies = dict(plan.get("studies") or {})
    tuned = {}
    for name, study in plan_studies(summaries).items():
        key = name if name not in studies else f"tuned_{name}"
        tuned[key] = {**study, "name": key, "tune": name}
    paths = [e["record"] for s in summaries for v in (s.get("variants") or {}).values()
             for e in (v.get("evaluation") or []) if e.get("record")]
    fresh = {rid: rec for rid, rec in load_records([p for p in paths if Path(p).exists()], skipped).items()
             if rid not in records}
    records.update(fresh)
    return {**plan, "studies": {**studies, **tuned}}, tuned


def aggregate(run_paths: Any, measure_paths: Any, plan_path: Any, out_parquet: str | os.PathLike,
              out_csv: str | os.PathLike | None = None, *, curves_parquet: str | os.PathLike | None = None,
              curves_csv: str | os.PathLike | None = None, meta_json: str | os.PathLike | None = None,
              tune_summaries: Any = None) -> pd.DataFrame:
    """Aggregate records and measurements into the tidy table (see the module docstring) and return it.

    ``run_paths``/``measure_paths``: files, folders (``*.json`` inside) or glob patterns. ``plan_path``:
    ``results/plan.json`` (or None: every record in study ``"all"``). Curves and meta default to
    ``<stem>_curves.parquet``/``.csv`` and ``<stem>_meta.json`` next to ``out_parquet``.
    ``tune_summaries``: tuning studies' ``summary.json`` files (``rules/tune.smk``); each becomes one
    more study of the table, holding its variants' best settings evaluated on the test split
    (:func:`merge_tuned_studies`), listed under ``tuned_studies`` in the meta file.
    """
    skipped: list[dict] = []
    records = load_records(run_paths, skipped)
    measurements = load_measurements(measure_paths, skipped)
    plan = load_plan(plan_path)
    plan, tuned = merge_tuned_studies(plan, records, tune_summaries, skipped)
    df, curves = build_tables(records, measurements, plan)

    out_parquet = Path(out_parquet)
    write_table(df, out_parquet, out_csv)
    write_table(curves, curves_parquet or sibling(out_parquet, "_curves", ".parquet"),
                curves_csv or sibling(out_parquet, "_curves", ".csv"))
    meta = {
        "environments": _environment_summary(records),
        "measurements": {mid: {"setup": m.get("setup"), "environment": m.get("environment"),
                               "input_shape": m.get("input_shape"), "backbone": m.get("backbone"),
                               "architectures": len(m.get("architectures") or {}),
                               "failed": {a: e.get("error") for a, e in (m.get("architectures") or {}).items()
                                          if e.get("status") == "failed"},
                               "status": m.get("status", "ok"), "error": m.get("error")}
                         for mid, m in sorted(measurements.items())},
        "skipped": skipped,
        "tuned_studies": tuned,
        "n_records": len(records),
        "n_measurements": len(measurements),
    }
    atomic_write_json(Path(meta_json) if meta_json else sibling(out_parquet, "_meta", ".json"), meta)
    return df


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
        return _typed(df[COLUMNS + [c for c in df.columns if c not in COLUMNS]])
    return pd.read_parquet(path)


def read_curves(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def summary_paths(out_parquet: str | os.PathLike) -> dict[str, Path]:
    """Every file :func:`aggregate` writes for a given ``out_parquet`` (for Snakemake outputs)."""
    return {
        "parquet": Path(out_parquet),
        "curves_parquet": sibling(out_parquet, "_curves", ".parquet"),
        "curves_csv": sibling(out_parquet, "_curves", ".csv"),
        "meta": sibling(out_parquet, "_meta", ".json"),
    }


__all__ = ["aggregate", "build_tables", "load_records", "load_measurements", "load_plan", "read_summary",
           "read_curves", "read_meta", "summary_paths", "unit_of", "COLUMNS", "CURVE_COLUMNS",
           "THROUGHPUT_FIELDS", "AggregateWarning", "expand_paths"]
