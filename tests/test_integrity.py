"""Results that heal (issue #31): every result file is checked where it is read (schema, checksum), a damaged
one is set aside into results/quarantine/ with its reason and computed again by the next `snakemake`, the
precision checkpoint never decides on a partial stage 1, and `ecabench verify` names what is damaged,
missing or orphaned.

The fast tests build results folders from a real plan and small hand-made records; the slow one damages a
stage-1 record of a tiny two-stage workflow and runs `snakemake` again.
"""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from ecabench.aggregate import aggregate, read_meta, read_summary
from ecabench.cli import main
from ecabench.integrity import heal, problem, quarantined, set_aside, sweep, sweep_message
from ecabench.integrity.checks import MEASURE, PRECISION, RUNS
from ecabench.plan import build_plan, plan_json
from ecabench.plan.precision import stage1_run_ids
from ecabench.records import RecordError, read_record, write_record
from ecabench.util import canonical_json
from ecabench.util.checksum import content_checksum, with_checksum

ROOT = Path(__file__).resolve().parents[1]
STUDY = """
title: two variants
kind: zoo
baseline: none
variants: [none, eca]
"""
TRUNCATED_BYTES = 200  # the issue's disk-full record: its first 200 bytes


# ------------------------------------------------------------------------------------ helpers
def _config(precision: dict | None = None) -> dict:
    study = {"name": "s", "precision": precision} if precision else "s"
    return {"studies": [study], "study_dir": "ablations", "plugins": [], "backbones": ["resnet20"],
            "datasets": [{"name": "digits"}], "seeds": [0, 1], "train": {"epochs": 1, "batch_size": 64},
            "device": "cpu", "measure": {"device": "cpu", "batch_size": 16, "warmup": 1, "rounds": 3,
                                         "min_time_s": 0.01},
            "report": {"paper_comparison": False}}


def _plan(tmp_path: Path, precision: dict | None = None) -> dict:
    (tmp_path / "ablations").mkdir(exist_ok=True)
    (tmp_path / "ablations" / "s.yaml").write_text(textwrap.dedent(STUDY))
    return build_plan(_config(precision), workdir=tmp_path, basedir=ROOT)


def _record(entry: dict, top1: float = 80.0) -> dict:
    """A small valid record for a plan's run entry."""
    return {"schema_version": 1, "run_id": entry["run_id"], "status": "ok", "error": None, "config": entry["config"],
            "spec": entry["spec"], "spec_id": entry["spec_id"], "metrics": {"test_top1_pct": top1},
            "curves": [{"epoch": 1, "train_loss": 1.0}],
            "timings": {"started_at": "2026-12-04T00:00:00", "finished_at": "2026-12-04T00:00:01", "total_time_s": 1.0},
            "environment": {"python": "3", "torch": "2", "device": "cpu"}}


def _results(tmp_path: Path, plan: dict, run_ids=None) -> Path:
    """results/ with the plan, a record for each of ``run_ids`` (default: every run) and every measurement."""
    results = tmp_path / "results"
    (results / "plan.json").parent.mkdir(parents=True, exist_ok=True)
    (results / "plan.json").write_text(plan_json(plan))
    for i, rid in enumerate(sorted(plan["runs"] if run_ids is None else run_ids)):
        write_record(_record(plan["runs"][rid], 80.0 + i), results / RUNS / f"{rid}.json")
    for mid in plan["measurements"]:
        path = results / MEASURE / f"{mid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(with_checksum({"measure_id": mid, "architectures": {}, "status": "ok"})))
    return results


def _truncate(path: Path, n: int = TRUNCATED_BYTES) -> None:
    path.write_bytes(path.read_bytes()[:n])


def _tamper(path: Path) -> None:
    """Change a number, keeping valid JSON and the schema: only the checksum can tell."""
    record = json.loads(path.read_text())
    record["metrics"]["test_top1_pct"] += 1.0
    path.write_text(json.dumps(record, indent=2))


# ------------------------------------------------------------------------------------ checksums
def test_a_record_carries_the_checksum_of_its_content(tmp_path):
    entry = next(iter(_plan(tmp_path)["runs"].values()))
    path = write_record(_record(entry), tmp_path / "r.json")
    written = json.loads(path.read_text())
    assert written["checksum"] == content_checksum(written) and len(written["checksum"]) == 64
    assert read_record(path) == written
    _tamper(path)
    with pytest.raises(RecordError, match="content does not match its checksum"):
        read_record(path)


