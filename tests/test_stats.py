"""Seed statistics against hand-computed values (t quantiles written out, not recomputed)."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from ecabench.analysis import paired as stats

T975_DF2 = 4.302652729911275   # t_{0.975} with 2 degrees of freedom
T975_DF3 = 3.182446305284263   # t_{0.975} with 3 degrees of freedom


def test_summarise_known_values():
    s = stats.summarise([1, 2, 3, 4])
    assert s.n == 4
    assert s.mean == pytest.approx(2.5)
    std = math.sqrt(5 / 3)  # sum of squares 5, ddof=1
    assert s.std == pytest.approx(std)
    half = T975_DF3 * std / 2
    assert s.ci_low == pytest.approx(2.5 - half)
    assert s.ci_high == pytest.approx(2.5 + half)
    assert (s.ci_low, s.ci_high) == pytest.approx((0.44574, 4.55426), abs=1e-5)
    assert s.note == ""


def test_summarise_ignores_nan_and_none_and_accepts_mappings():
    s = stats.summarise({0: 1.0, 1: None, 2: float("nan"), 3: 3.0})
    assert s.n == 2 and s.mean == 2.0 and s.std == pytest.approx(math.sqrt(2))
    assert s.ci_high - s.mean == pytest.approx(12.706204736174707 * math.sqrt(2) / math.sqrt(2))


def test_summarise_n_too_small():
    one = stats.summarise([75.0])
    assert one.n == 1 and one.mean == 75.0
    assert math.isnan(one.std) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    assert one.note == stats.N_TOO_SMALL
    empty = stats.summarise([])
    assert empty.n == 0 and math.isnan(empty.mean) and empty.note == stats.N_TOO_SMALL


def test_summarise_zero_variance():
    s = stats.summarise([70.0, 70.0, 70.0])
    assert s.std == 0 and s.ci_low == s.ci_high == 70.0


def test_paired_difference_against_hand_values_and_scipy():
    a = {0: 76.1, 1: 76.5, 2: 75.9}
    b = {2: 75.9, 0: 75.8, 1: 76.0}  # different order: matched by seed, not position
    r = stats.paired_difference(a, b)
    d = np.array([0.3, 0.5, 0.0])
    mean, sd = d.mean(), d.std(ddof=1)
    t_hand = mean / (sd / math.sqrt(3))
    assert r.n_pairs == 3
    assert r.delta_mean == pytest.approx(0.266666666, abs=1e-8)
    assert r.delta_std == pytest.approx(0.2516611478, abs=1e-8)
    assert r.t_stat == pytest.approx(t_hand) and r.t_stat == pytest.approx(1.8353258709, abs=1e-8)
    ref = st.ttest_rel([76.1, 76.5, 75.9], [75.8, 76.0, 75.9])
    assert r.p_value == pytest.approx(ref.pvalue)
    assert r.p_value == pytest.approx(2 * st.t.sf(t_hand, 2))
    half = T975_DF2 * sd / math.sqrt(3)
    assert (r.ci_low, r.ci_high) == pytest.approx((mean - half, mean + half))
    assert stats.inside_noise(r.ci_low, r.ci_high)
    assert stats.verdict(r) == stats.INSIDE_NOISE


def test_paired_difference_uses_only_shared_seeds_and_series():
    a = pd.Series({0: 80.0, 1: 81.0, 2: 82.0, 3: 99.0})  # seed 3 has no partner
    b = pd.Series({0: 79.0, 1: 79.5, 2: 80.5, 4: 10.0})
    r = stats.paired_difference(a, b)
    assert r.n_pairs == 3
    assert r.delta_mean == pytest.approx((1.0 + 1.5 + 1.5) / 3)
    assert r.p_value == pytest.approx(st.ttest_rel([80, 81, 82], [79, 79.5, 80.5]).pvalue)


def test_paired_difference_n_too_small():
    r = stats.paired_difference({0: 1.0, 1: 2.0}, {0: 0.5, 5: 3.0})
    assert r.n_pairs == 1 and r.delta_mean == 0.5
    assert math.isnan(r.p_value) and math.isnan(r.ci_low) and math.isnan(r.ci_high)
    assert r.note == stats.N_TOO_SMALL and stats.verdict(r) == stats.N_TOO_SMALL
    none = stats.paired_difference({}, {0: 1.0})
    assert none.n_pairs == 0 and math.isnan(none.delta_mean) and none.note == stats.N_TOO_SMALL


def test_paired_difference_zero_variance_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tie = stats.paired_difference({0: 75.0, 1: 76.0, 2: 74.0}, {0: 75.0, 1: 76.0, 2: 74.0})
        shift = stats.paired_difference({0: 76.0, 1: 77.0, 2: 75.0}, {0: 75.0, 1: 76.0, 2: 74.0})
    assert tie.delta_mean == 0 and tie.p_value == 1.0 and (tie.ci_low, tie.ci_high) == (0.0, 0.0)
    assert stats.verdict(tie) == stats.INSIDE_NOISE
    assert shift.delta_mean == pytest.approx(1.0) and shift.p_value == 0.0
    assert shift.ci_low == pytest.approx(1.0) and shift.ci_high == pytest.approx(1.0)
    assert stats.verdict(shift) == "better"


def test_inside_noise():
    assert stats.inside_noise(-0.1, 0.4)
    assert stats.inside_noise(0.0, 0.4)
    assert not stats.inside_noise(0.1, 0.4)
    assert not stats.inside_noise(-0.5, -0.1)
    assert stats.inside_noise(float("nan"), float("nan"))  # no interval: no evidence of a difference


def test_verdict_worse():
    r = stats.paired_difference({0: 70.0, 1: 70.5, 2: 70.2}, {0: 75.0, 1: 75.2, 2: 75.1})
    assert stats.verdict(r) == "worse"
    assert stats.verdict(r, higher_is_better=False) == "better"


def test_holm():
    adj = stats.holm([0.01, 0.04, float("nan"), 0.03])
    assert adj[0] == pytest.approx(0.03)
    assert adj[3] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)
    assert math.isnan(adj[2])


def test_pareto_front():
    df = pd.DataFrame({
        "spec": ["none", "eca", "se", "cbam", "bad"],
        "params": [100, 101, 120, 121, 130],
        "acc": [90.0, 91.0, 91.5, 91.2, float("nan")],
        "ips": [1000, 980, 800, 600, 2000],
    })
    front = stats.pareto_front(df, "params", "acc")
    assert list(front["spec"]) == ["none", "eca", "se"]  # cbam dominated by se; NaN never on the front
    fast = stats.pareto_front(df, "ips", "acc", minimise_x=False)
    assert set(fast["spec"]) == {"none", "eca", "se"}
    assert list(stats.pareto_mask(df, "params", "acc")) == [True, True, True, False, False]
    # equal points do not dominate each other
    eq = pd.DataFrame({"x": [1, 1], "y": [2, 2]})
    assert stats.pareto_mask(eq, "x", "y").all()


# ------------------------------------------------------------------------------------------ power
@pytest.mark.parametrize("sd, n", [(0.66, 6), (1.3, 4), (0.4, 12), (2.5, 2)])
def test_mde_is_statsmodels_solved_effect_size_times_sd(sd, n):
    from statsmodels.stats.power import TTestPower

    expected = TTestPower().solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    assert stats.power(sd, n).mde == pytest.approx(expected * sd, rel=1e-6)


@pytest.mark.parametrize("sd", [0.66, 1.0, 1.5, 3.0])
def test_seeds_needed_match_statsmodels_rounded_up(sd):
    from statsmodels.stats.power import TTestPower

    got = stats.power(sd, 5, targets=(0.5, 1.0)).seeds_for
    for target in (0.5, 1.0):
        need = TTestPower().solve_power(effect_size=target / sd, nobs=None, alpha=0.05, power=0.8)
        assert got[target] == max(2, math.ceil(need))
        # and that many seeds really reach 80% power, one fewer does not
        power = TTestPower().power(effect_size=target / sd, nobs=got[target], alpha=0.05)
        assert power >= 0.8
        if got[target] > 2:
            assert TTestPower().power(effect_size=target / sd, nobs=got[target] - 1, alpha=0.05) < 0.8


def test_power_on_degenerate_input_says_why():
    assert stats.power(1.0, 1).note == stats.N_TOO_SMALL and math.isnan(stats.power(1.0, 1).mde)
    assert stats.power(math.nan, 5).note == stats.N_TOO_SMALL
    tie = stats.power(0.0, 4)
    assert tie.mde == 0.0 and tie.seeds_for == {0.5: 2, 1.0: 2}
    # very precise comparisons need the minimum of two seeds; huge effects do not make the solver fail
    assert stats.power(1e-3, 3).seeds_for[1.0] == 2
    assert stats.power(0.05, 8).mde > 0


# ---------------------------------------------------------------------------- bounded intervals
def test_no_interval_leaves_the_metric_range():
    few = stats.summarise([64.4, 72.9], bounds=stats.PCT_RANGE)  # n = 2: t = 12.7
    assert 0.0 <= few.ci_low <= few.mean <= few.ci_high == 100.0 and few.note == stats.CLIPPED
    low = stats.summarise([0.5, 3.0], bounds=stats.PCT_RANGE)
    assert low.ci_low == 0.0 and low.note == stats.CLIPPED
    fine = stats.summarise([70.1, 70.3, 70.2, 70.4], bounds=stats.PCT_RANGE)
    assert fine.note == "" and 0 < fine.ci_low < fine.ci_high < 100
    d = stats.paired_difference({0: 99.0, 1: 1.0}, {0: 1.0, 1: 50.0}, bounds=stats.PCT_DELTA_RANGE)
    assert -100.0 <= d.ci_low and d.ci_high <= 100.0 and d.note == stats.CLIPPED


def test_pooled_sd_weights_by_degrees_of_freedom():
    assert stats.pooled_sd([1.0, 3.0], [2, 2]) == pytest.approx(math.sqrt(5.0))
    assert stats.pooled_sd([1.0, 3.0], [5, 1]) == pytest.approx(1.0)  # n = 1 has no variance to pool
    assert math.isnan(stats.pooled_sd([math.nan], [3]))
