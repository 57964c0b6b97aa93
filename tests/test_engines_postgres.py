"""Tuning on a real PostgreSQL server (tuning.storage: postgresql+psycopg2://...), through Snakemake.

scripts/pg-local.sh starts a private server on 127.0.0.1 (when it is not running) and stops it (when
this module started it); every test gets a database of its own. The driver comes with the
`postgres` extra (pip install -e '.[postgres]'; scripts/setup.sh installs it).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from _engines import REPO, SCRIPTS, engine, kill_group, run_bounded, snakemake_env

STUDY = {
    "title": "tiny on postgresql",
    "budget": 4,
    "variants": {"eca": {"spec": "eca",
                         "search": {"gamma": {"low": 1.0, "high": 4.0}, "b": {"low": 0.0, "high": 2.0}}}},
    "search": {"lr": {"low": 0.01, "high": 0.2, "log": True}},
    "sampler": {"seed": 0, "n_startup_trials": 2, "multivariate": True},
    "pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
    "evaluate": False,  # the test-split evaluation does not touch the storage
}


def _psycopg2():
    try:
        import psycopg2
    except ImportError:
        pytest.fail("psycopg2 is not installed: pip install -e '.[postgres]' (scripts/setup.sh installs it)")
    return psycopg2


@pytest.fixture(scope="session")
def pg_server():
    yield from engine("pg-local.sh", "PostgreSQL")


@pytest.fixture
def pg_url(pg_server):
    """A fresh database on the private server, dropped afterwards: its postgresql+psycopg2:// URL."""
    from sqlalchemy.engine import make_url

    psycopg2 = _psycopg2()
    base = run_bounded(["bash", str(SCRIPTS / "pg-local.sh"), "url"], timeout=30).stdout.strip()
    url = make_url(base)
    name = f"ecabench_test_{uuid.uuid4().hex[:10]}"
    params = dict(host=url.host, port=url.port, user=url.username, password=url.password, connect_timeout=10)
    conn = psycopg2.connect(dbname=url.database, **params)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def _setup(tmp: Path, storage: str, study: dict = STUDY, **config) -> dict:
    (tmp / "ablations").mkdir(exist_ok=True)
    (tmp / "ablations" / "tune_pg.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    cfg = {
        "studies": ["attention_zoo"], "backbones": ["resnet20"],
        "datasets": [{"name": "digits", "subset": 200, "val_size": 100}], "seeds": [0],
        "train": {"epochs": 2, "batch_size": 50, "lr": 0.05, "label_smoothing": 0.0, "warmup_epochs": 0},
        "model": {}, "device": "cpu", "results_dir": "results", "reports_dir": "reports",
        "tuning": {"studies": ["tune_pg"], "workers": 2, "storage": storage}, **config,
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


def _snakemake(*args: str) -> list[str]:
    """The repository's Snakefile on the config in the working directory (tests pass cwd=tmp_path)."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml",
            *args]


def _study_names(storage) -> list[str]:
    """The studies in the test's own database (one per tuned variant: here one)."""
    import optuna

    return optuna.get_all_study_names(storage)


def _trials(url: str, study_name: str):
    import optuna

    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=True)
    finally:
        storage.engine.dispose()


def _by_state(trials) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