def test_a_record_written_before_checksums_is_accepted_if_it_matches_the_schema(tmp_path):
    entry = next(iter(_plan(tmp_path)["runs"].values()))
    old = tmp_path / f"{entry['run_id']}.json"
    old.write_text(json.dumps(_record(entry)))  # no checksum field
    assert read_record(old)["run_id"] == entry["run_id"] and problem(old, RUNS) is None


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_text(""), "empty file"),
    (_truncate, "not valid JSON, cut short or overwritten?"),
    (_tamper, "content does not match its checksum"),
    (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "status": "great"})),
     "does not match the schema at status"),
    (lambda p: p.rename(p.with_name("0123456789abcdef.json")), "holds run"),
])
def test_every_kind_of_damage_has_a_one_line_reason(tmp_path, damage, reason):
    plan = _plan(tmp_path)
    results = _results(tmp_path, plan)
    path = sorted((results / RUNS).glob("*.json"))[0]
    damage(path)
    (found,) = [r for p in (results / RUNS).glob("*.json") if (r := problem(p, RUNS))]
    assert reason in found and "\n" not in found


def test_measurement_files_carry_a_checksum_too(tmp_path):
    results = _results(tmp_path, _plan(tmp_path))
    (path,) = (results / MEASURE).glob("*.json")
    assert problem(path, MEASURE) is None
    m = json.loads(path.read_text())
    path.write_text(json.dumps({**m, "status": "failed"}))
    assert "content does not match its checksum" in problem(path, MEASURE)
    path.write_text("")
    assert problem(path, MEASURE) == "empty file"


# ------------------------------------------------------------------------------------ the sweep
def test_the_sweep_sets_damaged_files_aside_with_their_reason(tmp_path):
    plan = _plan(tmp_path)
    results = _results(tmp_path, plan)
    good, bad = sorted((results / RUNS).glob("*.json"))[:2]
    _truncate(bad)
    found = bad.read_bytes()
    (measurement,) = (results / MEASURE).glob("*.json")
    measurement.write_text("")
    (results / PRECISION).mkdir()
    (results / PRECISION / "s.json").write_text("[]")
    moved = sweep(results)
    assert [Path(e["file"]).name for e in moved] == [bad.name, measurement.name, "s.json"]
    assert not bad.exists() and not measurement.exists() and good.exists()
    quarantine = results / "quarantine"
    assert (quarantine / bad.name).read_bytes() == found  # kept as it was found
    reason = (quarantine / f"{bad.name}.reason.txt").read_text()
    assert reason.startswith(f"{bad}: not valid JSON") and reason.count("\n") == 1
    assert (quarantine / f"{measurement.name}.reason.txt").read_text() == f"{measurement}: empty file\n"
    line = sweep_message(moved[0])
    assert str(bad) in line and "not valid JSON" in line and str(quarantine / bad.name) in line and "\n" not in line
    assert sweep(results) == []  # nothing left to set aside
    assert [(Path(q["file"]).name, Path(q["moved_to"]).name) for q in quarantined(quarantine)] == [
        (bad.name, bad.name), (measurement.name, measurement.name), ("s.json", "s.json")]


def test_the_sweep_never_overwrites_what_it_set_aside_before(tmp_path):
    results = _results(tmp_path, _plan(tmp_path))
    path = sorted((results / RUNS).glob("*.json"))[0]
    keep = path.read_bytes()
    for n in (100, 50):
        path.write_bytes(keep[:n])
        sweep(results)
    quarantine = results / "quarantine"
    assert len((quarantine / path.name).read_bytes()) == 100
    assert len((quarantine / f"{path.stem}.1.json").read_bytes()) == 50
    assert (quarantine / f"{path.stem}.1.json.reason.txt").exists()


def test_a_tuning_evaluation_of_a_damaged_record_is_set_aside_with_it(tmp_path):
    results = _results(tmp_path, _plan(tmp_path))
    path = sorted((results / RUNS).glob("*.json"))[0]
    pointer = results / "tuning" / "t" / "eca" / "evaluate" / "seed0.json"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(json.dumps({"run_id": path.stem, "record": str(path)}))
    other = pointer.with_name("seed1.json")
    other.write_text(json.dumps({"run_id": "0" * 16}))
    summary = results / "tuning" / "t" / "summary.json"
    summary.write_text("{}")
    _truncate(path)
    moved = sweep(results)
    assert [Path(e["file"]).name for e in moved] == [path.name, "seed0.json"]
    assert not pointer.exists() and other.exists()  # tune_evaluate runs again and retrains the record ...
    assert not summary.exists() and moved[1]["expired"] == str(summary)  # ... as the summary asks for it again


