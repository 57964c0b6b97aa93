"""The workflow: planning (config -> studies -> runs), start-up checks, Snakemake dry runs, end to end.

Planning tests call ``ecabench.plan.build_plan`` directly (fast). The Snakemake tests run the real
CLI in a temporary working directory against this repository's Snakefile; the dry runs and the
bad-config runs are started together (one module fixture) so their start-up costs overlap.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from ecabench.attention.eca import adaptive_kernel_size
from ecabench.plan import PlanError, build_plan, plan_json
from ecabench.runconfig import run_id
from ecabench.runtime import dataset_runtime

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]  # this interpreter's (a virtualenv's), whatever is first on PATH


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def tiny_config(**overrides) -> dict:
    cfg = {
        "studies": ["s"], "study_dir": "ablations", "plugins": [], "backbones": ["resnet20"],
        "datasets": [{"name": "digits"}], "seeds": [0, 1], "train": {"epochs": 1, "batch_size": 64},
        "model": {}, "device": "cpu", "results_dir": "results", "reports_dir": "reports",
    }
    cfg.update(overrides)
    return cfg


def write_studies(folder: Path, **studies: str) -> None:
    (folder / "ablations").mkdir(parents=True, exist_ok=True)
    for name, text in studies.items():
        (folder / "ablations" / f"{name}.yaml").write_text(textwrap.dedent(text))


def plan_for(tmp_path: Path, cfg: dict, **studies: str) -> dict:
    write_studies(tmp_path, **studies)
    return build_plan(cfg, workdir=tmp_path, basedir=ROOT)


def study_runs(plan: dict, study: str, seed: int = 0) -> dict:
    """spec -> plan entry of one study's runs for one seed."""
    return {r["spec"]: r for r in plan["studies"][study]["runs"] if r["seed"] == seed}


# ------------------------------------------------------------------------------------- planning
def test_grid_and_variants_expand_with_baseline_first(tmp_path):
    plan = plan_for(tmp_path, tiny_config(), s="""
        variants: [se]
        grid: {name: eca, k: [1, 5]}
    """)
    study = plan["studies"]["s"]
    assert study["specs"] == ["none", "se", "eca(k=1)", "eca(k=5)"]
    assert study["baseline"] == "none"
    assert len(plan["runs"]) == 4 * 2 and len(study["runs"]) == 8
    (m,) = plan["measurements"].values()  # one measure job per backbone and input, not per seed
    assert len(m["architectures"]) == 4
    by_spec = study_runs(plan, "s")
    assert by_spec["eca(k=5)"]["k_per_stage"] == [5, 5, 5]
    assert by_spec["eca(k=5)"]["params"]["k"] == 5
    for rid, run in plan["runs"].items():
        assert run_id(run["config"]) == rid
        assert run["measure_id"] in plan["measurements"]


def test_grid_of_several_axes_is_the_cartesian_product(tmp_path):
    plan = plan_for(tmp_path, tiny_config(seeds=[0]), s="""
        baseline: null
        grid: {name: eca, gamma: [1, 2], b: [0, 1, 2]}
    """)
    assert len(plan["studies"]["s"]["specs"]) == 6
    assert plan["studies"]["s"]["baseline"] is None


def test_a_run_shared_by_two_studies_is_planned_once(tmp_path):
    cfg = tiny_config(studies=["a", "b"])
    plan = plan_for(tmp_path, cfg, a="variants: [se, 'eca(k=5)']\n", b="variants: [se, cbam]\n")
    se_a = {r["run_id"] for r in plan["studies"]["a"]["runs"] if r["spec"] == "se"}
    se_b = {r["run_id"] for r in plan["studies"]["b"]["runs"] if r["spec"] == "se"}
    assert se_a == se_b and len(se_a) == 2
    # none (baseline of both), se, eca(k=5), cbam: 4 architectures x 2 seeds
    assert len(plan["runs"]) == 8
    assert all(sorted(plan["runs"][rid]["studies"]) == ["a", "b"] for rid in se_a)


