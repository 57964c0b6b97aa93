"""CI's rule that nothing skips silently (tests/conftest.py), checked on a throw-away test file."""

import pytest

INNER = '''
import pytest

def test_missing_dataset():
    pytest.skip("Debian package dataset-fashion-mnist is not installed")

@pytest.mark.skipif(True, reason="needs a CUDA device")
def test_gpu_only():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False

def test_plain():
    pass
'''


@pytest.fixture
def inner(pytester):
    pytester.makeconftest((__import__("pathlib").Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_inner=INNER)
    return pytester


def test_strict_mode_fails_a_set_up_skip_but_not_a_cuda_skip(inner, monkeypatch):
    monkeypatch.setenv("ECABENCH_STRICT_SKIPS", "1")
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under ECABENCH_STRICT_SKIPS=1*dataset-fashion-mnist*"])


def test_without_the_variable_skips_stay_skips(inner, monkeypatch):
    monkeypatch.delenv("ECABENCH_STRICT_SKIPS", raising=False)
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=2, xfailed=1)
