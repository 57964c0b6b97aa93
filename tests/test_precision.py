"""Precision by design: Stein's two-stage seed rule in the plan, the checkpoint's decision and the workflow.

Unit tests build plans and decisions directly (fast); the slow test runs a tiny workflow through its
checkpoint and then changes the rule, checking which jobs a dry run schedules.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from scipy import stats as st

from ecabench.analysis.paired import stein_total_n
from ecabench.analysis.two_stage import IncompleteStageError, decide
from ecabench.plan import PlanError, build_plan
from ecabench.plan.precision import chosen_run_ids, stage1_run_ids

ROOT = Path(__file__).resolve().parents[1]
STUDY = """
title: three variants
kind: zoo
baseline: none
variants: [none, eca, se]
"""


def _config(**overrides) -> dict:
    cfg = {"studies": [{"name": "s", "precision": {"half_width": 1.0, "n0": 3, "max_seeds": 6}}],
           "study_dir": "ablations", "plugins": [], "backbones": ["resnet20"], "datasets": [{"name": "digits"}],
           "seeds": [0, 1], "train": {"epochs": 1, "batch_size": 64}, "device": "cpu"}
    cfg.update(overrides)
    return cfg


def _plan(tmp_path: Path, cfg: dict) -> dict:
    (tmp_path / "ablations").mkdir(exist_ok=True)
    (tmp_path / "ablations" / "s.yaml").write_text(textwrap.dedent(STUDY))
    return build_plan(cfg, workdir=tmp_path, basedir=ROOT)


# ------------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize("sd, n0, h", [(1.0, 4, 1.5), (1.2, 4, 1.5), (0.3, 4, 1.5), (2.5, 5, 1.0), (0.9, 3, 0.5)])
def test_stein_total_n_is_the_hand_calculation_with_the_stage1_t_quantile(sd, n0, h):
    t = st.t.ppf(0.975, n0 - 1)  # n0 - 1 degrees of freedom: the stage-1 estimate's
    assert stein_total_n(sd, n0, h) == max(n0, math.ceil((t * sd / h) ** 2))


def test_stein_total_n_values_and_refusals():
    assert stein_total_n(1.0, 4, 1.5) == 5  # (3.182 * 1.0 / 1.5)^2 = 4.50 -> 5
    assert stein_total_n(0.0, 4, 1.5) == 4  # never below stage 1
    assert stein_total_n(float("nan"), 4, 1.5) == -1  # unknown spread: the caller runs to its cap
    with pytest.raises(ValueError, match="n0 >= 2"):
        stein_total_n(1.0, 1, 1.5)


# ------------------------------------------------------------------------------------ the plan
def test_plan_lists_every_candidate_seed_and_needs_only_stage_1(tmp_path):
    plan = _plan(tmp_path, _config())
    study = plan["studies"]["s"]
    assert study["seeds"] == [0, 1, 2, 3, 4, 5] and study["precision"]["stage1_seeds"] == [0, 1, 2]
    assert len(plan["runs"]) == 3 * 6  # every candidate is planned: its run id is known in advance
    rule = plan["precision"]["s"]
    assert set(stage1_run_ids(rule)) == set(plan["static_runs"])
    assert {plan["runs"][r]["seed"] for r in plan["static_runs"]} == {0, 1, 2}


def test_raising_the_cap_only_adds_run_ids(tmp_path):
    small = _plan(tmp_path, _config())
    big = _plan(tmp_path, _config(studies=[{"name": "s", "precision": {"half_width": 1.0, "n0": 3,
                                                                       "max_seeds": 8}}]))
    assert set(small["runs"]) < set(big["runs"])
    assert {big["runs"][r]["seed"] for r in set(big["runs"]) - set(small["runs"])} == {6, 7}


def test_seed_base_changes_every_run_id_and_nothing_else(tmp_path):
    base = _plan(tmp_path, _config())
    shifted = _plan(tmp_path, _config(seed_base=1000))
    assert not set(base["runs"]) & set(shifted["runs"])  # every run id changes
    def strip(plan):
        return [{**{k: v for k, v in r.items() if k not in ("run_id", "seed", "config")},
                 "config": {k: v for k, v in r["config"].items() if k != "seed"}}
                for r in sorted(plan["runs"].values(), key=lambda r: (r["seed"], r["spec"]))]

    assert strip(base) == strip(shifted)  # same specs, architectures, recipes, measure jobs
    seeds = sorted(r["seed"] for r in shifted["runs"].values())
    assert seeds == sorted(r["seed"] + 1000 for r in base["runs"].values())
    assert shifted["studies"]["s"]["precision"]["stage1_seeds"] == [1000, 1001, 1002]
    assert base["measurements"].keys() == shifted["measurements"].keys()


def test_seed_base_shifts_fixed_seeds_too(tmp_path):
    plan = _plan(tmp_path, _config(studies=["s"], seed_base=7))
    assert plan["studies"]["s"]["seeds"] == [7, 8] and plan["seeds"] == [7, 8]


@pytest.mark.parametrize("entry, match", [
    ({"name": "s", "seeds": [0, 1], "precision": {"half_width": 1.0, "n0": 3, "max_seeds": 6}}, "either seeds or"),
    ({"name": "s", "precision": {"half_width": 1.0, "n0": 5, "max_seeds": 3}}, "max_seeds=3 is below"),
    ({"name": "s", "precision": {"half_width": 0, "n0": 3, "max_seeds": 6}}, "half_width"),
    ({"name": "s", "precision": {"half_width": 1.0, "n0": 1, "max_seeds": 6}}, "n0"),
])
def test_bad_precision_is_refused_in_planning_naming_the_key(tmp_path, entry, match):
    with pytest.raises(PlanError, match=match):
        _plan(tmp_path, _config(studies=[entry]))


# ------------------------------------------------------------------------------------ the decision
def _records(rule: dict, top1: dict) -> dict:
    """Fake stage-1 records: top1[(spec, seed)] -> accuracy."""
    out = {}
    for c in rule["candidates"]:
        if (c["spec"], c["seed"]) in top1:
            out[c["run_id"]] = {"run_id": c["run_id"], "status": "ok",
                                "metrics": {"test_top1_pct": top1[(c["spec"], c["seed"])]}}
    return out


def test_decision_takes_the_largest_comparison_sd_and_caps(tmp_path):
    rule = _plan(tmp_path, _config())["precision"]["s"]
    base = {0: 80.0, 1: 81.0, 2: 79.0}
    eca = {0: 79.0, 1: 80.5, 2: 78.2}  # d = -1.0, -0.5, -0.8: sd 0.252
    se = {0: 78.0, 1: 81.5, 2: 77.0}  # d = -2.0, +0.5, -2.0: sd 1.443
    top1 = {**{("none", s): v for s, v in base.items()}, **{("eca", s): v for s, v in eca.items()},
            **{("se", s): v for s, v in se.items()}}
    decision = decide(rule, _records(rule, top1))
    (setting,) = decision["settings"]
    t = st.t.ppf(0.975, 2)
    sd_se = float(st.tstd([-2.0, 0.5, -2.0]))
    assert setting["sd_max"] == pytest.approx(sd_se)
    assert setting["n_required"] == math.ceil((t * sd_se / 1.0) ** 2)  # 39: far above the cap
    assert setting["n"] == 6 and setting["cap_reached"] and setting["seeds"] == [0, 1, 2, 3, 4, 5]
    kept = chosen_run_ids(rule, decision)
    assert len(kept) == 3 * 6


def test_a_setting_whose_stage_1_meets_the_target_runs_no_stage_2(tmp_path):
    rule = _plan(tmp_path, _config())["precision"]["s"]
    top1 = {(spec, s): 80.0 + s + off for s in (0, 1, 2) for spec, off in (("none", 0), ("eca", -1.0), ("se", 0.5))}
    top1[("eca", 1)] += 0.05  # a tiny spread: n = n0
    decision = decide(rule, _records(rule, top1))
    (setting,) = decision["settings"]
    assert setting["n"] == 3 and not setting["cap_reached"] and setting["seeds"] == [0, 1, 2]
    assert set(chosen_run_ids(rule, decision)) == set(stage1_run_ids(rule))


def test_a_comparison_without_two_stage_1_pairs_runs_to_the_cap(tmp_path):
    rule = _plan(tmp_path, _config())["precision"]["s"]
    top1 = {(spec, s): 80.0 + s for s in (0, 1, 2) for spec in ("none", "eca")}
    top1[("se", 0)] = 70.0
    records = _records(rule, top1)
    for c in rule["candidates"]:  # se failed on seeds 1 and 2: records without an accuracy
        if c["spec"] == "se" and c["seed"] in (1, 2):
            records[c["run_id"]] = {"run_id": c["run_id"], "status": "failed", "metrics": {}}
    setting = decide(rule, records)["settings"][0]
    assert setting["n"] == 6 and setting["cap_reached"] and setting["n_required"] is None


def test_no_decision_on_a_partial_stage_1(tmp_path):
    """A stage-1 run without a record (missing, or damaged and set aside) stops the decision, naming the run:
    deciding on the seeds left would change the design without a word (issue #31)."""
    rule = _plan(tmp_path, _config())["precision"]["s"]
    top1 = {(spec, s): 80.0 + s for s in (0, 1, 2) for spec in ("none", "eca", "se")}
    records = _records(rule, top1)
    lost = next(c for c in rule["candidates"] if c["spec"] == "eca" and c["seed"] == 1)
    del records[lost["run_id"]]
    with pytest.raises(IncompleteStageError, match="stage 1 is incomplete") as exc:
        decide(rule, records)
    message = str(exc.value)
    assert f"{lost['run_id']} (eca on cifar_resnet20/digits, seed 1)" in message and "1 run(s)" in message
    assert "\n" not in message  # one line


def test_per_backbone_caps_plan_decide_and_report_each_setting_its_own_cap(tmp_path):
    import pandas as pd

    from ecabench.analysis.variant_table import add_precision

    caps = {"resnet20": 5, "resnet32": 3}
    plan = _plan(tmp_path, _config(backbones=["resnet20", "resnet32"], studies=[
        {"name": "s", "precision": {"half_width": 1.0, "n0": 3, "max_seeds": caps}}]))
    seeds = {}
    for r in plan["studies"]["s"]["runs"]:
        seeds.setdefault(r["backbone"], set()).add(r["seed"])
    assert seeds == {"cifar_resnet20": {0, 1, 2, 3, 4}, "cifar_resnet32": {0, 1, 2}}  # no run beyond a cap
    rule = plan["precision"]["s"]
    assert rule["caps"] == {"cifar_resnet20": 5, "cifar_resnet32": 3}
    wide = {0: -2.0, 1: 0.5, 2: -2.0}  # a spread that needs far more seeds than either cap
    top1 = {(spec, s): 80.0 + (wide[s] if spec == "se" else 0.0) for s in (0, 1, 2) for spec in ("none", "eca", "se")}
    decision = decide(rule, _records(rule, top1))
    got = {s["backbone"]: (s["n"], s["max_seeds"], s["cap_reached"]) for s in decision["settings"]}
    assert got == {"cifar_resnet20": (5, 5, True), "cifar_resnet32": (3, 3, True)}
    assert {plan["runs"][r]["seed"] for r in chosen_run_ids(rule, decision)} == {0, 1, 2, 3, 4}

    vt = pd.DataFrame({"backbone": ["cifar_resnet20", "cifar_resnet32"], "dataset": ["digits"] * 2,
                       "is_baseline": [False, False], "n_pairs": [5, 3], "delta_ci_low": [-2.0, -2.5],
                       "delta_ci_high": [2.0, 2.5]})  # Stein half-widths 2.0 and 2.5: wider than the target
    out = add_precision(vt, decision)
    assert out["max_seeds"].tolist() == [5, 3] and out["precision"].tolist() == ["cap reached"] * 2


@pytest.mark.parametrize("caps, match", [
    ({"resnet20": 5}, "not for backbone 'resnet32'"),
    ({"resnet20": 5, "resnet32": 3, "mobilenet_v2": 4}, "cap for 'mobilenet_v2', which is not one of"),
    ({"resnet20": 5, "resnet32": 2}, "max_seeds.resnet32=2 is below precision.n0=3"),
])
def test_per_backbone_caps_are_checked_in_planning(tmp_path, caps, match):
    with pytest.raises(PlanError, match=match):
        _plan(tmp_path, _config(backbones=["resnet20", "resnet32"], studies=[
            {"name": "s", "precision": {"half_width": 1.0, "n0": 3, "max_seeds": caps}}]))


# ------------------------------------------------------------------------------------ the workflow
def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def _trains(out: str) -> int:
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "train" and parts[1].isdigit():
            return int(parts[1])
    return 0


@pytest.mark.slow
def test_workflow_runs_stage_2_only_for_the_seeds_still_missing(tmp_path):
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "s.yaml").write_text(textwrap.dedent(STUDY))
    cfg = _config(studies=[{"name": "s", "precision": {"half_width": 0.01, "n0": 2, "max_seeds": 3}}],
                  measure={"device": "cpu", "batch_size": 16, "warmup": 1, "rounds": 3, "min_time_s": 0.01},
                  report={"paper_comparison": False})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = _snakemake(tmp_path, "--cores", "2", "--configfile", str(path))
    assert done.returncode == 0, done.stderr[-4000:]
    decision = json.loads((tmp_path / "results" / "precision" / "s.json").read_text())
    assert decision["settings"][0]["n"] == 3 and decision["settings"][0]["cap_reached"]
    assert len(list((tmp_path / "results" / "runs").glob("*.json"))) == 3 * 3  # stage 1 (2 seeds) + stage 2 (1)
    summary = (tmp_path / "reports" / "index.md").read_text()
    assert "cap reached" in summary and "Precision by design" in summary

    again = _snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(path))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    cfg["studies"][0]["precision"]["max_seeds"] = 5  # a higher cap: the checkpoint decides again ...
    path.write_text(yaml.safe_dump(cfg))
    decided = _snakemake(tmp_path, "results/precision/s.json", "--cores", "2", "--configfile", str(path))
    assert decided.returncode == 0, decided.stderr[-4000:]
    assert _trains(decided.stdout + decided.stderr) == 0  # ... from the stage-1 records, recomputing none
    more = _snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(path))
    assert more.returncode == 0, more.stderr[-4000:]
    assert _trains(more.stdout + more.stderr) == 3 * 2  # only seeds 3 and 4 of the three variants
