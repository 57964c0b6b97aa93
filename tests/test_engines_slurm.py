"""The workflow through the real SLURM: profiles/slurm with sbatch/squeue on a one-node cluster.

scripts/slurm-local.sh stands the cluster up (when it is not running) and down (when this module
started it). The profile is used as it is, with what a one-node cluster needs given on the command
line: the local partition (the profile names a GPU partition), a measure job of 1 thread (the
profile asks for a 16-core node), a 2 s initial status wait, and kept SLURM logs for the asserts.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest
import yaml
from _engines import REPO, engine, run_bounded, snakemake_env

PARTITION = os.environ.get("SLURM_LOCAL_PARTITION", "debug")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)")


@pytest.fixture(scope="session")
def slurm_cluster():
    yield from engine("slurm-local.sh", "SLURM")


@pytest.mark.slow
def test_tiny_sweep_through_the_slurm_profile(tmp_path, slurm_cluster):
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "tiny.yaml").write_text(textwrap.dedent("""\
        title: tiny
        kind: zoo
        variants: [eca]
    """))
    config = {
        "studies": ["tiny"], "study_dir": "ablations", "plugins": [], "backbones": ["resnet20"],
        "datasets": [{"name": "digits"}], "seeds": [0], "train": {"epochs": 1, "batch_size": 64},
        "model": {}, "device": "cpu", "results_dir": "results", "reports_dir": "reports",
        "measure": {"device": "cpu", "batch_size": 8, "warmup": 1, "rounds": 3, "min_time_s": 0.01},
        "report": {"paper_comparison": False},
        "resources": {"train": {"threads": 1, "mem_mb": 1000, "runtime": 10},
                      "measure": {"threads": 1, "mem_mb": 1000, "runtime": 10}},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "tiny.yaml"),
           "--profile", str(REPO / "profiles" / "slurm"),
           # a one-node cluster: its partition, no 16-core measure node, no 60 s first wait
           "--default-resources", f"slurm_partition='{PARTITION}'", "mem_mb=1000", "runtime=10",
           "--set-threads", "measure=1",
           "--slurm-init-seconds-before-status-checks", "2",
           "--slurm-keep-successful-logs"]
    t0 = time.perf_counter()
    done = run_bounded(cmd, timeout=600, what="snakemake --profile profiles/slurm", env=snakemake_env())
    elapsed = time.perf_counter() - t0
    out = done.stdout
    run_uuid = re.search(r"SLURM run ID: (\S+)", out)
    try:
        assert done.returncode == 0, out[-6000:]
        assert (tmp_path / "results" / "summary.csv").exists()
        assert (tmp_path / "reports" / "index.html").exists()

        plan = json.loads((tmp_path / "results" / "plan.json").read_text())
        assert len(plan["runs"]) == 2 and len(plan["measurements"]) == 1
        submitted = SUBMITTED.findall(out)
        train = [(job, slurm_id, log) for job, slurm_id, log in submitted if "/rule_train/" in log]
        measure = [(job, slurm_id, log) for job, slurm_id, log in submitted if "/rule_measure/" in log]
        assert len(train) == len(plan["runs"]) and len(measure) == 1, out[-6000:]
        for _, slurm_id, log in train + measure:
            assert log.endswith(f"/{slurm_id}.log") and os.path.exists(log), log
        # the cluster itself knows these jobs (squeue keeps finished ones for MinJobAge)
        assert run_uuid, "no 'SLURM run ID' in the Snakemake log"
        q = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T", "--name", run_uuid.group(1)],
                           capture_output=True, text=True, timeout=60)
        states = dict(line.split("|", 1) for line in q.stdout.split())
        for _, slurm_id, _ in train + measure:
            assert states.get(slurm_id) == "COMPLETED", (slurm_id, states)
        assert "Falling back to 'sacct'" not in out
        # the train jobs ran inside SLURM: their log is the job's own Snakemake run
        assert "rule train:" in open(train[0][2]).read()
    finally:
        if run_uuid:  # nothing of this run left in the queue, whatever happened
            subprocess.run(["scancel", "--name", run_uuid.group(1)], capture_output=True, timeout=60)
    print(f"\nsnakemake --profile profiles/slurm (tiny sweep): {elapsed:.1f}s")
