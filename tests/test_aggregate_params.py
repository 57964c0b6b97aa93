"""Variant parameters as data: every parameter of a run's spec, a plugin's own included, reaches the tidy
table (``param_<name>``) and the report's variants table (its columns and the "Parameters" column)."""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ecabench import aggregate as agg
from ecabench import registry
from ecabench.records import validate
from ecabench.report import build_report
from ecabench.specs import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"none": 90.0, "eca": 90.4, "se": 90.1, "simam": 90.2, "simam(e_lambda=0.001)": 90.3}
RESOLVED = {"eca": [3, 3, 3]}


def _record(spec_text: str, seed: int) -> dict:
    """A run record as the experiment writes it: the spec's full mapping under ``config.attention``."""
    spec = parse_spec(spec_text)
    top1 = SPECS[spec_text] + 0.1 * seed
    rec = {
        "schema_version": 1, "run_id": hashlib.sha256(f"{spec.id}|{seed}".encode()).hexdigest()[:16],
        "status": "ok", "error": None,
        "config": {"backbone": "cifar_resnet20", "attention": spec.to_dict(), "model": {},
                   "dataset": {"name": "fashion-mnist", "root": "data"},
                   "train": {"epochs": 1, "batch_size": 128, "lr": 0.1}, "seed": seed},
        "spec": str(spec), "spec_id": spec.id, "architecture_id": f"arch-{spec.id}",
        "resolved": {"k": RESOLVED[spec_text]} if spec_text in RESOLVED else {},
        "metrics": {"test_top1_pct": top1, "params_total": 1000.0}, "curves": [],
        "timings": {"started_at": "2024-01-01T00:00:00Z", "finished_at": "2024-01-01T00:00:01Z", "total_time_s": 1.0},
        "environment": {"python": "3.11", "torch": "2.4", "device": "cpu"},
    }
    validate(rec)
    return rec


@pytest.fixture
def built(tmp_path, clean_plugins):
    registry.discover([ROOT / "ablations" / "plugins"])  # the example plugin, SimAM (parameter e_lambda)
    assert parse_spec("simam(e_lambda=0.001)").to_dict() == {"name": "simam", "e_lambda": 0.001}
    runs = tmp_path / "runs"
    runs.mkdir()
    for spec in SPECS:
        for seed in (0, 1, 2):
            (runs / f"{parse_spec(spec).id}-{seed}.json").write_text(json.dumps(_record(spec, seed)))
    summary = tmp_path / "summary.parquet"
    df = agg.aggregate(runs, [], None, summary, tmp_path / "summary.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = build_report(summary, None, tmp_path / "reports", paper_comparison=False,
                             reference_csv=tmp_path / "absent.csv")
    return {"df": df, "csv": tmp_path / "summary.csv", "index": index, "tables": tmp_path / "reports" / "tables"}


def test_a_plugin_parameter_is_a_column_of_the_tidy_table(built):
    df = built["df"]
    assert agg.param_columns(df.columns) == ["param_k", "param_gamma", "param_b", "param_odd", "param_r",
                                             "param_e_lambda"]
    runs = df.drop_duplicates("run_id").set_index("spec")
    assert runs.loc["simam(e_lambda=0.001)", "param_e_lambda"].unique().tolist() == [0.001]
    assert runs.loc["simam", "param_e_lambda"].unique().tolist() == [1e-4]  # the default, too
    assert df["param_e_lambda"].dtype == "float64" and runs.loc[["none", "eca", "se"], "param_e_lambda"].isna().all()
    assert runs.loc["se", "param_r"].unique().tolist() == [16] and df["param_r"].dtype == "Int64"
    back = agg.read_summary(built["csv"])  # the CSV reads back with the same columns and values
    pd.testing.assert_series_equal(back["param_e_lambda"], df["param_e_lambda"])


def test_eca_columns_and_values_are_unchanged(built):
    eca = built["df"].drop_duplicates("run_id").set_index("spec").loc["eca"].iloc[0]
    assert eca["k_per_stage"] == "3,3,3" and eca["param_k"] == "adaptive"
    assert (eca["param_gamma"], eca["param_b"], bool(eca["param_odd"])) == (2, 1, True)
    assert built["df"]["param_k"].dtype == "str" and built["df"]["param_odd"].dtype == "boolean"


def test_the_variants_table_shows_the_plugin_parameter(built):
    vt = pd.read_csv(built["tables"] / "all__variants.csv", keep_default_na=False, na_values=[""]).set_index("spec")
    assert vt.loc["simam(e_lambda=0.001)", "param_e_lambda"] == pytest.approx(0.001)
    assert vt.loc["simam(e_lambda=0.001)", "parameters"] == "e_lambda=0.001"
    assert vt.loc["simam", "parameters"] == "e_lambda=0.0001"
    assert vt.loc["eca", "parameters"] == "k=adaptive, gamma=2, b=1, odd=true" and vt.loc["eca", "param_gamma"] == 2
    assert vt.loc["eca", "k_per_stage"] == "3,3,3" and vt.loc["se", "parameters"] == "r=16"
    assert pd.isna(vt.loc["none", "parameters"]) and pd.isna(vt.loc["eca", "param_e_lambda"])
    html = built["index"].read_text()
    assert "Parameters" in html and "e_lambda=0.0001" in html  # the default only the Parameters column shows
