"""Tuning (ecabench.tune, rules/tune.smk): exact trial budget with parallel workers, the real training
objective with pruning, fair-comparison evaluation, report section, and checks before any work."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from ecabench.tune import (
    SURPLUS_ATTR,
    WORKER_ATTR,
    TuneError,
    count_trials,
    fail_stale_trials,
    optimize_with_budget,
    plan_tuning,
)

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------- helpers
def _config(tmp: Path, **tuning) -> dict:
    return {
        "studies": ["attention_zoo"],
        "backbones": ["resnet20"],
        "datasets": [{"name": "digits", "subset": 200, "val_size": 100}],
        "seeds": [0],
        "train": {"epochs": 2, "batch_size": 50, "lr": 0.05, "label_smoothing": 0.0, "warmup_epochs": 0},
        "model": {},
        "device": "cpu",
        "results_dir": "results",
        "reports_dir": "reports",
        "tuning": {"studies": ["tune_tiny"], "workers": 2, "storage": "journal", **tuning},
    }


TINY_STUDY = {
    "title": "tiny",
    "budget": 4,
    "variants": {"eca": {"spec": "eca", "search": {"gamma": {"low": 1.0, "high": 4.0},
                                                   "b": {"low": 0.0, "high": 2.0}}}},
    "search": {"lr": {"low": 0.01, "high": 0.2, "log": True}},
    "sampler": {"seed": 0, "n_startup_trials": 2, "multivariate": True},
    "pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
    "evaluate": {"seeds": [0]},
}


def _write_study(tmp: Path, study: dict, name: str = "tune_tiny") -> Path:
    (tmp / "ablations").mkdir(exist_ok=True)
    path = tmp / "ablations" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def _plan(tmp: Path, study: dict | None = None, **tuning) -> dict:
    _write_study(tmp, study if study is not None else TINY_STUDY)
    return plan_tuning(_config(tmp, **tuning), workdir=tmp, basedir=REPO)


def _journal_study(path: str, worker: int, name: str = "s"):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=name, storage=JournalStorage(JournalFileBackend(path)), direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=worker, n_startup_trials=3, multivariate=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))


def _cheap_objective(trial):
    import optuna

    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(1, 4):
        time.sleep(0.02)
        trial.report(x * step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return x


def _cheap_worker(path: str, budget: int, lock: str | None, worker: int, queue) -> None:
    study = _journal_study(path, worker)
    queue.put(optimize_with_budget(study, _cheap_objective, budget, lock_path=lock, worker=worker))


def _real_worker(task_json: str, worker: int, out: str, cwd: str) -> None:
    os.chdir(cwd)
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from ecabench.tune import run_worker

    run_worker(json.loads(task_json), worker=worker, out_path=out, device="cpu", num_threads=1)


def _run_processes(target, args_list, timeout=120) -> None:
    """Worker processes forked from a fresh forkserver that has imported torch & co. once (no torch op
    has run in it, so forking is safe; cheaper than a spawn per worker on a busy 2-core machine)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "optuna", "sklearn.datasets", "ecabench.tune", "ecabench.data",
                                "ecabench.models", "ecabench.train", "ecabench.experiment"])
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
        assert p.exitcode == 0, f"worker exited with {p.exitcode}"