def test_specs_with_the_same_architecture_are_one_run_with_aliases(tmp_path):
    # ResNet-20 stages have 16/32/64 channels: the adaptive rule gives k=3 everywhere
    plan = plan_for(tmp_path, tiny_config(), s="""
        variants: [eca, "eca(k=3)", "eca(gamma=2,b=0)", "eca(k=5)"]
    """)
    study = plan["studies"]["s"]
    runs = study_runs(plan, "s")
    assert set(runs) == {"none", "eca", "eca(k=5)"}
    assert sorted(runs["eca"]["aliases"]) == ["eca(b=0)", "eca(k=3)"]
    assert len(plan["runs"]) == 3 * 2
    same = {v["spec"]: v["same_as"] for v in study["variants"]}
    assert same == {"none": None, "eca": None, "eca(k=3)": "eca", "eca(b=0)": "eca", "eca(k=5)": None}
    # every listed spec maps to the run ids that answer it
    aliased = next(v for v in study["variants"] if v["spec"] == "eca(k=3)")
    assert aliased["run_ids"] == [r["run_id"] for r in study["runs"] if r["spec"] == "eca"]


def test_the_plan_is_a_pure_function_of_the_config_and_the_study_files(tmp_path):
    """Results on disk never change the plan (nothing downstream reaches back): a group is named by its
    simplest spec whatever records exist."""
    cfg = tiny_config(seeds=[0])
    first = plan_for(tmp_path, cfg, s="variants: [eca, 'eca(k=3)']\n")
    (rid,) = list(first["runs"].keys() - {r for r, run in first["runs"].items() if run["spec"] == "none"})
    assert first["runs"][rid]["spec"] == "eca" and first["runs"][rid]["aliases"] == ["eca(k=3)"]
    (tmp_path / "results" / "runs").mkdir(parents=True)
    (tmp_path / "results" / "runs" / "0123456789abcdef.json").write_text("{}")
    again = build_plan(cfg, workdir=tmp_path, basedir=ROOT)
    assert plan_json(again) == plan_json(first)


def test_odd_rule_study_keeps_only_settings_where_the_rule_changes_k(tmp_path):
    cfg = tiny_config(studies=["eca_odd_rule"], datasets=["fashion-mnist"], seeds=[0])
    plan = build_plan(cfg, workdir=tmp_path, basedir=ROOT)
    study = plan["studies"]["eca_odd_rule"]
    channels = (16, 32, 64)  # ResNet-20 stages
    expected_kept, expected_dropped = set(), set()
    for gamma in (1, 2, 3, 4):
        for b in (0, 1, 2):
            odd = [adaptive_kernel_size(c, gamma, b, True) for c in channels]
            even = [adaptive_kernel_size(c, gamma, b, False) for c in channels]
            (expected_kept if odd != even else expected_dropped).add((gamma, b))
    assert expected_dropped == {(4, 0), (4, 1)}  # k=1 everywhere either way
    kept = {(v["params"]["gamma"], v["params"]["b"]) for v in study["variants"] if v["spec"] != "none"}
    assert kept == expected_kept
    dropped = {tuple(sorted(d["specs"])) for d in study["dropped"]}
    assert dropped == {("eca(gamma=4,b=0)", "eca(gamma=4,b=0,odd=false)"),
                       ("eca(gamma=4)", "eca(gamma=4,odd=false)")}
    # each kept pair really differs in k, and both members are in the study
    for gamma, b in expected_kept:
        ks = {v["params"]["odd"]: v["k_per_stage"] for v in study["variants"]
              if v["spec"] != "none" and (v["params"]["gamma"], v["params"]["b"]) == (gamma, b)}
        assert set(ks) == {True, False} and ks[True] != ks[False]
    assert "none" in study["specs"]  # the baseline is never dropped