def test_the_sweep_of_a_fresh_workflow_does_nothing(tmp_path):
    assert sweep(tmp_path / "results") == [] and not (tmp_path / "results").exists()


def test_a_file_that_cannot_be_set_aside_is_reported_not_raised(tmp_path):
    results = _results(tmp_path, _plan(tmp_path))
    (results / "quarantine").write_text("not a folder")  # mkdir fails, as in a read-only results folder
    path = sorted((results / RUNS).glob("*.json"))[0]
    _truncate(path)
    (entry,) = sweep(results)
    assert entry["moved_to"] is None and path.exists()
    assert sweep_message(entry).startswith(f"ecabench: {path} is damaged (not valid JSON")
    assert "could not be set aside" in sweep_message(entry)


def test_set_aside_of_a_file_already_gone_is_none(tmp_path):
    assert set_aside(tmp_path / "gone.json", "why", tmp_path / "q") is None


# ------------------------------------------------------------------------------------ the parse-time step
def test_heal_expires_the_summary_when_a_file_the_tables_need_is_missing(tmp_path):
    """Snakemake does not recompute a missing input of an up-to-date output: removing the summary's meta
    file makes aggregation run, and Snakemake recomputes what it asks for (set aside, or deleted by hand)."""
    plan = _plan(tmp_path)
    results = _results(tmp_path, plan)
    tables = [results / "summary.parquet", results / "summary_meta.json"]
    for path in tables:
        path.write_text("{}")
    assert heal(results, plan, tables) == [] and all(p.exists() for p in tables)  # all there: nothing to do
    damaged, deleted = sorted((results / RUNS).glob("*.json"))[:2]
    _truncate(damaged)
    deleted.unlink()
    lines = heal(results, plan, tables)
    assert lines[0].startswith(f"ecabench: set aside {damaged} (not valid JSON")
    assert lines[1].startswith(f"ecabench: the tables need {deleted.parent}/")
    assert "and 1 more file(s), which are missing" in lines[1]
    assert "removed summary.parquet and the other tables" in lines[1]
    assert len(lines) == 2 and not any(p.exists() for p in tables)
    for path in (damaged, deleted):  # the next call: trained again ...
        write_record(_record(plan["runs"][path.stem]), path)
    for path in tables:  # ... then aggregated
        path.write_text("{}")
    orphan = results / RUNS / f"{'f' * 16}.json"
    orphan.write_text("{")
    lines = heal(results, plan, tables)
    assert len(lines) == 1 and lines[0].startswith(f"ecabench: set aside {orphan} (not valid JSON")
    assert all(p.exists() for p in tables) and not orphan.exists()  # an orphan: the tables need nothing new


# ------------------------------------------------------------------------------------ aggregation
def test_aggregation_sets_aside_what_it_cannot_read_and_names_every_file_set_aside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = _plan(tmp_path)
    results = _results(tmp_path, plan)
    runs = sorted((results / RUNS).glob("*.json"))
    earlier, now = runs[0], runs[1]
    _truncate(earlier)
    sweep(Path("results"))  # the parse-time sweep of an earlier call (relative paths, as the workflow has)
    write_record(_record(plan["runs"][earlier.stem]), earlier)  # ... then retrained
    _tamper(now)  # damaged after this call's sweep
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aggregate(["results/runs"], ["results/measure"], "results/plan.json", "results/summary.parquet",
                  quarantine="results/quarantine")
    assert any(f"skipping results/runs/{now.name}: run record content does not match its checksum" in str(w.message)
               for w in caught)
    assert not now.exists() and (results / "quarantine" / now.name).exists()
    meta = read_meta("results/summary.parquet")
    notes = {s["file"]: s["reason"] for s in meta["skipped"]}
    assert notes[f"results/runs/{now.name}"].endswith(
        f"set aside as results/quarantine/{now.name}, the next snakemake run computes it again")
    assert notes[f"results/runs/{earlier.name}"].startswith(
        f"damaged, set aside as results/quarantine/{earlier.name} (not valid JSON")
    assert notes[f"results/runs/{earlier.name}"].endswith("; computed again")
    assert {Path(q["file"]).name for q in meta["quarantined"]} == {earlier.name, now.name}