# -------------------------------------------------------------- exact budget, cheap objective
@pytest.mark.parametrize("locked", [True, False], ids=["file-lock", "no-lock(rdb-like)"])
def test_two_processes_share_a_journal_study_and_meet_the_budget_exactly(tmp_path, locked):
    """finished + pruned == budget with 2 concurrent workers; a rerun adds nothing. Without the lock
    (as on a server database) the slot rule alone keeps the count exact."""
    import optuna

    path = str(tmp_path / "study.journal")
    lock = str(tmp_path / "study.journal.claim.lock") if locked else None
    budget = 10
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_cheap_worker, args=(path, budget, lock, w, queue)) for w in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    study = _journal_study(path, 0)
    counts = count_trials(study)
    assert counts["complete"] + counts["pruned"] == budget
    assert counts["running"] == 0 and counts["fail"] == 0
    if locked:
        assert counts["surplus"] == 0
    ran = sorted(n for r in results for n in r["trials_run"])
    states = {t.number: t.state for t in study.trials}
    assert len(ran) == budget and all(states[n] in (optuna.trial.TrialState.COMPLETE,
                                                    optuna.trial.TrialState.PRUNED) for n in ran)
    assert all(t.user_attrs.get(WORKER_ATTR) for t in study.trials if not t.user_attrs.get(SURPLUS_ATTR))

    # re-running (both workers again) adds nothing and returns at once
    n_before = len(study.trials)
    again = optimize_with_budget(_journal_study(path, 0), _cheap_objective, budget, lock_path=lock)
    assert again["trials_run"] == [] and again["exit_reason"] == "budget reached"
    assert len(_journal_study(path, 1).trials) == n_before


def test_stale_trial_of_a_dead_worker_is_failed_and_its_slot_reused(tmp_path):
    import optuna

    study = _journal_study(str(tmp_path / "s.journal"), 0)
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    p.join()
    dead_pid = p.pid
    trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, {"host": os.uname().nodename, "pid": dead_pid, "start": None, "worker": 1})
    assert fail_stale_trials(study) == [trial.number]
    assert study.trials[trial.number].state == optuna.trial.TrialState.FAIL
    res = optimize_with_budget(study, _cheap_objective, 2)
    assert count_trials(study)["finished"] == 2 and len(res["trials_run"]) == 2


def test_slot_rule_counts_live_trials_ahead_by_number(tmp_path):
    """The rule a worker applies without a lock (server databases): trial n may train only if fewer
    than budget non-failed, non-surplus trials have a smaller number."""
    import optuna

    from ecabench.tune.budget import holds_slot as _holds_slot

    study = _journal_study(str(tmp_path / "s.journal"), 0)
    t0, t1, t2 = study.ask(), study.ask(), study.ask()
    assert _holds_slot(study, t1.number, 2) and not _holds_slot(study, t2.number, 2)
    t2.set_user_attr(SURPLUS_ATTR, True)
    study.tell(t2, state=optuna.trial.TrialState.FAIL)
    study.tell(t0, state=optuna.trial.TrialState.FAIL)  # a real failure frees its slot
    t3 = study.ask()
    assert _holds_slot(study, t3.number, 2)
    study.tell(t1, 1.0)
    study.tell(t3, 2.0)
    counts = count_trials(study)
    assert (counts["finished"], counts["fail"], counts["surplus"]) == (2, 1, 1)
    assert optimize_with_budget(study, _cheap_objective, 2)["trials_run"] == []


def test_budget_must_be_positive_in_the_loop_too(tmp_path):
    with pytest.raises(TuneError, match="positive integer"):
        optimize_with_budget(_journal_study(str(tmp_path / "s.journal"), 0), _cheap_objective, 0)