def test_config_can_narrow_a_study_grid(tmp_path):
    cfg = tiny_config(studies=[{"name": "eca_odd_rule", "grid": {"gamma": [2, 3], "b": [0, 1]}}],
                      datasets=["fashion-mnist"], seeds=[0])
    plan = build_plan(cfg, workdir=tmp_path, basedir=ROOT)
    study = plan["studies"]["eca_odd_rule"]
    settings = {(v["params"]["gamma"], v["params"]["b"], v["params"]["odd"]) for v in study["variants"]
                if v["spec"] != "none"}
    assert settings == {(g, b, odd) for g in (2, 3) for b in (0, 1) for odd in (True, False)}
    assert study["grid"]["gamma"] == [2, 3] and study["grid"]["odd"] == [True, False]
    with pytest.raises(PlanError, match=r"studies\[0\]\.grid\.k.*no grid axis"):
        build_plan({**cfg, "studies": [{"name": "eca_odd_rule", "grid": {"k": [3]}}]}, workdir=tmp_path,
                   basedir=ROOT)


def test_default_config_plan(tmp_path):
    plan = build_plan(default_config(), workdir=ROOT, basedir=ROOT)
    assert set(plan["studies"]) == {"attention_zoo", "eca_kernel", "eca_gamma_b", "eca_odd_rule"}
    zoo = plan["studies"]["attention_zoo"]
    archs = {r["architecture_id"] for r in plan["runs"].values()}
    # the headline study: two backbone families and a two-stage seed rule with a cap per backbone
    # (docs/statistics.md): the extra seeds go to the noisier MobileNetV2, which sets the width of the average
    rule = zoo["precision"]
    caps = {"cifar_resnet20": 4, "mobilenet_v2(width_mult=0.35)": 5}
    assert rule["caps"] == caps and rule["n0"] == 4 and len(zoo["seeds"]) == rule["max_seeds"] == 5
    # a run is (architecture, seed): every candidate seed up to the backbone's cap is planned in advance
    for backbone, cap in caps.items():
        runs = [r for r in zoo["runs"] if r["backbone"] == backbone]
        assert len(runs) == len({r["architecture_id"] for r in runs}) * cap
        assert {r["seed"] for r in runs} == set(zoo["seeds"][:cap])
    assert len(zoo["runs"]) == 4 * 4 + 4 * 5
    # the design screens (ResNet-20, seeds 0-2) add four architectures: k=1, k=7, gamma=3 ([1,3,3]) and
    # odd off ([2,3,3]); the plain and adaptive-ECA runs and gamma=4 (k=1 everywhere) are shared
    assert len(plan["runs"]) == 4 * 4 + 4 * 5 + 4 * 3
    assert len(plan["static_runs"]) == (len(archs) - 4) * rule["n0"] + 4 * 3
    # one measure job per backbone and input, timing every architecture of that backbone
    assert len(plan["measurements"]) == 2
    assert set().union(*(m["architectures"] for m in plan["measurements"].values())) == archs
    for run in plan["runs"].values():  # every run is a valid config with the dataset's shape
        assert run["config"]["dataset"]["in_channels"] == 1
        assert run["config"]["dataset"]["num_classes"] == 10
        if run["backbone"].startswith("mobilenet_v2"):
            assert run["config"]["model"] == {"small_input": True, "position": "output", "width_mult": 0.35}


