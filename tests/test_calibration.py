"""benchmarks/calibration.py: the across-settings intervals cover, and the tests reject, as often as they say.

The script calls the project's estimators on simulated data of known truth; these tests run it at its default
replications (>= 2000 per scenario) with a fixed seed and require every scenario inside its band.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
REPS = 4000  # the script's default: x10 for the vectorised families and two_stage, x1 for omnibus
JOBS = 2


def _script():
    # registered in sys.modules so the script's forked workers can unpickle its functions
    name = "bench_calibration"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "calibration.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _failures(df: pd.DataFrame) -> str:
    bad = df[~df["ok"]]
    cols = ["family", "measure", "levels", "k", "n", "tau2", "sd", "P", "reps", "measured", "ci_low", "ci_high",
            "band_low", "band_high", "zero_width"]
    return f"{len(bad)} scenario(s) outside their band:\n{bad[cols].to_string(index=False)}"


def test_vectorised_families_and_two_stage_are_calibrated():
    cal = _script()
    families = [f for f in cal.FAMILIES if f != "omnibus_gap"]
    df = cal.run(REPS, seed=0, only=families, jobs=JOBS)
    assert set(df["family"]) == set(families)
    assert (df["reps"] >= 2000).all()
    assert len(df) == sum(np.prod([len(v) for v in cal.GRIDS[f].values()]) * len(cal.BANDS[f]) for f in families)
    assert df["ok"].all(), _failures(df)
    assert (df.loc[df["family"] == "win_rate", "zero_width"] == 0).all()
    # Stein's N is uncapped here: the rule's own N, which averages t(0.975, 2)^2 sd^2 ~ 18.5 sd^2
    ts = df[(df["family"] == "two_stage") & (df["measure"] == "coverage")].set_index("sd")
    assert ts.loc[2.5, "mean_N"] > ts.loc[1.5, "mean_N"] > 30


@pytest.mark.slow  # 8000 omnibus() calls at ~17 ms: ~70 s on two idle cores, twice that on a busy machine
def test_omnibus_largest_gap_and_friedman_hold_their_level():
    """omnibus() is ~20 ms a call, so this runs one sd of the script's three (the other two are repeats: see
    the next test) at 2000 replications per (levels, seeds) scenario."""
    cal = _script()
    df = cal.run(2000, seed=0, only=["omnibus_gap"], grids={"omnibus_gap": {"sd": [1.5]}}, jobs=JOBS)
    assert len(df) == 2 * 2 * 2 and (df["reps"] == 2000).all()
    assert df["ok"].all(), _failures(df)


def test_omnibus_verdicts_do_not_depend_on_the_noise_scale():
    """Why one sd suffices above: the same standardised draws at sd 0.5, 1.5 and 2.5 give the same Friedman p
    and the same answer to "does the largest-gap interval exclude 0"."""
    from ecabench.analysis import omnibus

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"setting": "s/d", "seed": np.tile(np.arange(3), 3), "variant": np.repeat(["a", "b", "c"], 3)})
    for _ in range(10):
        shared, noise = rng.standard_normal(3)[None, :], rng.standard_normal((3, 3))
        outs = [omnibus.omnibus(frame.assign(value=(70 + 2 * shared + sd * noise).ravel()), anova=False)
                for sd in (0.5, 1.5, 2.5)]
        assert len({round(o["p_value"], 12) for o in outs}) == 1
        assert len({o["gap_ci_low"] > 0 or o["gap_ci_high"] < 0 for o in outs}) == 1


def test_vectorised_calls_match_the_report_wrappers():
    assert _script().cross_check(seed=0, reps=3) < 1e-8


def test_a_rate_outside_its_band_prints_outside_and_fails(monkeypatch, capsys):
    cal = _script()
    monkeypatch.setitem(cal.BANDS, "average", {"coverage": ("95%", 0.99, 1.0)})
    monkeypatch.setitem(cal.GRIDS, "average", {"k": [2], "n": [3], "tau2": [0.0], "sd": [1.5]})
    assert cal.main(["--reps", "50", "--only", "average", "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "OUTSIDE" in out and "1 OUTSIDE their band" in out


def test_a_miscalibrated_interval_is_caught(monkeypatch):
    """The fixed-effect z interval the average once used (sd^2 / n from 3 seeds treated as known) must fail."""
    cal = _script()
    real = cal.pooling.equal_weight_average

    def fixed_effect(delta, sd, n, df=None, *, level=0.95):
        a = real(delta, sd, n, df, level=level)
        return a._replace(low=a.mean - 1.96 * a.se, high=a.mean + 1.96 * a.se)

    monkeypatch.setattr(cal.pooling, "equal_weight_average", fixed_effect)
    df = cal.run(200, seed=0, only=["average"], grids={"average": {"k": [2, 4], "n": [3], "tau2": [0.0], "sd": [1.5]}})
    assert (df["verdict"] == "OUTSIDE").all() and (df["measured"] < 0.92).all(), df.to_string()


def test_markdown_page_is_written_atomically(tmp_path, monkeypatch):
    cal = _script()
    monkeypatch.setitem(cal.GRIDS, "win_rate", {"P": [0.5], "k": [2], "n": [3]})
    page = tmp_path / "calibration.md"
    assert cal.main(["--reps", "50", "--only", "win_rate", "--jobs", "1", "--markdown", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Calibration") and "## win_rate" in text and "--markdown" in text
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.md"]  # no temporary file left behind


def test_unknown_family_is_refused():
    with pytest.raises(SystemExit):
        _script().main(["--only", "nope"])
    with pytest.raises(ValueError, match="unknown family"):
        _script().run(10, only=["nope"])