# ------------------------------------------------------------------- the real tiny objective
def test_real_objective_two_workers_then_evaluate_and_report(tmp_path, monkeypatch):
    """digits + ResNet-20, 2 epochs, budget 4, 2 worker processes on one journal study; rerun adds
    nothing; the best setting's evaluation run reproduces the trial; the report section is written."""
    import optuna

    from ecabench import tune
    from ecabench.records import read_record
    from ecabench.tune.report import build_tuning_report

    monkeypatch.chdir(tmp_path)
    plan = _plan(tmp_path)
    study_plan = plan["studies"]["tune_tiny"]
    task = study_plan["variants"]["eca"]
    assert task["storage"]["kind"] == "journal"
    markers = [tmp_path / f"results/tuning/tune_tiny/eca/worker{w}.json" for w in range(2)]
    t0 = time.perf_counter()
    _run_processes(_real_worker, [(json.dumps(task), w, str(markers[w]), str(tmp_path)) for w in range(2)])
    elapsed = time.perf_counter() - t0
    print(f"\nworkers: {elapsed:.1f}s")

    study = tune.open_study(task, load_only=True)
    counts = count_trials(study)
    assert counts["complete"] + counts["pruned"] == 4, counts
    assert counts["fail"] == counts["running"] == counts["surplus"] == 0
    summaries = [json.loads(m.read_text()) for m in markers]
    assert sum(len(s["trials_run"]) for s in summaries) == 4
    for t in study.trials:
        assert t.intermediate_values, "every trial reports validation top-1 per epoch"
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert t.value == t.user_attrs["val_top1_curve"][-1]
    # nothing half-written: no checkpoints, no temp files
    leftovers = [p for p in tmp_path.rglob("*") if p.suffix in (".pt", ".tmp") or p.name.startswith(".")]
    assert leftovers == []

    # re-running a worker adds nothing and loads no data
    monkeypatch.setattr(tune.jobs, "load_bundle", lambda *a, **k: pytest.fail("data loaded although the budget is met"))
    again = tune.run_worker(task, worker=0, out_path=str(markers[0]))
    assert again["trials_run"] == [] and again["exit_reason"] == "budget reached"
    assert len(tune.open_study(task, load_only=True).trials) == len(study.trials)

    # best setting -> evaluation run (test split) through run_experiment: same training as the trial
    best = tune.best_summary(task, out_path=tmp_path / "results/tuning/tune_tiny/eca/best.json")
    assert best["best"]["value"] == study.best_value and best["best"]["k_per_stage"]
    ev = tune.evaluate_best(best, seed=0, results_dir="results", num_threads=1,
                            out_path=tmp_path / "results/tuning/tune_tiny/eca/evaluate/seed0.json")
    print(f"evaluate: {time.perf_counter() - t0 - elapsed:.1f}s")
    record = read_record(tmp_path / "results/runs" / f"{ev['run_id']}.json")
    assert record["status"] == "ok" and record["run_id"] == best["best"]["run_id"]
    assert record["metrics"]["val_top1_pct"] == pytest.approx(best["best"]["value"], abs=1e-9)
    assert ev["test_top1_pct"] == record["metrics"]["test_top1_pct"]

    # the untuned self on the same seed: eca as written (gamma 2, b 1) with the config's lr, not the tuned one
    ref = tune.evaluate_best(best, seed=0, results_dir="results", num_threads=1, untuned=True,
                             out_path=tmp_path / "results/tuning/tune_tiny/eca/reference/seed0.json")
    untuned = read_record(tmp_path / "results/runs" / f"{ref['run_id']}.json")
    assert untuned["spec"] == "eca" and untuned["config"]["train"]["lr"] == _config(tmp_path)["train"]["lr"]
    assert untuned["config"]["seed"] == 0 and ref["run_id"] != ev["run_id"]

    summary = tune.summarize(study_plan, [tmp_path / "results/tuning/tune_tiny/eca/best.json"],
                             [tmp_path / "results/tuning/tune_tiny/eca/evaluate/seed0.json"],
                             [tmp_path / "results/tuning/tune_tiny/eca/reference/seed0.json"],
                             out_path=tmp_path / "results/tuning/tune_tiny/summary.json")
    assert summary["variants"]["eca"]["n"] == 1 and summary["variants"]["eca"]["reference"]["n"] == 1
    from ecabench.aggregate.tuned import plan_studies

    entries = plan_studies([tmp_path / "results/tuning/tune_tiny/summary.json"])
    assert [r["run_id"] for r in entries["tune_tiny"]["runs"]] == [ev["run_id"], ref["run_id"]]
    # one tuned variant: the study's baseline is its untuned self, so the tuned row is the gain from tuning
    assert entries["tune_tiny"]["baseline"] == "eca [k 3,3,3] (untuned)" == entries["tune_tiny"]["runs"][1]["spec"]

    out = build_tuning_report(tmp_path / "results/tuning/tune_tiny/summary.json",
                              out_md=tmp_path / "reports/tuning/tune_tiny.md",
                              out_html=tmp_path / "reports/tuning/tune_tiny.html")
    print(f"report: {time.perf_counter() - t0 - elapsed:.1f}s")
    for plot, path in out["figures"]["eca"].items():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    md = (tmp_path / "reports/tuning/tune_tiny.md").read_text()
    assert "k per stage" in md and "tune_tiny/eca__contour.png" in md and "test split" in md
    assert "<section" in (tmp_path / "reports/tuning/tune_tiny.html").read_text()
    print(f"\n2 workers, budget 4: {elapsed:.1f}s")