@pytest.mark.slow
def test_two_workers_on_postgresql_meet_the_budget_and_rerun_adds_nothing(tmp_path, pg_url):
    from ecabench.tune import SURPLUS_ATTR

    _setup(tmp_path, pg_url)
    t0 = time.perf_counter()
    first = run_bounded(_snakemake("--cores", "2", "tune_all"), timeout=600, cwd=tmp_path, env=snakemake_env())
    elapsed = time.perf_counter() - t0
    assert first.returncode == 0, first.stdout[-6000:]

    workers = [json.loads((tmp_path / f"results/tuning/tune_pg/eca/worker{w}.json").read_text()) for w in range(2)]
    names = _study_names(pg_url)
    assert names == [workers[0]["study_name"]] == [workers[1]["study_name"]]
    assert workers[0]["storage"] == pg_url.replace(":optuna@", ":***@")  # shown with the password masked
    trials = _trials(pg_url, names[0])
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == STUDY["budget"], _by_state(trials)
    others = [t for t in trials if t not in done]
    assert all(t.state.name == "FAIL" and t.user_attrs.get(SURPLUS_ATTR) for t in others), _by_state(trials)
    assert sum(len(w["trials_run"]) for w in workers) == STUDY["budget"]
    assert (tmp_path / "reports/tuning/tune_pg.md").exists()
    # Optuna's heartbeat is on for the server storage: every trial beat at least once
    psycopg2 = _psycopg2()
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    with psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(DISTINCT trial_id) FROM trial_heartbeats")
            assert cur.fetchone()[0] >= len(done)
    conn.close()

    # nothing to do on a rerun, and the study is untouched
    second = run_bounded(_snakemake("--cores", "2", "tune_all"), timeout=300, cwd=tmp_path, env=snakemake_env())
    assert second.returncode == 0 and "Nothing to be done" in second.stdout, second.stdout[-4000:]
    # workers run again (their markers deleted) find the budget reached and add no trial
    markers = [f"results/tuning/tune_pg/eca/worker{w}.json" for w in range(2)]
    for m in markers:
        (tmp_path / m).unlink()
    third = run_bounded(_snakemake("--cores", "2", *markers), timeout=300, cwd=tmp_path, env=snakemake_env())
    assert third.returncode == 0, third.stdout[-4000:]
    assert all(json.loads((tmp_path / m).read_text())["trials_run"] == [] for m in markers)
    assert len(_trials(pg_url, names[0])) == len(trials)
    print(f"\ntuning, 2 workers on PostgreSQL: {elapsed:.1f}s")


