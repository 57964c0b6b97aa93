"""Run records + measurement files + the plan -> one tidy (long-form) table.

``aggregate(run_paths, measure_paths, plan_path, out_parquet, out_csv)`` writes

``<out_parquet>`` / ``<out_csv>`` (e.g. ``results/summary.parquet`` / ``.csv``)
    One row per (study, run, metric). Columns, in order: :data:`COLUMNS`, then the ``param_<name>`` ones.

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
    * ``source``: ``run`` for the record's own metrics, ``measure`` for its measure job's: the
      architecture's counts and, per ``implementation`` (``eager``/``compile``) and mode,
      ``{mode}_images_per_s``, ``{mode}_rel_none`` (the ratio to the plain backbone timed in the same
      rounds) with their 95% CIs and ``peak_memory_{mode}_mb``. These are joined onto every seed's run
      (the same value for all seeds of an architecture), so a per-variant mean is the measured value;
      the record's own counts win when it has them.
    * ``k_per_stage``: the resolved per-stage kernel sizes of ECA (``"3,5,5,7"``), ``""`` when the
      record does not resolve any.
    * ``param_<name>``, after the fixed columns: one column per parameter of any run's spec (every
      parameter, defaults included, of any variant, a plugin's own too: ``param_k``, ``param_gamma``,
      ``param_r``, ``param_e_lambda``; plan ``params`` first, then the record's attention config),
      missing (``isna()``) for a run whose variant has no such parameter. Typed per column: booleans
      ``boolean``, numbers ``Int64`` (all integral) or ``float64``, anything else ``str`` with per-stage
      lists as ``"3,5,5"`` (:func:`~ecabench.aggregate.columns.typed_param`).
    * ``aliases``: other specs with the same architecture (the spec the run was recorded under, if
      different, then the plan's ``aliases``; ``"; "``-separated).
    * ``error``: the record's error message for diverged/failed runs.
    * ``device``: the training device from the record's environment.

``<stem>_curves.parquet`` / ``<stem>_curves.csv`` next to ``out_parquet`` (e.g. ``summary_curves``)
    The per-epoch curves: run_id, backbone, dataset, variant, spec, spec_id, seed, status, epoch,
    metric, value - one row per (run, epoch, metric); a run shared by several studies appears once.

``<stem>_meta.json`` next to ``out_parquet``
    The distinct training environments (with run counts), the measurement setup and status of every
    measurement file, and the files skipped with the reason; the report states them. With a
    ``quarantine`` folder, ``skipped`` also names every file set aside there (damaged, moved away and
    computed again: :mod:`ecabench.integrity`), and ``quarantined`` lists them as ``{file, reason, moved_to}``.

Every file is written atomically (temp file in the same folder, then ``os.replace``). An unreadable or
invalid record or measurement file (schema or checksum: :mod:`ecabench.integrity.checks`) is skipped
with a ``UserWarning`` naming the file, and set aside into ``quarantine`` when one is given.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ecabench.aggregate.columns import (
    COLUMNS,
    CURVE_COLUMNS,
    PARAM_PREFIX,
    THROUGHPUT_FIELDS,
    param_columns,
    param_text,
    unit_of,
)
from ecabench.aggregate.io import (
    AggregateWarning,
    expand_paths,
    load_measurements,
    load_records,
    read_curves,
    read_meta,
    read_summary,
    sibling,
    write_table,
)
from ecabench.aggregate.tables import _environment_summary, build_tables
from ecabench.aggregate.tuned import merge_tuned_studies
from ecabench.integrity.quarantine import quarantined
from ecabench.plan.precision import restrict_plan
from ecabench.plan.reader import load_plan
from ecabench.util import atomic_write_json


def aggregate(run_paths: Any, measure_paths: Any, plan_path: Any, out_parquet: str | os.PathLike,
              out_csv: str | os.PathLike | None = None, *, curves_parquet: str | os.PathLike | None = None,
              curves_csv: str | os.PathLike | None = None, meta_json: str | os.PathLike | None = None,
              tune_summaries: Any = None, precision: Any = None,
              quarantine: str | os.PathLike | None = None) -> pd.DataFrame:
    """Aggregate records and measurements into the tidy table (see the module docstring) and return it.

    ``run_paths``/``measure_paths``: files, folders (``*.json`` inside) or glob patterns. ``plan_path``:
    ``results/plan.json`` (or None: every record in study ``"all"``). Curves and meta default to
    ``<stem>_curves.parquet``/``.csv`` and ``<stem>_meta.json`` next to ``out_parquet``.
    ``tune_summaries``: tuning studies' ``summary.json`` files (``rules/tune.smk``); each becomes one
    more study of the table, holding its variants' best settings evaluated on the test split
    (:func:`merge_tuned_studies`), listed under ``tuned_studies`` in the meta file.
    ``precision``: the decisions of the workflow's ``precision`` checkpoints (JSON files): each such
    study keeps the seeds its decision chose (:func:`ecabench.plan.precision.restrict_plan`); the decisions
    are copied to the meta file under ``precision``.
    ``quarantine``: the workflow's ``results/quarantine``: a damaged file read here is moved there, and
    every file set aside there (now or by an earlier sweep) is named in the meta file's ``skipped``.
    """
    skipped: list[dict] = []
    records = load_records(run_paths, skipped, quarantine=quarantine)
    measurements = load_measurements(measure_paths, skipped, quarantine=quarantine)
    aside = quarantined(quarantine) if quarantine is not None else []
    notes = _set_aside_notes(aside, skipped)
    decisions = [json.loads(Path(p).read_text()) for p in expand_paths(precision or [])]
    plan = restrict_plan(load_plan(plan_path), decisions)
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
        "skipped": skipped + notes,
        "quarantined": aside,
        "tuned_studies": tuned,
        "precision": {d["study"]: d for d in decisions},
        "n_records": len(records),
        "n_measurements": len(measurements),
    }
    atomic_write_json(Path(meta_json) if meta_json else sibling(out_parquet, "_meta", ".json"), meta)
    return df


def _set_aside_notes(aside: list[dict], skipped: list[dict]) -> list[dict]:
    """Files set aside earlier (not by this call, whose ``skipped`` already names them), as notes the report
    lists with the skipped files: where each was, why, and whether it has been computed again."""
    noted = {s["file"] for s in skipped}
    return [{"file": q["file"], "reason": f"damaged, set aside as {q['moved_to']} ({q['reason']}); "
             + ("computed again" if Path(q["file"]).exists() else "not computed again yet")}
            for q in aside if q["file"] not in noted]


__all__ = ["aggregate", "build_tables", "load_records", "load_measurements", "load_plan", "read_summary",
           "read_curves", "read_meta", "sibling", "unit_of", "write_table", "COLUMNS", "CURVE_COLUMNS",
           "THROUGHPUT_FIELDS", "AggregateWarning", "expand_paths", "merge_tuned_studies", "PARAM_PREFIX",
           "param_columns", "param_text"]
