"""Aggregation and report on synthetic run records with known numbers (no training, no models)."""
from __future__ import annotations

import hashlib
import json
import math
import re
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ecabench import aggregate as agg
from ecabench.records import validate
from ecabench.report import build_report, figure_paths, report_paths

SEEDS = (0, 1, 2)
NOISE = {0: 0.0, 1: 0.4, 2: -0.2}  # per-seed offset shared by all variants (paired design)
# variant-specific noise on top: eca(k=1)'s deficit is inside the noise, eca(k=5)'s gain is not
JITTER = {"eca(k=1)": {0: 0.3, 1: -0.3, 2: 0.1}, "eca(k=5)": {0: 0.05, 1: -0.05, 2: 0.0}}
BACKBONE, DATASET = "cifar_resnet20", "fashion-mnist"
BASE_PARAMS = 272_474
ECA_STAGE_CHANNELS = (16, 32, 64)


def _rid(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _adaptive_k(c, gamma=2, b=1, odd=True):
    t = int(abs((math.log2(c) + b) / gamma))
    if odd and t % 2 == 0:
        t += 1
    return max(t, 1)


# spec -> (spec_id, attention config, top-1 mean, resolved k per stage or None, attention params)
def _variants():
    v = {
        "none": ("none", {"name": "none"}, 90.0, None, 0),
        "eca": ("eca", {"name": "eca", "k": "adaptive", "gamma": 2, "b": 1, "odd": True}, 90.2, [3, 3, 3], 27),
        "se": ("se", {"name": "se", "r": 16}, 90.0, None, 3_000),
        "cbam": ("cbam", {"name": "cbam", "r": 16}, 91.5, None, 3_500),
        "eca(odd=false)": ("eca-even", {"name": "eca", "k": "adaptive", "gamma": 2, "b": 1, "odd": False}, 89.9,
                           [2, 3, 3], 24),
    }
    for k, acc in ((1, 89.5), (3, 90.2), (5, 90.6), (7, 90.4)):
        v[f"eca(k={k})"] = (f"eca-k{k}", {"name": "eca", "k": k, "gamma": 2, "b": 1, "odd": True}, acc, [k] * 3, 9 * k)
    for g in (1, 2, 3):
        for b in (0, 1):
            if (g, b) == (2, 1):
                continue
            ks = [_adaptive_k(c, g, b) for c in ECA_STAGE_CHANNELS]
            att = {"name": "eca", "k": "adaptive", "gamma": g, "b": b, "odd": True}
            v[f"eca(gamma={g},b={b})"] = (f"eca-g{g}-b{b}", att, 90.0 + 0.1 * g - 0.05 * b, ks, 9 * sum(ks))
    return v


VARIANTS = _variants()
# name -> (title, kind, specs as the study lists them); kinds as the workflow writes them (one with "eca_")
STUDIES = {
    "eca_kernel": ("ECA kernel size", "kernel", ["none", "eca", "eca(k=1)", "eca(k=3)", "eca(k=5)", "eca(k=7)"]),
    "eca_gamma_b": ("ECA γ×b grid", "gamma_b", ["none", "eca"] + [s for s in VARIANTS if "gamma" in s]),
    "eca_odd_rule": ("ECA odd rule", "eca_odd_rule", ["none", "eca", "eca(odd=false)"]),
    "attention_zoo": ("Attention zoo", "zoo", ["none", "eca", "se", "cbam"]),
}
FAILED = ("cbam", 2)     # this run failed
DIVERGED = ("eca(k=7)", 1)  # this one diverged
MISSING = ("se", 2)       # planned, no record
SHAPE = "1x28x28"


def _arch(spec):
    """Same resolved k -> same architecture: eca = eca(k=3) = eca(gamma=2,b=0) on ResNet-20."""
    ks = VARIANTS[spec][3]
    return _rid("arch", "eca", *ks) if ks else _rid("arch", spec)


def _all_specs():
    return list(dict.fromkeys(s for _, _, specs in STUDIES.values() for s in specs))


def _chosen(spec):
    """The spec a deduplicated run is recorded under (fewest parameters, as the workflow picks)."""
    same = [s for s in _all_specs() if _arch(s) == _arch(spec)]
    return min(same, key=lambda s: (len(s), s))


def _record(spec, seed):
    spec_id, att, acc, ks, att_params = VARIANTS[spec]
    config = {"backbone": BACKBONE, "attention": att, "model": {}, "dataset": {"name": DATASET, "root": "data"},
              "train": {"epochs": 3, "batch_size": 128, "lr": 0.1}, "seed": seed}
    status, error = "ok", None
    top1 = acc + NOISE[seed] + JITTER.get(spec, {}).get(seed, 0.0)
    if spec == "se":
        top1 = 90.0 + NOISE[seed]  # identical to the baseline on every seed: an exact tie
    metrics = {"test_top1_pct": top1, "test_top5_pct": 99.5, "test_loss": 0.3, "val_top1_pct": top1 - 0.1,
               "val_top5_pct": 99.4, "val_loss": 0.31, "params_total": BASE_PARAMS + att_params,
               "params_attention": att_params, "macs": 40_800_000 + 10 * att_params,
               "elementwise_flops": 500_000 + att_params}
    curves = [{"epoch": e, "lr": 0.1, "train_loss": 1.0 / e, "train_top1_pct": 80 + e, "val_loss": 1.1 / e,
               "val_top1_pct": top1 - 3 + e, "val_top5_pct": 99.0, "epoch_time_s": 2.0, "train_images_per_s": 500.0}
              for e in (1, 2, 3)]
    if (spec, seed) == FAILED:
        status, error = "failed", "RuntimeError: synthetic out-of-memory"
        metrics = {k: None for k in ("test_top1_pct", "test_top5_pct", "test_loss")}
        curves = []
    if (spec, seed) == DIVERGED:
        status, error = "diverged", "loss became NaN at epoch 2"
        metrics.update(test_top1_pct=10.0)
        curves = curves[:1]
    rec = {
        "schema_version": 1, "run_id": _rid(spec, seed), "status": status, "error": error, "config": config,
        "spec": spec, "spec_id": spec_id, "architecture_id": _arch(spec),
        "resolved": {"k": ks} if ks else {}, "metrics": metrics, "curves": curves,
        "timings": {"started_at": "2024-01-01T00:00:00Z", "finished_at": "2024-01-01T00:01:00Z", "total_time_s": 60.0},
        "environment": {"python": "3.11.9", "torch": "2.4.0", "device": "cpu", "cpu_model": "Synthetic CPU",
                        "cpu_capability": "AVX512" if seed == 2 else "AVX2",  # two kernel sets: two rows
                        "git_commit": "0123456789abcdef", "git_dirty": False},
    }
    validate(rec)
    return rec


MEASURE_ID = f"{'f' * 16}_{SHAPE}"


def _measurement_group(specs):
    """One measure job's file: every architecture's counts and its interleaved throughput rows."""
    archs, rows = {}, []
    for spec in specs:
        _, _, _, _, att_params = VARIANTS[spec]
        archs[_arch(spec)] = {"spec": spec, "spec_id": VARIANTS[spec][0], "status": "ok", "error": None,
                              "metrics": {"params_total": BASE_PARAMS + att_params, "params_attention": att_params,
                                          "macs": 40_800_000, "elementwise_flops": 500_000}}
        images = 5000.0 - att_params / 10
        rel = images / 5000.0
        rows.append({"architecture_id": _arch(spec), "implementation": "eager", "mode": "inference",
                     "images_per_s": images, "images_per_s_ci_low": images - 100,
                     "images_per_s_ci_high": images + 100, "rel": rel, "rel_ci_low": rel - 0.01,
                     "rel_ci_high": min(rel + 0.01, 1.0) if spec != "none" else 1.0, "peak_memory_mb": None,
                     "rel_samples": [rel, rel], "images_per_s_samples": [1.0, 2.0]})
    return {"measure_id": MEASURE_ID, "backbone": BACKBONE, "input_shape": [1, 28, 28], "reference": _arch("none"),
            "architectures": archs, "throughput": rows, "status": "ok", "error": None,
            "setup": {"device": "cpu", "device_name": "Synthetic CPU", "batch_size": 64, "dtype": "float32",
                      "memory_format": "contiguous", "threads": 2, "rounds": 15, "implementations": ["eager"],
                      "modes": ["inference"], "timer": "time.perf_counter"},
            "environment": {"python": "3.11.9"}}


def make_fixture(root: Path) -> dict:
    """Synthetic records, measurement files (+ a corrupt and an invalid record) and a plan shaped like
    ecabench.plan's: deduplicated runs (one label per architecture in a study, others as aliases),
    per-study ``variants`` with ``same_as``, ``measure_id`` = <architecture>_<input size>."""
    runs_dir, meas_dir = root / "results" / "runs", root / "results" / "measure"
    runs_dir.mkdir(parents=True)
    meas_dir.mkdir(parents=True)
    studies = {}
    written = set()
    for name, (title, kind, specs) in STUDIES.items():
        plan_runs, variants, labels = [], [], {}
        for spec in specs:  # the study's label for an architecture: its first spec with that architecture
            labels.setdefault(_arch(spec), spec)
        for spec in specs:
            spec_id, att, _, ks, _ = VARIANTS[spec]
            label, chosen = labels[_arch(spec)], _chosen(spec)
            params = {k: v for k, v in att.items() if k != "name"}
            variants.append({"spec": spec, "spec_id": spec_id, "params": params, "backbone": BACKBONE,
                             "dataset": DATASET, "architecture_id": _arch(spec), "k_per_stage": ks,
                             "same_as": None if spec == label else label,
                             "run_ids": [_rid(chosen, seed) for seed in SEEDS]})
            if spec != label:
                continue
            aliases = [s for s in _all_specs() if _arch(s) == _arch(spec) and s != spec]
            for seed in SEEDS:
                rid = _rid(chosen, seed)
                plan_runs.append({"run_id": rid, "spec": spec, "spec_id": spec_id, "run_spec": chosen,
                                  "variant": att["name"], "params": params, "backbone": BACKBONE,
                                  "dataset": DATASET, "seed": seed, "architecture_id": _arch(spec),
                                  "k_per_stage": ks, "aliases": aliases, "measure_id": MEASURE_ID})
                if (chosen, seed) != MISSING and rid not in written:
                    (runs_dir / f"{rid}.json").write_text(json.dumps(_record(chosen, seed)))
                    written.add(rid)
        studies[name] = {"name": name, "title": title, "description": f"Synthetic {title} study.", "kind": kind,
                         "baseline": "none", "specs": specs, "variants": variants, "runs": plan_runs}
    chosen_specs = list(dict.fromkeys(_chosen(s) for _, _, specs in STUDIES.values() for s in specs))
    (meas_dir / f"{MEASURE_ID}.json").write_text(json.dumps(_measurement_group(chosen_specs)))
    (runs_dir / "corrupt.json").write_text("{not json")
    bad = _record("none", 0)
    bad["status"] = "exploded"
    (runs_dir / "invalid.json").write_text(json.dumps(bad))
    (meas_dir / "broken.json").write_text("[]")
    plan = root / "results" / "plan.json"
    plan.write_text(json.dumps({"version": 1, "studies": studies, "config": {"seeds": list(SEEDS), "epochs": 3}}))
    return {"runs": runs_dir, "measure": meas_dir, "plan": plan, "summary": root / "results" / "summary.parquet",
            "csv": root / "results" / "summary.csv", "n_records": len(written), "studies": studies}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    paths = make_fixture(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = agg.aggregate(paths["runs"], paths["measure"], paths["plan"], paths["summary"], paths["csv"])
    paths["df"] = df
    paths["warnings"] = [str(w.message) for w in caught]
    paths["root"] = root
    return paths


@pytest.fixture(scope="module")
def report(fixture):
    out = fixture["root"] / "reports"
    t0 = time.perf_counter()
    index = build_report(fixture["summary"], fixture["plan"], out, config={"seeds": [0, 1, 2], "note": "synthetic"},
                         reference_csv=fixture["root"] / "no-such.csv", paper_comparison=False)
    return {"index": index, "out": out, "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------ aggregate
def test_aggregate_one_row_per_study_run_metric(fixture):
    df = fixture["df"]
    # the fixed columns, then every parameter of the studies' specs (ECA's, SE's, CBAM's), first seen first
    assert list(df.columns) == agg.COLUMNS + ["param_k", "param_gamma", "param_b", "param_odd", "param_r"]
    assert not df.duplicated(["study", "run_id", "metric"]).any()
    # every planned run of every study is there, including the one without a record
    for name, study in fixture["studies"].items():
        got = set(df.loc[df["study"] == name, "run_id"])
        assert got == {r["run_id"] for r in study["runs"]}
    # a deduplicated run carries the study's label: eca(gamma=2,b=0) = eca, listed as an alias
    gb = df[(df["study"] == "eca_gamma_b")]
    assert "eca(gamma=2,b=0)" not in set(gb["spec"])
    assert "eca(gamma=2,b=0)" in gb.loc[gb["spec"] == "eca", "aliases"].iloc[0]
    ok = df[(df["study"] == "attention_zoo") & (df["run_id"] == _rid("eca", 1))].set_index("metric")
    assert ok.loc["test_top1_pct", "value"] == pytest.approx(90.6)
    assert ok.loc["test_top1_pct", "unit"] == "pct"
    assert ok.loc["params_total", "unit"] == "count" and ok.loc["params_total", "value"] == BASE_PARAMS + 27
    assert ok.loc["inference_images_per_s", "source"] == "measure"
    assert ok.loc["inference_images_per_s", "unit"] == "images_per_s"
    assert ok.loc["inference_rel_none", "unit"] == "ratio" and ok.loc["total_time_s", "unit"] == "s"
    assert ok.loc["inference_rel_none", "implementation"] == "eager" and ok.loc["test_top1_pct", "implementation"] == ""
    assert ok.loc["test_loss", "unit"] == "nat"
    assert ok.loc["epochs_completed", "value"] == 3
    assert "inference_images_per_s_samples" not in ok.index  # lists are not metrics
    assert math.isnan(ok.loc["peak_memory_inference_mb", "value"])      # null (CPU) -> NaN, still a row
    row = ok.iloc[0]
    assert (row["backbone"], row["dataset"], row["variant"], row["spec"], row["spec_id"]) == (
        BACKBONE, DATASET, "eca", "eca", "eca")
    assert row["k_per_stage"] == "3,3,3" and row["param_k"] == "adaptive" and row["seed"] == 1
    assert row["param_gamma"] == 2 and row["param_b"] == 1 and bool(row["param_odd"]) is True
    assert pd.isna(row["param_r"])  # ECA has no r: missing, not 0 or ""
    assert row["aliases"] == "eca(k=3); eca(gamma=2,b=0)" and row["device"] == "cpu"
    # measured throughput is the same on every seed of one architecture
    thr = df[(df["study"] == "attention_zoo") & (df["spec"] == "eca") & (df["metric"] == "inference_images_per_s")]
    assert len(thr) == 3 and thr["value"].nunique() == 1


def test_aggregate_status_and_missing(fixture):
    df = fixture["df"]
    runs = df.drop_duplicates(["study", "run_id"]).set_index(["study", "run_id"])
    assert runs.loc[("attention_zoo", _rid(*FAILED)), "status"] == "failed"
    assert "out-of-memory" in runs.loc[("attention_zoo", _rid(*FAILED)), "error"]
    assert runs.loc[("eca_kernel", _rid(*DIVERGED)), "status"] == "diverged"
    missing = df[(df["run_id"] == _rid(*MISSING))].set_index("metric")
    assert set(missing["status"]) == {"missing"} and math.isnan(missing.loc["test_top1_pct", "value"])
    # the architecture's measurement is known before the run finishes
    assert missing.loc["params_attention", "value"] == 3_000 and missing.loc["inference_images_per_s", "value"] > 0
    assert any("missing" in w for w in fixture["warnings"])


def test_aggregate_bad_files_warn_and_are_skipped(fixture):
    msgs = fixture["warnings"]
    assert any("corrupt.json" in m for m in msgs)
    assert any("invalid.json" in m and "status" in m for m in msgs)
    assert any("broken.json" in m for m in msgs)
    meta = agg.read_meta(fixture["summary"])
    assert {Path(s["file"]).name for s in meta["skipped"]} == {"corrupt.json", "invalid.json", "broken.json"}
    assert meta["n_records"] == fixture["n_records"]
    assert meta["environments"][0]["cpu_model"] == "Synthetic CPU"
    # runs under different CPU kernel sets (which change the numbers) are told apart
    assert {e["cpu_capability"] for e in meta["environments"]} == {"AVX2", "AVX512"}


def test_aggregate_outputs_written_atomically(fixture):
    out = fixture["summary"].parent
    assert fixture["summary"].exists() and fixture["csv"].exists()
    assert not list(out.glob(".*.tmp"))
    back = agg.read_summary(fixture["summary"])
    pd.testing.assert_frame_equal(back, fixture["df"], check_dtype=False)
    csv = agg.read_summary(fixture["csv"])
    assert len(csv) == len(fixture["df"]) and list(csv.columns) == list(fixture["df"].columns)
    for col in agg.param_columns(csv.columns):  # a parameter column reads back with its type and values
        assert csv[col].dtype == fixture["df"][col].dtype, col
        pd.testing.assert_series_equal(csv[col], fixture["df"][col], check_names=False)
    curves = agg.read_curves(out / "summary_curves.parquet")
    assert (out / "summary_curves.csv").exists()
    assert list(curves.columns) == agg.CURVE_COLUMNS
    assert not curves.duplicated(["run_id", "epoch", "metric"]).any()
    one = curves[(curves["run_id"] == _rid("none", 0)) & (curves["metric"] == "val_top1_pct")]
    assert list(one["epoch"]) == [1, 2, 3]


def test_aggregate_without_plan_puts_everything_in_one_study(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed in SEEDS:
        (runs / f"{seed}.json").write_text(json.dumps(_record("none", seed)))
    df = agg.aggregate(runs, [], None, tmp_path / "s.parquet", tmp_path / "s.csv")
    assert set(df["study"]) == {"all"} and df["run_id"].nunique() == 3
    assert (df["source"] == "run").all()


# --------------------------------------------------------------------------------------- report
def test_report_sections_variants_and_files(fixture, report):
    html = report["index"].read_text()
    out = report["out"]
    assert report["index"] == out / "index.html" and (out / "index.md").exists()
    for name, (title, _, _specs) in STUDIES.items():
        assert f"id='study-{name}'" in html, name
        assert title in html
        for v in fixture["studies"][name]["variants"]:
            if v["same_as"] is None:
                assert f"<td>{v['spec']}</td>" in html, (name, v["spec"])
            else:  # an alias is named in its label's "same architecture as" cell
                assert v["spec"] in html, (name, v["spec"])
        for ext in ("csv", "tex", "md", "html"):
            assert (out / "tables" / f"{name}__variants.{ext}").exists()
    for p in figure_paths(fixture["plan"], out):
        assert p.exists() and p.stat().st_size > 0, p
    kinds = {p.name.split("__")[1].split(".")[0] for p in figure_paths(fixture["plan"], out)}
    assert kinds == {"accuracy_vs_cost", "accuracy_vs_k", "gamma_b_heatmap", "odd_vs_even", "training_curves"}
    assert not (out / "figures" / "attention_zoo__gamma_b_heatmap.png").exists()  # only where its study exists
    assert (out / "tables" / "eca_odd_rule__odd_even.csv").exists()
    for p in report_paths(fixture["plan"], out)["tables"]:
        if "paper_comparison" not in p.name:
            assert p.exists(), p


def test_report_is_self_contained(report):
    html = report["index"].read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"<img[^>]+src='(?!data:)", html)
    assert "<link" not in html and "<script src" not in html


def test_report_marks_failed_and_noise(report):
    html = report["index"].read_text()
    assert "FAILED" in html and "DIVERGED" in html and "MISSING" in html
    assert "synthetic out-of-memory" in html
    assert "inside the noise" in html
    # se is identical to none on every seed: a tie, said in prose
    assert "se vs none: Δ top-1 = +0.00" in html
    assert "eca(k=1) vs none" in html and "inside the noise: the interval includes zero" in html
    zoo = pd.read_csv(report["out"] / "tables" / "attention_zoo__variants.csv")
    se = zoo[zoo["spec"] == "se"].iloc[0]
    assert se["verdict"] == "inside the noise" and se["p_value"] == 1.0 and se["missing"] == 1 and se["n"] == 2
    cbam = zoo[zoo["spec"] == "cbam"].iloc[0]
    assert cbam["failed"] == 1 and cbam["n"] == 2 and cbam["verdict"] == "better"
    assert cbam["delta_top1"] == pytest.approx(1.5)


def test_report_table_numbers(report):
    k = pd.read_csv(report["out"] / "tables" / "eca_kernel__variants.csv")
    assert list(k["spec"])[0] == "none" and bool(k["is_baseline"].iloc[0])
    def top1(spec):
        return pd.Series({seed: _record(spec, seed)["metrics"]["test_top1_pct"] for seed in SEEDS})

    from scipy import stats as st

    eca5 = k[k["spec"] == "eca(k=5)"].iloc[0]
    assert eca5["top1_mean"] == pytest.approx(top1("eca(k=5)").mean())
    assert eca5["top1_std"] == pytest.approx(top1("eca(k=5)").std())
    assert eca5["delta_top1"] == pytest.approx(0.6) and eca5["verdict"] == "better"
    assert eca5["p_value"] == pytest.approx(st.ttest_rel(top1("eca(k=5)"), top1("none")).pvalue)
    eca1 = k[k["spec"] == "eca(k=1)"].iloc[0]
    assert eca1["delta_top1"] == pytest.approx((top1("eca(k=1)") - top1("none")).mean())
    assert eca1["delta_ci_low"] < 0 < eca1["delta_ci_high"] and eca1["verdict"] == "inside the noise"
    assert eca5["k_per_stage"] == "5,5,5" and eca5["params_attention"] == 45
    assert eca5["throughput_rel_baseline"] == pytest.approx((5000 - 4.5) / 5000)
    eca7 = k[k["spec"] == "eca(k=7)"].iloc[0]
    assert eca7["diverged"] == 1 and eca7["n"] == 2
    eca = k[k["spec"] == "eca"].iloc[0]
    assert "eca(k=3)" in eca["same_architecture_as"]
    tex = (report["out"] / "tables" / "eca_kernel__variants.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex
    md = (report["out"] / "index.md").read_text()
    assert "## ECA kernel size" in md and "figures/eca_kernel__accuracy_vs_k.png" in md


def test_report_paper_section_without_reference(report):
    html = report["index"].read_text()
    assert "reference table was not found" in html


def test_report_states_environment_and_config(report):
    html = report["index"].read_text()
    assert "Synthetic CPU" in html and "0123456789ab" in html and "2.4.0" in html
    assert "CPU kernels" in html and "AVX512" in html and "AVX2" in html
    assert "note: synthetic" in html


def test_paper_reference_without_suite_counts(fixture, tmp_path):
    ref = tmp_path / "table3.csv"
    ref.write_text("backbone,method,params_paper,params_unit,flops_paper,flops_unit,train_fps,infer_fps,top1,top5\n"
                   "resnet50,baseline,24.37,M,3.86,G,1024,1855,75.20,92.52\n")
    from ecabench.report import paper

    pc = paper.paper_comparison(ref)
    row = pc["raw"].iloc[0]
    assert row["paper_params_1e6"] == pytest.approx(24.37 * 2**20 / 1e6)
    assert row["paper_flops_1e9"] == pytest.approx(3.86 * 2**30 / 1e9)
    assert math.isnan(row["suite_params_1e6"]) and "not computed" in pc["message"]


@pytest.mark.slow
def test_paper_counts_job_writes_the_counts_the_report_reads(tmp_path, monkeypatch):
    """The workflow's paper_counts job builds the ImageNet models once; the comparison only reads them."""
    # a subset of Table 3 keeps this test to a few models (the full table builds ~15, ResNet-152 included)
    ref = tmp_path / "table3.csv"
    ref.write_text("backbone,method,params_paper,params_unit,flops_paper,flops_unit,train_fps,infer_fps,top1,top5\n"
                   "resnet50,baseline,24.37,M,3.86,G,1024,1855,75.20,92.52\n"
                   "resnet50,eca,24.37,M,3.86,G,785,1805,77.48,93.68\n"
                   "mobilenet_v2,se,3.40,M,320.1,M,671,2000,72.42,90.67\n")
    from ecabench import reference
    from ecabench.reference import counts as suite
    from ecabench.report import paper

    out = tmp_path / "paper_counts.json"
    counts = suite.write_suite_counts(out, ref)
    assert reference.read_suite_counts(out) == json.loads(json.dumps(counts))
    monkeypatch.setattr(suite, "count_model", lambda *a: pytest.fail("the comparison must not build models"))
    pc = paper.paper_comparison(ref, counts=reference.read_suite_counts(out))
    raw = pc["raw"].set_index(["backbone", "suite_spec"])
    assert raw.loc[("resnet50", "none"), "suite_params_exact"] == 25_557_032
    assert raw.loc[("resnet50", "eca"), "suite_params_exact"] == 25_557_118
    assert raw.loc[("resnet50", "eca(k=[3,5,5,7])"), "suite_params_exact"] == 25_557_112
    assert raw.loc[("resnet50", "none"), "suite_params_2p20"] == pytest.approx(25_557_032 / 2**20)
    assert raw.loc[("resnet50", "none"), "params_diff_pct"] == pytest.approx(0, abs=0.05)
    assert ("mobilenet_v2", "se(r=8)") in raw.index and pc["message"] == ""


def test_the_paper_table_ships_with_the_package_and_its_source_is_cited():
    from ecabench import reference

    path = reference.find_reference_csv()
    assert path == reference.packaged_reference() and path.is_file()
    assert "site-packages" in str(path) or "src/ecabench/reference" in str(path)  # never outside the checkout
    ref = reference.load_reference(path)
    r50 = ref[ref["backbone"] == "resnet50"].set_index("method")
    assert r50.loc["baseline", "params_paper"] == 24.37 and r50.loc["eca", "top1"] == 77.48
    assert set(ref["params_unit"]) == {"M"}
    readme = (path.parent / "README.md").read_text()
    assert "arXiv:1910.03151" in readme and "2^20" in readme


def test_the_paper_section_cites_the_paper_and_names_no_machine_path(tmp_path):
    from ecabench.report.sections import paper_section

    section = paper_section(tmp_path, {}, None, None, False)
    assert section["formatted"] is not None and "arXiv:1910.03151" in section["citation"]
    assert section["path"] == "ecabench/reference/eca_paper_table3.csv (shipped with ecabench)"
    given = tmp_path / "mine.csv"
    given.write_bytes(Path(__file__).parents[1].joinpath("src/ecabench/reference/eca_paper_table3.csv").read_bytes())
    assert paper_section(tmp_path, {}, given, None, False)["path"] == str(given)


def test_alias_grid_cells_get_their_label_statistics(fixture, report):
    from ecabench.analysis import variant_table as tables

    vt = pd.read_csv(report["out"] / "tables" / "eca_gamma_b__variants.csv", keep_default_na=False,
                     na_values=[""])
    grid = tables.expand_aliases(vt, fixture["studies"]["eca_gamma_b"]["variants"])
    cell = grid[grid["spec"] == "eca(gamma=2,b=0)"].iloc[0]
    eca = grid[grid["spec"] == "eca"].iloc[0]
    assert cell["alias_of"] == "eca" and cell["top1_mean"] == eca["top1_mean"]
    assert (cell["param_gamma"], cell["param_b"]) == (2.0, 0.0) and cell["k_per_stage"] == "3,3,3"
    assert cell["parameters"] == "k=adaptive, gamma=2, b=0, odd=true"
    assert len(grid) == len(vt) + 1
    kernel = tables.expand_aliases(pd.read_csv(report["out"] / "tables" / "eca_kernel__variants.csv",
                                               keep_default_na=False, na_values=[""]),
                                   fixture["studies"]["eca_kernel"]["variants"])
    assert tables.eca_rule_view(kernel).loc[kernel["spec"] == "eca(k=3)", "k_param"].iloc[0] == "3"


def test_report_before_any_run_finishes_and_without_baseline(tmp_path):
    """All runs missing: the report still builds, every declared figure exists (placeholders)."""
    paths = make_fixture(tmp_path)
    plan = json.loads(paths["plan"].read_text())
    plan["studies"] = {"attention_zoo": plan["studies"]["attention_zoo"]}
    plan["studies"]["attention_zoo"]["baseline"] = None  # explicit: no baseline, no differences
    paths["plan"].write_text(json.dumps(plan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = agg.aggregate([], paths["measure"], paths["plan"], paths["summary"], paths["csv"])
    assert set(df["status"]) == {"missing"}
    index = build_report(paths["summary"], paths["plan"], tmp_path / "reports", paper_comparison=False,
                         reference_csv=tmp_path / "absent.csv")
    html = index.read_text()
    for p in report_paths(paths["plan"], tmp_path / "reports")["figures"]:
        assert p.exists(), p
    vt = pd.read_csv(tmp_path / "reports" / "tables" / "attention_zoo__variants.csv")
    assert set(vt["verdict"]) == {"no baseline"} and not vt["is_baseline"].any()
    assert "MISSING" in html and "no completed runs yet" not in html  # the text is inside the PNG, not the page
    assert (vt["params_attention"].dropna() >= 0).all() and vt["missing"].sum() == 12


def _tuned_summary(root: Path) -> tuple[Path, dict]:
    """A tuning study's summary.json (rules/tune.smk's tune_summary) whose evaluation records exist."""
    runs = root / "results" / "runs"
    variants, run_ids = {}, {}
    for label, spec in (("none", "none"), ("eca", "eca(k=5)")):
        spec_id, att, _, ks, _ = VARIANTS[spec]
        evaluation = []
        for seed in SEEDS:
            rec = _record(spec, seed)
            rec["run_id"] = _rid("tuned", spec, seed)
            rec["config"]["train"]["lr"] = 0.0731  # the tuned recipe: a run of its own
            rec["metrics"]["test_top1_pct"] += 1.0 if label == "eca" else 0.0
            (runs / f"{rec['run_id']}.json").write_text(json.dumps(rec))
            evaluation.append({"run_id": rec["run_id"], "seed": seed, "record": str(runs / f"{rec['run_id']}.json"),
                               "status": "ok", "test_top1_pct": rec["metrics"]["test_top1_pct"]})
            run_ids.setdefault(label, []).append(rec["run_id"])
        variants[label] = {"best": {"spec": spec, "spec_id": spec_id, "attention": att, "k_per_stage": ks,
                                    "params": {"lr": 0.0731}}, "evaluation": evaluation}
    summary = {"tune": "tune_fair", "title": "Fair comparison (tuned)", "description": "Each variant tuned.",
               "fair": True, "file": "ablations/tune_fair.yaml", "variants": variants}
    path = root / "results" / "tuning" / "tune_fair" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(summary))
    return path, run_ids


def test_tuned_evaluations_join_the_tables_and_the_report(tmp_path):
    paths = make_fixture(tmp_path)
    summary, run_ids = _tuned_summary(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = agg.aggregate(paths["runs"], paths["measure"], paths["plan"], paths["summary"], paths["csv"],
                           tune_summaries=[summary])
    tuned = df[df["study"] == "tune_fair"]
    assert set(tuned["run_id"]) == {r for ids in run_ids.values() for r in ids}
    top1 = tuned[tuned["metric"] == "test_top1_pct"]
    assert len(top1) == 6 and set(top1["status"]) == {"ok"}
    assert top1.groupby("spec")["value"].mean().round(6).to_dict() == {
        "eca(k=5)": round(90.6 + 1.0 + (0.05 + 0.4 - 0.2 - 0.05) / 3, 6), "none": round(90.0 + 0.2 / 3, 6)}
    # the sweep's studies are untouched
    assert set(STUDIES) < set(df["study"]) and not (df[df["study"] != "tune_fair"]["run_id"]
                                                  .isin(tuned["run_id"]).any())
    meta = agg.read_meta(paths["summary"])
    assert meta["tuned_studies"]["tune_fair"]["tuned"] is True

    out = tmp_path / "reports"
    (out / "tuning").mkdir(parents=True)
    (out / "tuning" / "tune_fair.html").write_text("<section>optuna</section>")
    (out / "tuning" / "tune_fair.md").write_text("optuna")
    index = build_report(paths["summary"], paths["plan"], out, reference_csv=tmp_path / "no.csv",
                         paper_comparison=False)
    html, md = index.read_text(), (out / "index.md").read_text()
    assert "Fair comparison (tuned)" in html and "Fair comparison (tuned)" in md
    assert "href='tuning/tune_fair.html'" in html and "](tuning/tune_fair.md)" in md
    assert "Tuned with Optuna" in md
    assert (out / "tables" / "tune_fair__variants.csv").exists()


def test_relative_throughput_is_the_interleaved_ratio_with_its_ci():
    from ecabench.analysis import variant_table as tables
    from ecabench.report import formatting

    nan = math.nan
    gdf = pd.DataFrame({"is_baseline": [True, False, False], "variant": ["none", "eca", "se"],
                        "inference_images_per_s": [100.0, 80.0, nan], "inference_rel_none": [1.0, 0.95, nan],
                        "inference_rel_none_ci_low": [1.0, 0.93, nan], "inference_rel_none_ci_high": [1.0, 0.97, nan],
                        "train_rel_none": [nan] * 3})
    tables._relative_throughput(gdf)
    assert gdf["throughput_rel_method"].tolist() == ["interleaved", "interleaved", ""]
    assert gdf["throughput_rel_baseline"].tolist()[:2] == pytest.approx([1.0, 0.95])
    assert [formatting.fmt_rel_throughput(r) for _, r in gdf.iterrows()] == [
        "1.000× [1.000, 1.000]", "0.950× [0.930, 0.970]", "–"]
    # a baseline that is not the plain backbone: both ratios are relative to `none`, so divide
    gdf = pd.DataFrame({"is_baseline": [False, True], "variant": ["se", "eca"], "inference_images_per_s": [50.0, 60.0],
                        "inference_rel_none": [0.8, 0.9], "inference_rel_none_ci_low": [0.72, 0.9],
                        "inference_rel_none_ci_high": [0.88, 0.9], "train_rel_none": [nan, nan]})
    tables._relative_throughput(gdf)
    assert gdf["throughput_rel_baseline"].tolist() == pytest.approx([0.8 / 0.9, 1.0])
    assert gdf["throughput_rel_ci_low"].iloc[0] == pytest.approx(0.8)
    assert gdf["throughput_rel_method"].tolist() == ["ratio of medians"] * 2


def test_accuracy_vs_throughput_plots_the_relative_throughput_when_every_variant_has_it():
    from ecabench.report import figures

    g = pd.DataFrame({"throughput_rel_baseline": [1.0, 0.95, math.nan],
                      "inference_images_per_s": [10.0, 9.5, math.nan]})
    assert figures._cost_axes(g)[2][0] == "throughput_rel_baseline"
    g.loc[2, "inference_images_per_s"] = 9.0  # measured, but without a ratio
    assert figures._cost_axes(g)[2][0] == "inference_images_per_s"


def test_at_a_glance_of_a_design_study_picks_among_its_own_levels():
    """A kernel study lists the plain backbone for reference; its first-screen row names the best k
    against adaptive ECA even when the plain backbone scores higher (issue 19)."""
    from ecabench.report.formatting import headline_table

    rows = [("eca", "eca", True, 90.0, None), ("none", "none", False, 91.0, 1.0),
            ("eca(k=1)", "eca", False, 90.4, 0.4), ("eca(k=7)", "eca", False, 89.5, -0.5)]
    vt = pd.DataFrame([{"backbone": "cifar_resnet20", "dataset": "fashion-mnist", "spec": s, "variant": v,
                        "is_baseline": b, "top1_mean": m, "delta_top1": d, "delta_ci_low": None,
                        "delta_ci_high": None, "verdict": "inside the noise", "mde_80": 1.0, "n_pairs": 3}
                       for s, v, b, m, d in rows])
    (row,) = headline_table("ECA kernel size", vt)
    assert row["Best variant"] == "eca(k=1)" and row["Baseline"] == "eca"
    assert row["Δ top-1 [95% CI]"].startswith("+0.40")
    zoo = vt.assign(is_baseline=vt["spec"] == "none")  # the plain backbone as baseline: every variant competes
    assert [(r["Best variant"], r["Baseline"]) for r in headline_table("zoo", zoo)] == [("eca(k=1)", "none")]