@pytest.mark.slow
def test_worker_killed_mid_trial_loses_nothing_and_its_trial_is_retried(tmp_path, pg_url):
    """SIGKILL to worker 0 while it trains: finished trials stay, its running trial ends FAIL and is
    queued again (Optuna's retry callback) and trained by worker 1; the budget is still met exactly."""
    import optuna

    from ecabench.tune import WORKER_ATTR

    study = {**STUDY, "budget": 5, "pruner": "none", "evaluate": False}
    _setup(tmp_path, pg_url, study, datasets=[{"name": "digits", "subset": 600, "val_size": 200}],
           train={"epochs": 3, "batch_size": 50, "lr": 0.05, "label_smoothing": 0.0, "warmup_epochs": 0})
    markers = [f"results/tuning/tune_pg/eca/worker{w}.json" for w in range(2)]
    proc = subprocess.Popen(_snakemake("--cores", "2", "--keep-going", *markers), cwd=tmp_path, env=snakemake_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    storage = optuna.storages.RDBStorage(pg_url)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None:
            assert time.monotonic() < deadline, "worker 0 never got mid-way through a trial"
            assert proc.poll() is None, "snakemake ended before worker 0 could be killed"
            names = _study_names(storage)  # empty until the first worker created the study
            trials = optuna.load_study(study_name=names[0], storage=storage).get_trials(deepcopy=True) if names else []
            complete = {t.number: t.value for t in trials if t.state.name == "COMPLETE"}
            for t in trials:
                ident = t.user_attrs.get(WORKER_ATTR) or {}
                # mid-trial: its first epoch reported, more to go
                mine = ident.get("worker") == 0 and ident.get("host") == socket.gethostname()
                if t.state.name == "RUNNING" and mine and len(t.intermediate_values) == 1 and complete:
                    os.kill(ident["pid"], signal.SIGKILL)
                    killed = t
                    break
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            kill_group(proc)
            proc.communicate()
        storage.engine.dispose()
    assert proc.returncode != 0, "worker 0's job should have failed"  # the killed job, reported by Snakemake

    trials = _trials(pg_url, names[0])
    by_number = {t.number: t for t in trials}
    for number, value in complete.items():  # nothing finished was lost
        assert by_number[number].state.name == "COMPLETE" and by_number[number].value == value
    assert by_number[killed.number].state.name == "FAIL", _by_state(trials)
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1, _by_state(trials)
    retry = retried[0]
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    assert retry.user_attrs[WORKER_ATTR]["worker"] == 1
    states = _by_state(trials)
    assert states.get("COMPLETE", 0) + states.get("PRUNED", 0) == study["budget"], states
    assert not states.get("RUNNING") and not states.get("WAITING"), states
    assert Path(tmp_path / markers[1]).exists() and not Path(tmp_path / markers[0]).exists(), out[-4000:]

    # worker 0 run again: the budget is met, it adds nothing
    again = run_bounded(_snakemake("--cores", "2", *markers), timeout=300, cwd=tmp_path, env=snakemake_env())
    assert again.returncode == 0, again.stdout[-4000:]
    assert json.loads((tmp_path / markers[0]).read_text())["trials_run"] == []
    assert len(_trials(pg_url, names[0])) == len(trials)


@pytest.mark.slow
def test_unreachable_postgresql_fails_before_any_job_with_one_clear_error(tmp_path):
    from ecabench.tune import TuneError, plan_tuning

    _psycopg2()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://optuna:s3cret-pw@127.0.0.1:{port}/optuna"
    shown = f"postgresql+psycopg2://optuna:***@127.0.0.1:{port}/optuna"
    cfg = _setup(tmp_path, url)

    with pytest.raises(TuneError, match="cannot connect to the tuning storage") as err:
        plan_tuning(cfg, workdir=tmp_path, basedir=REPO)
    assert shown in str(err.value) and "s3cret" not in str(err.value)

    t0 = time.perf_counter()
    done = run_bounded(_snakemake("--cores", "2", "tune_all"), timeout=120, cwd=tmp_path, env=snakemake_env())
    out = done.stdout
    assert done.returncode != 0
    assert out.count("cannot connect to the tuning storage") == 1, out[-4000:]
    assert f"invalid tuning config: config key 'tuning.storage': cannot connect to the tuning storage {shown}" in out
    assert "s3cret" not in out and "Traceback" not in out, out[-4000:]
    assert "Job stats" not in out and not (tmp_path / "results").exists()
    assert time.perf_counter() - t0 < 60


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_trial_of_a_dead_worker_is_failed_once_and_retried(tmp_path):
    """The retry without a server (SQLite, the same RDB storage code): a RUNNING trial whose worker
    process is gone is failed once, even when two workers look, and queued again with the same
    parameters and without the dead worker's identity; the next worker trains it."""
    import multiprocessing as mp

    import optuna

    from ecabench.tune import WORKER_ATTR, count_trials, fail_stale_trials, open_storage, optimize_with_budget

    path = str(tmp_path / "study.db")
    storage = open_storage({"kind": "sqlite", "url": f"sqlite:///{path}", "path": path})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    p = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    p.start()
    p.join()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    trial.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": p.pid, "start": None, "worker": 1})
    other = optuna.load_study(study_name="s", storage=open_storage({"kind": "sqlite", "url": f"sqlite:///{path}",
                                                                    "path": path}))
    assert fail_stale_trials(study) == [trial.number]
    assert fail_stale_trials(other) == []  # already failed: no second retry
    trials = study.get_trials(deepcopy=True)
    waiting = [t for t in trials if t.state.name == "WAITING"]
    assert len(waiting) == 1 and waiting[0].system_attrs["failed_trial"] == trial.number
    assert waiting[0].params == {"x": trial.params["x"]} and WORKER_ATTR not in waiting[0].user_attrs

    seen = []

    def objective(t):
        seen.append(t.suggest_float("x", 0.0, 1.0))
        return seen[-1]

    optimize_with_budget(study, objective, 2)
    assert seen[0] == trial.params["x"]  # the retry ran first
    counts = count_trials(study)
    assert (counts["finished"], counts["fail"], counts["waiting"], counts["running"]) == (2, 1, 0, 0)
