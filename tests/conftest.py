import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ecabench import registry

pytest_plugins = ["pytester"]

# CI (.ci/run) sets this: there, a skipped test is a failed test unless it needs hardware CI lacks, so a
# missing dataset, engine or tool can never pass silently. Locally, skips only explain themselves.
STRICT_SKIPS = os.environ.get("ECABENCH_STRICT_SKIPS") == "1"
ALLOWED_SKIP_WORD = "CUDA"  # skip reasons naming it are hardware, not set-up (see tests/test_measure.py)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (STRICT_SKIPS and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if ALLOWED_SKIP_WORD not in reason:
        report.outcome = "failed"
        report.longrepr = (f"skipped under ECABENCH_STRICT_SKIPS=1 ({reason!r}); only tests that need "
                           f"a {ALLOWED_SKIP_WORD} device may skip in CI: install what the test needs")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def clean_plugins():
    """Plugins loaded inside a test are forgotten afterwards."""
    registry.reset_plugins()
    yield
    registry.reset_plugins()


# ----------------------------------------------------------------------- the .test/ workflow, run once
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class WorkflowRun:
    """A finished run of the .test/ workflow: its working directory and the Snakemake process."""

    workdir: Path
    proc: subprocess.CompletedProcess

    def snakemake(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        """Snakemake on this run's working directory (this interpreter's, without a user profile)."""
        env = dict(os.environ)
        env.pop("SNAKEMAKE_PROFILE", None)
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(self.workdir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory) -> WorkflowRun:
    """The catalog-style .test/ workflow, run once per session on a copy (so the checkout stays clean) and
    shared by the slow tests that read what it wrote (tests/test_workflow.py's end to end, the report in a
    browser). The run's outcome is not checked here: each test asserts ``proc.returncode`` itself. A test
    that changes the copy must restore it."""
    workdir = tmp_path_factory.mktemp("tiny_workflow")
    shutil.copytree(ROOT / ".test", workdir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("results", "reports", ".snakemake"))
    run = WorkflowRun(workdir, subprocess.CompletedProcess([], 0))
    run.proc = run.snakemake("--cores", "2", "--configfile", str(workdir / "config" / "config.yaml"))
    return run