def test_default_design_screens_are_planned_against_the_papers_choice(tmp_path):
    cfg = default_config()
    plan = build_plan(cfg, workdir=ROOT, basedir=ROOT)
    for name in ("eca_kernel", "eca_gamma_b", "eca_odd_rule"):
        study = plan["studies"][name]
        assert study["baseline"] == "eca" and "none" in study["specs"] and study["seeds"] == [0, 1, 2]
    # the kernel study: adaptive is k=3 on ResNet-20, so it is the same run as eca(k=3)
    kernel = study_runs(plan, "eca_kernel")
    assert "eca(k=3)" in kernel["eca"]["aliases"] and "eca(k=3)" not in kernel
    # fewer runs than specs x seeds: aliases and runs shared by two studies are computed once
    design = [s for n, s in plan["studies"].items() if n != "attention_zoo"]
    design_runs = {r["run_id"] for s in design for r in s["runs"]}
    assert len(design_runs) < sum(len(s["specs"]) for s in design) * 3


def test_plan_is_deterministic_and_json(tmp_path):
    a = build_plan(default_config(), workdir=ROOT, basedir=ROOT)
    b = build_plan(default_config(), workdir=ROOT, basedir=ROOT)
    assert plan_json(a) == plan_json(b)
    assert json.loads(plan_json(a))["runs"].keys() == a["runs"].keys()


def test_measurements_do_not_depend_on_the_recipe(tmp_path):
    cfg = tiny_config()
    write_studies(tmp_path, s="variants: [eca]\n")
    a = build_plan(cfg, workdir=tmp_path, basedir=ROOT)
    b = build_plan({**cfg, "train": {"epochs": 3}, "seeds": [5]}, workdir=tmp_path, basedir=ROOT)
    assert set(a["runs"]).isdisjoint(b["runs"])
    assert a["measurements"] == {k: {**v, "runs": a["measurements"][k]["runs"]} for k, v in b["measurements"].items()}


def test_study_level_train_override_makes_separate_runs(tmp_path):
    cfg = tiny_config(studies=["a", "b"])
    plan = plan_for(tmp_path, cfg, a="variants: [se]\n", b="variants: [se]\ntrain: {lr: 0.01}\n")
    se_a = study_runs(plan, "a")["se"]["run_id"]
    se_b = study_runs(plan, "b")["se"]["run_id"]
    assert se_a != se_b
    assert plan["runs"][se_b]["config"]["train"]["lr"] == 0.01
    # the same architecture is still measured once
    assert plan["runs"][se_a]["measure_id"] == plan["runs"][se_b]["measure_id"]


def test_recipe_overrides_per_dataset_and_backbone(tmp_path):
    cfg = tiny_config(backbones=["resnet20", {"name": "resnet32", "train": {"lr": 0.05}}],
                      datasets=[{"name": "digits", "train": {"epochs": 2}}], seeds=[0])
    plan = plan_for(tmp_path, cfg, s="variants: [se]\n")
    recipes = {r["backbone"]: r["config"]["train"] for r in plan["runs"].values()}
    assert recipes["cifar_resnet20"]["epochs"] == 2 and recipes["cifar_resnet20"]["lr"] == 0.1
    assert recipes["cifar_resnet32"]["epochs"] == 2 and recipes["cifar_resnet32"]["lr"] == 0.05


def test_plugin_folder_from_config(tmp_path):
    plugins = tmp_path / "myplugins"
    plugins.mkdir()
    (plugins / "half.py").write_text(textwrap.dedent("""
        from torch import nn
        from ecabench.registry import register_attention

        @register_attention("wf_half")
        class Half(nn.Module):
            def __init__(self, channels, scale: float = 0.5):
                super().__init__()
                self.scale = scale

            def forward(self, x):
                return x * self.scale
    """))
    from ecabench import registry

    try:
        plan = plan_for(tmp_path, tiny_config(plugins=["myplugins"], seeds=[0]), s="variants: [wf_half]\n")
        assert "wf_half" in plan["studies"]["s"]["specs"]
    finally:
        registry.reset_plugins()