# ------------------------------------------------------------------------------------ the checkpoint
def test_the_precision_checkpoint_refuses_a_partial_stage_1(tmp_path, monkeypatch, clean_plugins):
    plan = _plan(tmp_path, {"half_width": 1.0, "n0": 2, "max_seeds": 3})
    rule = plan["precision"]["s"]
    stage1 = stage1_run_ids(rule)
    results = _results(tmp_path, plan, stage1)
    damaged = results / RUNS / f"{stage1[0]}.json"
    _truncate(damaged)
    out, log = results / PRECISION / "s.json", results / "logs" / "precision" / "s.log"
    smk = SimpleNamespace(input=[str(results / RUNS / f"{rid}.json") for rid in stage1], output=[str(out)],
                          log=[str(log)], params=SimpleNamespace(study_rule=canonical_json(rule)),
                          config={"results_dir": str(results), "plugins": []}, scriptdir=str(ROOT / "runners"))
    # as in a job, where sys.stderr writes to fd 2, which the job sends to its log (pytest swaps sys.stderr)
    with open(2, "w", buffering=1, closefd=False) as fd2, monkeypatch.context() as m:
        m.setattr(sys, "stderr", fd2)
        with pytest.raises(SystemExit) as exc, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runpy.run_path(str(ROOT / "runners" / "precision.py"), init_globals={"snakemake": smk})
    message = str(exc.value.code)
    entry = plan["runs"][stage1[0]]
    assert message.startswith("precision checkpoint: study 's': stage 1 is incomplete, so no seeds are decided")
    assert f"{stage1[0]} ({entry['spec']} on {entry['backbone']}/digits, seed {entry['seed']})" in message
    assert "\n" not in message and not out.exists()  # no decision on 3 of 4 stage-1 runs
    assert not damaged.exists() and (results / "quarantine" / damaged.name).exists()  # retrained next time
    assert "stage 1 is incomplete" in log.read_text()


# ------------------------------------------------------------------------------------ ecabench verify
def test_verify_names_a_truncated_record_an_empty_measurement_and_a_checksum_mismatch(tmp_path, capsys):
    results = _results(tmp_path, _plan(tmp_path))
    truncated, tampered = sorted((results / RUNS).glob("*.json"))[:2]
    _truncate(truncated)
    _tamper(tampered)
    (measurement,) = (results / MEASURE).glob("*.json")
    measurement.write_text("")
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    assert f"damaged   {truncated}: not valid JSON, cut short or overwritten?" in out
    assert f"damaged   {tampered}: run record content does not match its checksum" in out
    assert f"damaged   {measurement}: empty file" in out
    assert "problems: 3 damaged; `snakemake` sets damaged files aside" in out
    assert truncated.exists() and tampered.exists() and measurement.exists()  # verify only reads


def test_verify_passes_clean_results(tmp_path, capsys):
    results = _results(tmp_path, _plan(tmp_path))
    assert main(["verify", str(results)]) == 0
    out = capsys.readouterr().out
    assert "4 run records, 1 measurement files" in out and out.rstrip().endswith("nothing damaged, missing or orphaned")