def _summary_variant(name: str, spec: str, run_ids: list[str], ref_ids: list[str], k=None) -> dict:
    attention = {"name": name}
    return {"best": {"spec": spec, "spec_id": spec, "attention": attention, "k_per_stage": k, "params": {}},
            "evaluation": [{"seed": s, "run_id": r} for s, r in enumerate(run_ids)],
            "reference": {"spec": name, "attention": attention, "k_per_stage": k,
                          "evaluation": [{"seed": s, "run_id": r} for s, r in enumerate(ref_ids)]}}


def test_tuned_study_pairs_each_variant_with_its_untuned_self():
    from ecabench.aggregate.tuned import plan_studies

    fair = {"tune": "fair", "fair": True, "variants": {
        "none": _summary_variant("none", "none", ["n0", "n1"], ["n0", "n1"]),  # nothing of none's was tuned
        "se": _summary_variant("se", "se(r=8)", ["s0", "s1"], ["u0", "u1"])}}
    study = plan_studies([fair])["fair"]
    # the tuned plain backbone stays the baseline; SE's untuned runs join as a variant of their own
    assert study["baseline"] == "none"
    assert [(r["spec"], r["run_id"]) for r in study["runs"]] == [
        ("none", "n0"), ("none", "n1"), ("se(r=8)", "s0"), ("se(r=8)", "s1"), ("se (untuned)", "u0"),
        ("se (untuned)", "u1")]
    assert study["runs"][0]["aliases"] == ["none (untuned)"]  # the same run under both names, trained once

    one = {"tune": "one", "variants": {"eca": _summary_variant("eca", "eca(gamma=3.1456)", ["t0"], ["r0"], [1, 1, 3])}}
    study = plan_studies([one])["one"]
    assert study["baseline"] == "eca [k 1,1,3] (untuned)" and [r["run_id"] for r in study["runs"]] == ["t0", "r0"]
    same = {"tune": "same", "variants": {"eca": _summary_variant("eca", "eca", ["r0"], ["r0"], [3, 3, 3])}}
    study = plan_studies([same])["same"]  # the search ended on gamma 2, b 1: one run, no gain to report
    assert study["baseline"] == "eca [k 3,3,3]" and len(study["runs"]) == 1


def test_pruning_propagates_out_of_train_cleanly(tmp_path, monkeypatch):
    """TrialPruned raised in on_epoch_end leaves train() with torch's global state restored and no files."""
    import optuna
    import torch

    from ecabench import tune

    monkeypatch.chdir(tmp_path)
    task = _plan(tmp_path, workers=1, storage="auto")["studies"]["tune_tiny"]["variants"]["eca"]
    bundle = tune.objective.load_bundle(task, device="cpu", data_root=None, download=False)
    objective = tune.build_objective(task, bundle, device="cpu", num_threads=1)
    threads = torch.get_num_threads()
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=101.0),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    before = sorted(p for p in tmp_path.rglob("*"))
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED and list(t.intermediate_values) == [1]
    assert torch.get_num_threads() == threads
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_report_with_too_few_trials_writes_placeholders(tmp_path, monkeypatch):
    """One finished trial: history is drawn, importances and contour are placeholders that say why."""
    from ecabench import tune
    from ecabench.tune.report import build_tuning_report

    monkeypatch.chdir(tmp_path)
    plan = _plan(tmp_path)
    task = plan["studies"]["tune_tiny"]["variants"]["eca"]
    study = tune.open_study(task)
    study.enqueue_trial({"gamma": 2.0, "b": 1.0, "lr": 0.05})
    trial = study.ask()
    for name, dist in task["search"].items():
        tune.suggest(trial, name, dist)
    study.tell(trial, 50.0)
    summary = tune.summarize(plan["studies"]["tune_tiny"], [])
    out = build_tuning_report(summary, out_md=tmp_path / "r/t.md", out_html=tmp_path / "r/t.html")
    assert set(out["placeholders"]["eca"]) == {"importances", "contour"}
    assert "at least 2 finished trials" in out["placeholders"]["eca"]["contour"]
    assert all(Path(p).exists() for p in out["figures"]["eca"].values())
    assert "placeholder" in (tmp_path / "r/t.md").read_text()


