"""Helpers of the slow engine tests (tests/test_engines_*.py): the real SLURM and PostgreSQL.

The engines are started by the project's own scripts (scripts/slurm-local.sh, scripts/pg-local.sh)
when they are not running, and stopped afterwards only when the fixture started them; `.ci/run`
starts both before the test session and stops them after it. An engine that cannot be started is a
test failure with the script's output, never a skip. Every subprocess runs in its own process group
under a hard timeout, and the whole group is killed when it runs over (the SLURM plugin, for one,
can ignore SIGTERM).
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"


def run_bounded(cmd: list[str], *, timeout: float, what: str | None = None, check_timeout: bool = True,
                **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` with stdout and stderr merged, in a new session; on timeout the whole process
    group gets SIGKILL and the test fails with the end of the output (``check_timeout=False``: returns
    with returncode -9 instead)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True, **kwargs)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        if check_timeout:
            pytest.fail(f"{what or cmd[0]} did not finish within {timeout:.0f} s (killed); output ends with:\n"
                        f"{(out or '')[-6000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out or "", "")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the process group of ``proc`` (started with ``start_new_session=True``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def snakemake_env() -> dict:
    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def engine(script: str, name: str, *, start_timeout: float = 900):
    """Generator for a session fixture: ``scripts/<script> status``; when it is not running, ``start``
    (a failure fails the tests that need it, with the script's output) and ``stop`` at the end."""
    path = SCRIPTS / script
    status = run_bounded(["bash", str(path), "status"], timeout=120, what=f"{script} status")
    started = False
    if status.returncode != 0:
        start = run_bounded(["bash", str(path), "start"], timeout=start_timeout, check_timeout=False)
        if start.returncode != 0:
            pytest.fail(f"{name} is not running and `scripts/{script} start` failed (exit {start.returncode}); "
                        f"it needs root (or sudo) and apt on Debian/Ubuntu. Output:\n{start.stdout[-6000:]}")
        started = True
    try:
        yield
    finally:
        if started:
            stop = run_bounded(["bash", str(path), "stop"], timeout=180, check_timeout=False)
            if stop.returncode != 0:
                print(f"`scripts/{script} stop` failed (exit {stop.returncode}):\n{stop.stdout[-3000:]}")