def test_verify_missing_and_orphaned_follow_the_plan_and_the_decisions(tmp_path, capsys):
    plan = _plan(tmp_path, {"half_width": 1.0, "n0": 2, "max_seeds": 3})
    rule = plan["precision"]["s"]
    stage1 = stage1_run_ids(rule)
    results = _results(tmp_path, plan, stage1[1:])  # one stage-1 record lost; no decision yet
    orphan = _record(plan["runs"][stage1[0]])
    orphan["config"] = {**orphan["config"], "seed": 99}
    orphan["run_id"] = "f" * 16
    write_record(orphan, results / RUNS / f"{'f' * 16}.json")
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    entry = plan["runs"][stage1[0]]
    assert f"missing   {results / RUNS / stage1[0]}.json: no record of run {stage1[0]} ({entry['spec']} on " in out
    assert f"missing   {results / PRECISION / 's.json'}: study 's' has no two-stage decision yet" in out
    assert f"orphaned  {results / RUNS / ('f' * 16)}.json: run {'f' * 16} is not in the plan" in out
    stage2 = sorted(set(plan["runs"]) - set(stage1))
    assert not any(rid in out for rid in stage2)  # undecided: stage 2 is not needed yet

    (results / RUNS / f"{'f' * 16}.json").unlink()
    write_record(_record(plan["runs"][stage1[0]]), results / RUNS / f"{stage1[0]}.json")
    settings = [{"backbone": entry["backbone"], "dataset": "digits", "seeds": [0, 1]}]  # decided: stage 1 suffices
    (results / PRECISION).mkdir()
    (results / PRECISION / "s.json").write_text(json.dumps({"study": "s", "settings": settings}))
    assert main(["verify", str(results)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    settings[0]["seeds"] = [0, 1, 2]  # decided: one more seed, whose runs are missing
    (results / PRECISION / "s.json").write_text(json.dumps({"study": "s", "settings": settings}))
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    assert all(f"no record of run {rid}" in out for rid in stage2) and "problems: 2 missing" in out


def test_verify_without_a_plan_or_folder(tmp_path, capsys):
    (tmp_path / "results" / RUNS).mkdir(parents=True)
    assert main(["verify", str(tmp_path / "results")]) == 1
    assert f"missing   {tmp_path / 'results' / 'plan.json'}: the plan" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "nowhere")]) == 2
    assert "ecabench verify: error: no results folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the workflow
def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(workdir), "--cores", "2", "--configfile", str(workdir / "config.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _started(out: str, rule: str) -> int:
    """How many ``rule`` jobs Snakemake started (checkpoint-added ones included)."""
    return sum(line.strip() in (f"rule {rule}:", f"localrule {rule}:") for line in out.splitlines())


def _numbers(results: Path) -> pd.DataFrame:
    """The summary without the wall-clock metrics (a retrained run takes another time, not another value)."""
    df = read_summary(results / "summary.parquet")
    df = df[~df["metric"].str.endswith("time_s")]
    return df.sort_values(["study", "run_id", "metric", "source", "implementation"]).reset_index(drop=True)


@pytest.mark.slow
def test_a_damaged_stage_1_record_is_set_aside_retrained_and_the_summary_is_unchanged(tmp_path):
    """The issue's scenario on a tiny two-stage study: stage 1 (2 seeds x 2 variants) meets its target, so the
    checkpoint keeps 2 seeds; decided on a partial stage 1 it would run to the cap (3 seeds, 2 more runs)."""
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "s.yaml").write_text(textwrap.dedent(STUDY))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config({"half_width": 100.0, "n0": 2, "max_seeds": 3})))
    target = "results/summary.parquet"  # the tidy table; the report only formats it
    first = _snakemake(tmp_path, target)
    assert first.returncode == 0, first.stderr[-4000:]
    results = tmp_path / "results"
    before, decision = _numbers(results), (results / PRECISION / "s.json").read_text()
    assert _started(first.stderr, "train") == 4 and json.loads(decision)["settings"][0]["n"] == 2

    plan = json.loads((results / "plan.json").read_text())
    rid = stage1_run_ids(plan["precision"]["s"])[0]
    record = results / RUNS / f"{rid}.json"
    _truncate(record)  # the disk filled up
    again = _snakemake(tmp_path, target)
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"ecabench: set aside results/runs/{rid}.json (not valid JSON" in again.stderr  # named in the log
    quarantine = results / "quarantine"
    assert len((quarantine / f"{rid}.json").read_bytes()) == TRUNCATED_BYTES
    assert (quarantine / f"{rid}.json.reason.txt").read_text().startswith(f"results/runs/{rid}.json: not valid JSON")
    assert _started(again.stderr, "train") == 1 and read_record(record)["run_id"] == rid  # retrained, same call
    assert len(list((results / RUNS).glob("*.json"))) == 4  # and nothing else: no run planned around the gap
    assert (results / PRECISION / "s.json").read_text() == decision  # decided again, on the whole stage 1
    pd.testing.assert_frame_equal(_numbers(results), before)  # identical numbers
    notes = {s["file"]: s["reason"] for s in read_meta(results / "summary.parquet")["skipped"]}
    assert notes[f"results/runs/{rid}.json"].endswith("computed again")  # what the report lists