# ------------------------------------------------------------------- checks before any work
BAD = [
    ({"tuning": {"storage": "foo://somewhere"}}, None, "unknown storage URL scheme 'foo'"),
    ({"tuning": {"storage": "sqlite:////no/such/folder/t.db", "workers": 1}}, None, "folder of SQLite database"),
    ({"tuning": {"storage": "bogus"}}, None, "unknown storage 'bogus'"),
    ({"tuning": {"storage": "sqlite", "workers": 2}}, None, "SQLite"),
    ({}, {"variants": {"none": {"spec": "none"}}}, "empty search space"),
    ({}, {"variants": {"eca": {"spec": "eca", "search": {"gama": {"low": 1.0, "high": 2.0}}}}},
     "unknown parameter 'gama' for eca"),
    ({}, {"search": {"learning_rate": {"low": 0.01, "high": 0.1}}}, "unknown training parameter 'learning_rate'"),
    ({}, {"budget": 0}, "budget .* positive integer"),
    ({}, {"budget": -3}, "budget .* positive integer"),
    ({}, {"budget": "4"}, "budget .* positive integer"),
    ({}, {"variants": {"eca": {"spec": "eca", "search": {"k": {"low": 0, "high": 3}}}}}, "gives no valid eca spec"),
    ({}, {"search": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, "log=true needs low > 0"),
]


@pytest.mark.parametrize("config_patch, study_patch, message", BAD,
                         ids=["scheme", "sqlite-folder", "keyword", "sqlite-workers", "empty-space", "unknown-param",
                              "unknown-train-param", "budget-0", "budget-neg", "budget-str", "bad-bound", "log-low"])
def test_bad_input_is_one_clear_error_before_any_work(tmp_path, config_patch, study_patch, message):
    study = {**TINY_STUDY, **(study_patch or {})}
    if study_patch and "variants" in study_patch:
        study.pop("search", None)
    _write_study(tmp_path, study)
    config = _config(tmp_path)
    config["tuning"] = {**config["tuning"], **config_patch.get("tuning", {})}
    with pytest.raises(TuneError, match=message):
        plan_tuning(config, workdir=tmp_path, basedir=REPO)
    assert not (tmp_path / "results").exists()


def test_storage_password_never_reaches_the_task(tmp_path, monkeypatch):
    from ecabench import tune
    from ecabench.plan import tuning as plan_tuning_module

    monkeypatch.setattr(plan_tuning_module, "resolve_storage", lambda raw, **k: {
        "kind": "rdb", "url": raw, "path": None, "shown": tune.storage.mask_url(raw), "lock": None, "default": False,
        "shared": True})
    task = _plan(tmp_path, storage="postgresql://me:hunter2@db.example/optuna")["studies"]["tune_tiny"]["variants"]["eca"]
    assert "hunter2" not in json.dumps(task)
    real = tune.real_storage(task["storage"], {"tuning": {"storage": "postgresql://me:hunter2@db.example/optuna"}})
    assert real["url"] == "postgresql://me:hunter2@db.example/optuna"


# ------------------------------------------------------------------------- the Snakemake level
@pytest.mark.slow
def test_snakemake_two_worker_jobs_on_one_journal_study(tmp_path):
    """rules/tune.smk with 2 worker jobs (--cores 2): finished + pruned == budget in the journal; a
    second run has nothing to do."""
    import optuna

    from ecabench import tune

    _write_study(tmp_path, TINY_STUDY)
    config = _config(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""\
        configfile: "config.yaml"
        include: "{REPO / 'rules' / 'tune.smk'}"
        """))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--snakefile", "Snakefile", "tune_all"]
    t0 = time.perf_counter()
    first = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-4000:]
    elapsed = time.perf_counter() - t0

    task = tune.plan_tuning(config, workdir=tmp_path, basedir=REPO)["studies"]["tune_tiny"]["variants"]["eca"]
    journal = tmp_path / task["storage"]["path"]
    study = optuna.load_study(study_name=task["study_name"], storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    states = [t.state for t in study.trials]
    done = [s for s in states if s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(done) == TINY_STUDY["budget"] and len(states) == len(done)
    workers = [json.loads((tmp_path / f"results/tuning/tune_tiny/eca/worker{w}.json").read_text()) for w in range(2)]
    assert sum(len(w["trials_run"]) for w in workers) == TINY_STUDY["budget"]
    assert "Nothing to be done" not in first.stderr
    assert (tmp_path / "reports/tuning/tune_tiny.md").exists()
    summary = json.loads((tmp_path / "results/tuning/tune_tiny/summary.json").read_text())
    assert (tmp_path / "results/runs" / f"{summary['variants']['eca']['evaluation'][0]['run_id']}.json").exists()

    second = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Nothing to be done" in second.stderr + second.stdout
    assert len(study.trials) == len(optuna.load_study(
        study_name=task["study_name"], storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal)))).trials)
    print(f"\nsnakemake first run: {elapsed:.1f}s")


@pytest.mark.slow
def test_full_workflow_puts_the_tuned_evaluations_in_the_main_report(tmp_path):
    """The real Snakefile with a sweep and a tuning study: the tuned variant's test-split runs are a
    study of results/summary.csv and a section of reports/index.{html,md} linking the Optuna fragment."""
    import pandas as pd

    _write_study(tmp_path, {**TINY_STUDY, "budget": 2})
    config = {**_config(tmp_path), "seeds": [0, 1],
              "measure": {"device": "cpu", "batch_size": 8, "warmup": 1, "rounds": 3, "min_time_s": 0.01},
              "report": {"paper_comparison": False}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "2", "--configfile", str(tmp_path / "config.yaml")]
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-5000:]

    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    tuned = summary[(summary["study"] == "tune_tiny") & (summary["metric"] == "test_top1_pct")]
    evaluation = json.loads((tmp_path / "results/tuning/tune_tiny/summary.json").read_text())
    eca = evaluation["variants"]["eca"]
    assert set(tuned["run_id"]) == {e["run_id"] for e in eca["evaluation"] + eca["reference"]["evaluation"]}
    assert len(tuned) == 2 and (tuned["status"] == "ok").all()
    # the tuned setting against the untuned eca (gamma 2, b 1), paired over the evaluation seed
    variants = pd.read_csv(tmp_path / "reports" / "tables" / "tune_tiny__variants.csv")
    assert variants.loc[variants["is_baseline"], "spec"].tolist() == ["eca [k 3,3,3] (untuned)"]  # gamma 2, b 1
    row = variants[~variants["is_baseline"]]
    assert len(row) == 1 and row["n_pairs"].item() == 1 and row["delta_top1"].notna().all()
    assert {"attention_zoo", "tune_tiny"} <= set(summary["study"])
    md = (tmp_path / "reports" / "index.md").read_text()
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "](tuning/tune_tiny.md)" in md and "href='tuning/tune_tiny.html'" in html
    assert (tmp_path / "reports" / "tuning" / "tune_tiny.html").exists()
    assert "Tuned with Optuna" in md