def write_broken_plugin(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "broken.py"
    path.write_text("def oops(:\n    pass\n")
    return path


def test_broken_plugin_is_reported_even_when_no_study_uses_it(tmp_path):
    from ecabench import registry
    from ecabench.plan import plan_warnings, summarize

    broken = write_broken_plugin(tmp_path / "brokenplug")
    try:
        plan = plan_for(tmp_path, tiny_config(plugins=["brokenplug"], seeds=[0]), s="variants: [none, eca]\n")
        (err,) = plan["plugin_errors"]
        assert str(broken) in err and "SyntaxError" in err and "line 1" in err
        summary = summarize(plan)
        assert "warning" in summary and "broken.py" in summary
        assert "broken.py" not in summarize(plan, warnings=False)  # onstart: printed at parse time instead
        assert plan_warnings(plan) == [f"warning: {err}"]
    finally:
        registry.reset_plugins()


def test_dataset_runtime_options_are_not_part_of_the_run(tmp_path):
    base = tiny_config(datasets=[{"name": "digits", "root": "/data/a"}])
    plan = plan_for(tmp_path, base, s="variants: [se]\n")
    moved = build_plan({**base, "datasets": [{"name": "digits", "root": "/data/b", "download": True}]},
                       workdir=tmp_path, basedir=ROOT)
    assert plan["runs"].keys() == moved["runs"].keys()
    run = next(iter(plan["runs"].values()))
    assert dataset_runtime(base, run["config"]) == {"data_root": "/data/a", "download": False}
    two = tiny_config(datasets=[{"name": "digits", "val_size": 0.2, "root": "x"}, {"name": "digits", "root": "y"}])
    plan2 = build_plan(two, workdir=tmp_path, basedir=ROOT)
    for run in plan2["runs"].values():
        expected = "x" if run["config"]["dataset"]["val_size"] == 0.2 else "y"
        assert dataset_runtime(two, run["config"])["data_root"] == expected


def test_one_measure_job_per_backbone_and_input_holds_every_architecture(tmp_path):
    plan = plan_for(tmp_path, tiny_config(studies=["s", "t"]), s="variants: [eca, 'eca(k=5)']\n",
                    t="baseline: se\nvariants: [cbam]\n")
    (m,) = plan["measurements"].values()
    specs = {a["spec"] for a in m["architectures"].values()}
    assert specs == {"none", "eca", "eca(k=5)", "se", "cbam"}  # the plain backbone is always the reference
    assert m["architectures"][m["reference"]]["spec"] == "none"
    assert sorted(m["runs"]) == sorted(plan["runs"]) and all(r["measure_id"] == m["measure_id"]
                                                              for r in plan["runs"].values())
    assert re.fullmatch(r"[0-9a-f]{16}_1x8x8", m["measure_id"])


def test_a_variant_that_cannot_be_measured_is_recorded_not_raised(tmp_path):
    from torch import nn

    from ecabench.measure.group import measure_group_safely as measure_safely
    from ecabench.plan import measure_job_config
    from ecabench.registry import ATTENTION, register_attention

    @register_attention("wf_broken")
    class Broken(nn.Module):
        def __init__(self, channels):
            super().__init__()

        def forward(self, x):
            raise RuntimeError("no forward today")

    try:
        plan = plan_for(tmp_path, tiny_config(), s="variants: [wf_broken, eca]\n")
        (group,) = plan["measurements"].values()
        out = tmp_path / "m.json"
        result = measure_safely(measure_job_config(group), out_path=out, device="cpu", batch_size=2, warmup=0,
                                rounds=3, min_time_s=0.0, num_threads=1)
        written = json.loads(out.read_text())
        assert written == json.loads(json.dumps(result))
        by_spec = {a["spec"]: a for a in written["architectures"].values()}
        assert by_spec["wf_broken"]["status"] == "failed" and "no forward today" in by_spec["wf_broken"]["error"]
        assert by_spec["eca"]["status"] == by_spec["none"]["status"] == "ok" and written["status"] == "ok"
        timed = {row["architecture_id"] for row in written["throughput"]}
        assert {by_spec[s]["spec"] for s in ("eca", "none")} == {written["architectures"][a]["spec"] for a in timed}
        assert written["setup"]["threads"] == 1
    finally:
        ATTENTION.unregister("wf_broken")


# ---------------------------------------------------------------------------- start-up errors
BAD_CASES = {
    # name: (study files, config overrides, text the message must contain)
    "unknown_variant": ({"s": "variants: [eca, 'ecaa(k=3)']\n"}, {}, ["variants[1]", "ecaa"]),
    "missing_study": ({}, {"studies": ["nope"]}, ["studies[0]", "nope"]),
    "empty_seeds": ({"s": "variants: [eca]\n"}, {"seeds": []}, ["seeds"]),
    "gamma_not_a_list": ({"s": "grid: {name: eca, gamma: '1, 2', b: [0]}\n"}, {}, ["grid.gamma", "list"]),
    "gamma_zero": ({"s": "grid: {name: eca, gamma: [0, 2], b: [1]}\n"}, {}, ["gamma", "> 0"]),
    "unknown_backbone": ({"s": "variants: [eca]\n"}, {"backbones": ["resnet21"]}, ["backbones[0]", "resnet21"]),
    "per_stage_length": ({"s": "variants: ['eca(k=[3,5])']\n"}, {}, ["variants[0]", "stages"]),
    "unknown_study_key": ({"s": "variants: [eca]\ngrids: {}\n"}, {}, ["grids"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_config_fails_in_planning_naming_the_key(tmp_path, case):
    studies, overrides, needles = BAD_CASES[case]
    cfg = tiny_config(**overrides)
    write_studies(tmp_path, **studies)
    with pytest.raises(PlanError) as info:
        build_plan(cfg, workdir=tmp_path, basedir=ROOT)
    for needle in needles:
        assert needle in str(info.value)


# -------------------------------------------------------------------------------- snakemake
def _snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [*SNAKEMAKE, "--snakefile", str(SNAKEFILE), "--directory", str(workdir), *args]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def _job_counts(output: str) -> dict[str, int]:
    """The `Job stats` table of a dry run -> {rule: count}."""
    counts, inside = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            counts, inside = {}, True
            continue
        if inside:
            m = re.match(r"^(\w+)\s+(\d+)\s*$", line)
            if m:
                counts[m.group(1)] = int(m.group(2))
            elif counts and not line.strip():
                inside = False
    return counts


SNAKEMAKE_BAD = ("unknown_variant", "missing_study", "empty_seeds", "gamma_not_a_list", "gamma_zero")


@pytest.fixture(scope="module")
def snakemake_runs(tmp_path_factory):
    """Run every dry run and bad-config run (three at a time); each test then reads its own result."""
    jobs = {
        "default": (tmp_path_factory.mktemp("default"), ["-n", "--cores", "8"]),
        "paper": (tmp_path_factory.mktemp("paper"),
                  ["-n", "--cores", "16", "--configfile", str(ROOT / "config" / "paper.yaml")]),
        "slurm": (tmp_path_factory.mktemp("slurm"), ["-n", "--profile", str(ROOT / "profiles" / "slurm")]),
        # only the summary table as target: with tuning on, it must wait for the tuning studies
        "tuned": (tmp_path_factory.mktemp("tuned"),
                  ["results/summary.csv", "-n", "--cores", "8", "--configfile", str(ROOT / "config" / "tune.yaml")]),
    }
    # a plugin folder with a broken file that no study uses: a warning on a dry run, which skips onstart
    broken = tmp_path_factory.mktemp("broken_plugin")
    write_studies(broken, s="variants: [none, eca]\n")
    write_broken_plugin(broken / "brokenplug")
    (broken / "cfg.yaml").write_text(yaml.safe_dump(tiny_config(plugins=["brokenplug"], seeds=[0])))
    jobs["broken_plugin"] = (broken, ["-n", "--cores", "1", "--configfile", str(broken / "cfg.yaml")])
    for case in SNAKEMAKE_BAD:
        studies, overrides, _ = BAD_CASES[case]
        workdir = tmp_path_factory.mktemp(case)
        write_studies(workdir, **studies)
        (workdir / "bad.yaml").write_text(yaml.safe_dump(tiny_config(**overrides)))
        jobs[case] = (workdir, ["-n", "--cores", "1", "--configfile", str(workdir / "bad.yaml")])

    def run(item):
        name, (workdir, args) = item
        proc = subprocess.run(_snakemake_cmd(workdir, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=_env(), timeout=600)
        return name, (proc.returncode, proc.stdout, workdir)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, jobs.items()))


def test_dry_run_default_config(snakemake_runs):
    rc, out, _ = snakemake_runs["default"]
    assert rc == 0, out[-3000:]
    plan = build_plan(default_config(), workdir=ROOT, basedir=ROOT)
    counts = _job_counts(out)
    # stage 1 and the other studies' runs are scheduled from the start; stage 2 waits for the checkpoint
    assert counts["train"] == len(plan["static_runs"]) < len(plan["runs"])
    assert counts["precision"] == 1
    assert counts["measure"] == len(plan["measurements"])
    assert counts["plan"] == counts["aggregate"] == counts["report"] == 1


def test_dry_run_paper_config(snakemake_runs):
    rc, out, _ = snakemake_runs["paper"]
    assert rc == 0, out[-3000:]
    counts = _job_counts(out)
    assert counts["train"] >= 3 * 2 * 3 * 20  # 3 seeds x 2 datasets x 3 backbones x ~20+ architectures
    assert counts["measure"] == 2 * 3  # one measure job per (dataset, backbone): all its architectures together
    assert "gpu=1" in out


def test_dry_run_slurm_profile(snakemake_runs):
    rc, out, _ = snakemake_runs["slurm"]
    assert rc == 0, out[-3000:]
    assert "profiles/slurm" in out
    counts = _job_counts(out)
    assert counts["train"] > 0 and counts["measure"] > 0
    assert "slurm_partition=gpu" in out
    assert "slurm_extra=--exclusive" in out  # measure jobs take a whole node


def test_dry_run_tuned_evaluations_feed_the_summary(snakemake_runs):
    rc, out, _ = snakemake_runs["tuned"]
    assert rc == 0, out[-3000:]
    counts = _job_counts(out)
    assert counts["aggregate"] == 1 and "report" not in counts
    assert counts["tune_summary"] == 1 and counts["tune_evaluate"] >= 1 and counts["tune_worker"] >= 2


def test_dry_run_warns_about_a_broken_plugin_no_study_uses(snakemake_runs):
    rc, out, workdir = snakemake_runs["broken_plugin"]
    assert rc == 0, out[-3000:]
    (line,) = [ln for ln in out.splitlines() if "broken.py" in ln]
    assert line.startswith("warning: plugin 'broken'") and str(workdir / "brokenplug" / "broken.py") in line
    assert "SyntaxError" in line


@pytest.mark.parametrize("case", SNAKEMAKE_BAD)
def test_bad_config_stops_snakemake_at_start_up(snakemake_runs, case):
    rc, out, workdir = snakemake_runs[case]
    assert rc != 0
    for needle in BAD_CASES[case][2]:
        assert needle in out, out[-2000:]
    assert "Job stats" not in out and "rule train" not in out
    assert not (workdir / "results").exists()


# ------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_end_to_end_tiny_sweep(tiny_workflow):
    """The catalog-style .test/ workflow (run once per session on a copy: tests/conftest.py)."""
    tmp_path = tiny_workflow.workdir
    config = tmp_path / "config" / "config.yaml"

    done = tiny_workflow.proc
    assert done.returncode == 0, done.stderr[-5000:]

    plan = json.loads((tmp_path / "results" / "plan.json").read_text())
    # none, eca (= eca(k=3)), se, smoke_nan: 4 architectures x 2 seeds x 2 backbones, one measure job per backbone
    assert len(plan["runs"]) == 16 and len(plan["measurements"]) == 2
    import pandas as pd

    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert {"run_id", "metric", "value", "study", "spec", "status"} <= set(summary.columns)
    assert set(summary["run_id"]) == set(plan["runs"])
    # tidy long form: one row per run and metric
    assert not summary.duplicated(["study", "run_id", "metric"]).any()
    assert summary.groupby("run_id")["metric"].nunique().min() > 3
    status = summary.drop_duplicates("run_id").set_index("run_id")["status"]
    nan_runs = [rid for rid, run in plan["runs"].items() if run["spec"] == "smoke_nan"]
    assert all(status[rid] in ("diverged", "failed") for rid in nan_runs)
    assert (status.drop(nan_runs) == "ok").all()

    html = (tmp_path / "reports" / "index.html").read_text()
    assert (tmp_path / "reports" / "index.md").exists()
    for spec in ("none", "eca", "se", "smoke_nan"):
        assert spec in html

    again = tiny_workflow.snakemake("-n", "--cores", "2", "--configfile", str(config))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # one more variant: only its own runs, the measure job (its set of architectures changed), the tables, the report
    study = tmp_path / "ablations" / "smoke.yaml"
    original = study.read_text()
    study.write_text(original.replace("smoke_nan]", "smoke_nan, cbam]"))
    try:
        more = tiny_workflow.snakemake("-n", "--cores", "2", "--configfile", str(config))
    finally:
        study.write_text(original)  # the run is shared with other tests (a dry run wrote nothing)
    assert more.returncode == 0, more.stderr[-3000:]
    counts = _job_counts(more.stdout + more.stderr)
    assert counts.get("train") == 4 and counts.get("measure") == 2
    assert counts.get("aggregate") == 1 and counts.get("report") == 1


def test_imagefolder_root_is_part_of_the_run_identity(tmp_path):
    """Two ImageNet-layout folders (e.g. Imagenette and ImageWoof) with the same options are different
    runs, each job finds its own folder, and the class count comes from the folder."""
    from ecabench.runconfig import make_run_config

    for name, classes in (("nette", ("n01", "n02", "n03")), ("woof", ("w01", "w02"))):
        for c in classes:
            (tmp_path / name / "train" / c).mkdir(parents=True)
    with pytest.raises(ValueError, match=r"imagefolder needs its root folder \(config datasets\[i\]\.root"):
        make_run_config(backbone="resnet18", attention="eca", dataset="imagefolder")
    cfg = tiny_config(backbones=["resnet18"], seeds=[0],
                      datasets=[{"name": "imagefolder", "root": str(tmp_path / "nette"), "image_size": 64},
                                {"name": "imagefolder", "root": str(tmp_path / "woof"), "image_size": 64}])
    plan = plan_for(tmp_path, cfg, s="title: s\nvariants: [none]\n")
    runs = list(plan["runs"].values())
    assert len(runs) == 2 and len({r["config"]["dataset"]["root"] for r in runs}) == 2
    by_root = {Path(r["config"]["dataset"]["root"]).name: r["config"] for r in runs}
    assert by_root["nette"]["dataset"]["num_classes"] == 3 and by_root["woof"]["dataset"]["num_classes"] == 2
    assert run_id(by_root["nette"]) != run_id(by_root["woof"])
    for name, config in by_root.items():
        assert Path(dataset_runtime(cfg, config)["data_root"]).name == name
    # the built-in datasets keep the root out of the id: it only says where the files are
    a = make_run_config(backbone="resnet20", attention="eca", dataset="digits", dataset_options={"root": "/x"})
    assert a == make_run_config(backbone="resnet20", attention="eca", dataset="digits") and "root" not in a["dataset"]
