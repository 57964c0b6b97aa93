import os

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
