"""ecabench.analysis.across and friends: each number equals a hand computation or the library called directly."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from ecabench.analysis import across as A
from ecabench.analysis import omnibus as O
from ecabench.analysis import paired as stats
from ecabench.analysis import pooling, ranks, wins

NS = 2000  # baycomp samples in tests


def _frame(effects: dict, n_seeds: int = 8, shared: float = 1.0, noise: float = 0.3, seed: int = 1) -> pd.DataFrame:
    """Per setting, each variant = 90 + a per-seed component shared by all variants + effect + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for setting, eff in effects.items():
        for s in range(n_seeds):
            c = rng.normal(0, shared)
            rows += [(setting, s, v, 90 + c + e + rng.normal(0, noise)) for v, e in eff.items()]
    return pd.DataFrame(rows, columns=["setting", "seed", "variant", "value"])


EFFECTS = {"resnet20/fashion-mnist": {"base": 0, "eca": -1.5, "se": 0.3},
           "resnet20/cifar10": {"base": 0, "eca": -2.5, "se": 0.1},
           "mbv2/cifar10": {"base": 0, "eca": -0.5, "se": 0.5}}


@pytest.fixture(scope="module")
def df():
    return _frame(EFFECTS)


@pytest.fixture(scope="module")
def table(df):
    return A.across_settings(df, "base", bayes_samples=NS)


def _hand(df, v, b="base"):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    d = (w[v] - w[b]).dropna()
    g = d.groupby(level="setting", sort=False)
    return g.mean().to_numpy(), (g.var(ddof=1) / g.count()).to_numpy(), d


def test_columns_in_order(table):
    assert list(table.columns) == A.COLUMNS
    assert list(table["variant"]) == ["eca", "se"]


def _welch(e, sd, n, level=0.95):
    v = sd ** 2 / n
    k = len(e)
    se = math.sqrt(v.sum()) / k
    df = v.sum() ** 2 / (v ** 2 / (n - 1)).sum()
    half = st.t.ppf(0.5 + level / 2, df) * se
    return e.mean(), e.mean() - half, e.mean() + half, df


def test_average_is_the_equal_weight_mean_with_a_welch_satterthwaite_t_interval(df, table):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    d = (w["eca"] - w["base"]).groupby(level="setting", sort=False)
    e, sd, n = d.mean().to_numpy(), d.std(ddof=1).to_numpy(), d.count().to_numpy().astype(float)
    mean, lo, hi, df_ws = _welch(e, sd, n)
    row = table.set_index("variant").loc["eca"]
    got = (row["avg_delta"], row["avg_ci_low"], row["avg_ci_high"], row["avg_df"])
    assert got == pytest.approx((mean, lo, hi, df_ws))
    assert 2 < df_ws < 3 * 7  # between the smallest per-setting df and their sum
    se = (hi - lo) / 2 / st.t.ppf(0.975, df_ws)
    assert row["avg_p"] == pytest.approx(2 * st.t.sf(abs(mean / se), df_ws))
    assert row["settings"] == 3 and row["n_pairs"] == 24


def test_new_setting_is_a_t_interval_over_the_settings_and_a_prediction(df, table):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    e = (w["eca"] - w["base"]).groupby(level="setting", sort=False).mean().to_numpy()
    q, s = st.t.ppf(0.975, 2), e.std(ddof=1)
    row = table.set_index("variant").loc["eca"]
    assert (row["new_ci_low"], row["new_ci_high"]) == pytest.approx((e.mean() - q * s / math.sqrt(3),
                                                                     e.mean() + q * s / math.sqrt(3)))
    assert (row["new_pi_low"], row["new_pi_high"]) == pytest.approx((e.mean() - q * s * math.sqrt(4 / 3),
                                                                     e.mean() + q * s * math.sqrt(4 / 3)))
    v = (w["eca"] - w["base"]).groupby(level="setting", sort=False).var(ddof=1).to_numpy() / 8
    res = combine_effects(e, v, method_re="dl")
    assert res.tau2 > 0 and (row["tau2"], row["i2"]) == pytest.approx((res.tau2, res.i2))


def test_two_settings_cannot_speak_for_a_new_one(df):
    two = A.across_settings(df[df["setting"] != "mbv2/cifar10"], "base", bayes_samples=NS)
    assert two["new_pi_low"].isna().all() and two["new_ci_low"].isna().all()
    assert two["avg_ci_low"].notna().all() and (two["settings"] == 2).all()
    assert "cannot speak for a new backbone" in two["note"].iloc[0]
    assert "cannot speak for a new backbone" in A.verdict_words(two.iloc[0]) and "expect" not in A.verdict_words(
        two.iloc[0])


def test_heterogeneity_is_truncated_at_zero():
    with np.errstate(all="ignore"):
        raw = combine_effects(np.array([1.0, 1.01]), np.array([0.1, 0.2]), method_re="dl")
    assert raw.tau2 < 0  # statsmodels does not truncate
    assert pooling.heterogeneity([1.0, 1.01], [0.1, 0.2]) == (0.0, 0.0)


def test_average_broadcasts_over_replications():
    rng = np.random.default_rng(0)
    e, sd = rng.normal(size=(5, 3)), rng.uniform(0.5, 2, size=(5, 3))
    n = np.full((5, 3), 4.0)
    batch = pooling.equal_weight_average(e, sd, n)
    for i in range(5):
        one = pooling.equal_weight_average(e[i], sd[i], n[i])
        assert (batch.low[i], batch.high[i]) == pytest.approx((float(one.low), float(one.high)))
        assert batch.low[i] == pytest.approx(_welch(e[i], sd[i], n[i])[1])


def test_win_counts_and_clopper_pearson(df, table):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    d = (w["se"] - w["base"]).to_numpy()
    row = table.set_index("variant").loc["se"]
    assert (row["wins"], row["ties"], row["losses"]) == (int((d > 0).sum()), 0, int((d < 0).sum()))
    lo, hi = proportion_confint(row["wins"], 24, alpha=0.05, method="beta")
    assert (row["win_rate"], row["win_ci_low"], row["win_ci_high"]) == pytest.approx((row["wins"] / 24, lo, hi))


def test_a_variant_that_loses_every_seed_keeps_an_interval_of_positive_width():
    r = wins.win_rate([np.array([-1.0, -2.0, -0.5]), np.array([-1.0, -0.1, -0.2])])
    assert (r["wins"], r["ties"], r["losses"], r["p"]) == (0, 0, 6, 0.0)
    assert r["low"] == 0.0 and r["high"] == pytest.approx(1 - 0.025 ** (1 / 6))
    assert wins.counts([1.0, 0.0, -1.0, np.nan]) == (1, 1, 1)


def test_stein_interval_uses_the_stage_1_sd_and_its_degrees_of_freedom():
    a = {s: v for s, v in enumerate([1.0, 3.0, 2.5, 0.0, 4.0, 2.0])}
    b = dict.fromkeys(a, 0.0)
    r = stats.paired_difference(a, b, stage1=[0, 1, 2])
    d = np.array(list(a.values()))
    s0 = d[:3].std(ddof=1)
    half = st.t.ppf(0.975, 2) * s0 / math.sqrt(6)
    assert (r.delta_mean, r.delta_std, r.ci_low, r.ci_high) == pytest.approx((d.mean(), s0, d.mean() - half,
                                                                              d.mean() + half))
    assert r.df == 2 and r.method == "stein" and r.n_pairs == 6
    assert r.p_value == pytest.approx(2 * st.t.sf(d.mean() / (s0 / math.sqrt(6)), 2))
    naive = stats.paired_difference(a, b)
    assert naive.method == "t" and naive.df == 5 and naive.ci_low != pytest.approx(r.ci_low)


def test_two_stage_settings_feed_stein_into_the_average(df):
    first = {s: [0, 1, 2] for s in EFFECTS}
    ps = A.per_setting(df, "base", stage1=first)
    assert set(ps["method"]) == {"stein"} and set(ps["df"]) == {2}
    t = A.across_settings(df, "base", bayes_samples=NS, stage1=first).set_index("variant")
    e = ps[ps["variant"] == "eca"]
    assert t.loc["eca", "avg_ci_low"] == pytest.approx(
        float(pooling.equal_weight_average(e["delta"], e["sd"], e["n"], e["df"]).low))


def test_friedman_wilcoxon_holm_and_bayes_equal_the_libraries(df, table):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value").dropna()
    fr = st.friedmanchisquare(w["base"], w["eca"], w["se"])
    assert list(table["p_friedman"]) == pytest.approx([fr.pvalue] * 2, rel=1e-9, abs=0)
    rk = w.rank(axis=1, ascending=False).mean()
    assert table.set_index("variant")["mean_rank"].to_dict() == pytest.approx(rk[["eca", "se"]].to_dict())
    assert table.attrs["baseline_mean_rank"] == pytest.approx(rk["base"])
    p = [st.wilcoxon(w[v], w["base"], zero_method="pratt").pvalue for v in ("eca", "se")]
    assert list(table["p_holm"]) == pytest.approx(list(multipletests(p, method="holm")[1]))
    from baycomp import SignedRankTest

    for _, row in table.iterrows():
        left, rope, right = SignedRankTest.probs(w[row["variant"]].to_numpy(), w["base"].to_numpy(), rope=0.5,
                                                 nsamples=NS, random_state=0)
        assert (row["bayes_better"], row["bayes_rope"], row["bayes_worse"]) == pytest.approx((left, rope, right))
    eca = table.set_index("variant").loc["eca"]
    assert eca["bayes_worse"] > 0.9  # eca is 0.5-2.5 points worse: the direction of baycomp's "right" is right


def test_holm_is_statsmodels_and_skips_nan():
    p = [0.01, 0.04, 0.03, float("nan"), 0.2]
    got = stats.holm(p)
    assert math.isnan(got[3])
    assert [got[i] for i in (0, 1, 2, 4)] == pytest.approx(list(multipletests([0.01, 0.04, 0.03, 0.2],
                                                                              method="holm")[1]))


def test_one_setting_gives_per_setting_figures_only(df):
    one = df[df["setting"] == "resnet20/cifar10"]
    t = A.across_settings(one, "base", bayes_samples=NS)
    assert (t["settings"] == 1).all() and t["new_pi_low"].isna().all()
    ps = A.per_setting(one, "base").set_index("variant")
    assert t.set_index("variant")["avg_ci_low"].to_dict() == pytest.approx(ps["ci_low"].to_dict())
    assert t["wins"].notna().all()


def test_failed_run_drops_its_pair_only(df):
    bad = df.copy()
    hit = (bad["setting"] == "mbv2/cifar10") & (bad["seed"] == 2) & (bad["variant"] == "eca")
    bad.loc[hit, "value"] = np.nan
    t = A.across_settings(bad, "base", bayes_samples=NS).set_index("variant")
    assert t.loc["eca", "n_pairs"] == 23 and t.loc["se", "n_pairs"] == 24
    ps = A.per_setting(bad, "base")
    assert ps.set_index(["variant", "setting"]).loc[("eca", "mbv2/cifar10"), "n"] == 7
    assert t.attrs["ranks"]["n_blocks"].iloc[0] == 23  # the ranks need complete blocks


def test_missing_baseline_says_so(df):
    t = A.across_settings(df, "nope", bayes_samples=NS)
    assert (t["note"].str.contains("nothing to compare")).all() and t["avg_delta"].isna().all()


def test_two_variants_no_friedman(df):
    t = A.across_settings(df[df["variant"] != "se"], "base", bayes_samples=NS)
    assert np.isnan(t["p_friedman"]).all() and ranks.TWO_VARIANTS in t["note"].iloc[0]


def test_verdict_words(table):
    eca = A.verdict_words(table.iloc[0])
    assert "eca is" in eca and "worse than base" in eca and "averaged over these 3 settings" in eca
    assert "on a new setting expect" in eca and "P(worse)" in eca and "better on 0 of 24 paired seeds" in eca
    row = dict(table.iloc[1], avg_delta=0.1, avg_ci_low=-0.2, avg_ci_high=0.4)
    assert "inside the noise" in A.verdict_words(row)


def test_pairwise(df):
    pw = A.pairwise(df)
    for setting in EFFECTS:
        b, d = setting.split("/", 1)
        sub = pw[(pw["backbone"] == b) & (pw["dataset"] == d)]
        assert len(sub[(sub["a"] == "eca") & (sub["b"] == "se")]) == 1
        assert list(sub["p_holm"]) == pytest.approx(list(multipletests(sub["p_value"], method="holm")[1]))
        w = df[df["setting"] == setting].pivot(index="seed", columns="variant", values="value")
        r = sub[(sub["a"] == "eca") & (sub["b"] == "se")].iloc[0]
        assert r["p_value"] == pytest.approx(st.ttest_rel(w["eca"], w["se"]).pvalue)
    allrow = pw[(pw["backbone"] == "all") & (pw["a"] == "eca") & (pw["b"] == "se")]
    assert len(allrow) == 1 and allrow["dataset"].iloc[0] == "all" and allrow["n"].iloc[0] == 24
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    g = (w["eca"] - w["se"]).groupby(level="setting", sort=False)
    mean, lo, hi, df_ws = _welch(g.mean().to_numpy(), g.std(ddof=1).to_numpy(), g.count().to_numpy().astype(float))
    got = (allrow["delta"].iloc[0], allrow["ci_low"].iloc[0], allrow["ci_high"].iloc[0])
    assert got == pytest.approx((mean, lo, hi))
    se = (hi - lo) / 2 / st.t.ppf(0.975, df_ws)
    assert allrow["p_value"].iloc[0] == pytest.approx(2 * st.t.sf(abs(mean / se), df_ws))
    across = pw[pw["backbone"] == "all"]
    assert list(across["p_holm"]) == pytest.approx(list(multipletests(across["p_value"], method="holm")[1]))


def test_omnibus_clear_effect_and_a_simultaneous_gap_ci():
    one = _frame({"r/c": {"a": 0, "b": 1.0, "c": 3.0}}, n_seeds=6)
    o = O.omnibus(one)
    assert o["test"] == "friedman" and o["p_value"] < 0.01 and o["levels"] == 3 and o["n"] == 6
    assert np.isfinite(o["anova_p"]) and o["anova_p"] < 0.01
    assert (o["gap_a"], o["gap_b"]) == ("c", "a")
    w = one.pivot(index="seed", columns="variant", values="value")
    d = w["c"] - w["a"]
    assert o["gap_level"] == pytest.approx(1 - 0.05 / 3)  # Bonferroni over the 3 pairs it was picked from
    half = st.t.ppf(1 - 0.025 / 3, 5) * d.std(ddof=1) / math.sqrt(6)
    assert o["largest_gap"] == pytest.approx(d.mean())
    assert (o["gap_ci_low"], o["gap_ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    sd = stats.pooled_sd([(w[x] - w[y]).std(ddof=1) for x, y in [("a", "b"), ("a", "c"), ("b", "c")]], [6] * 3)
    assert o["mde"] == pytest.approx(stats.power(sd, 6).mde)
    assert np.isnan(O.omnibus(one, anova=False)["anova_p"])


def test_omnibus_identical_and_degenerate():
    one = _frame({"r/c": {"a": 0, "b": 0, "c": 0}}, n_seeds=5, noise=0.0)
    o = O.omnibus(one)
    assert (np.isnan(o["p_value"]) or o["p_value"] == 1) and o["note"]
    two = O.omnibus(_frame({"r/c": {"a": 0, "b": 2.0}}, n_seeds=5))
    assert two["test"] == "paired t" and two["p_value"] < 0.01 and two["gap_level"] == pytest.approx(0.95)
    assert np.isnan(O.omnibus(_frame({"r/c": {"a": 0}}))["p_value"])
    assert np.isnan(O.omnibus(_frame({"r/c": {"a": 0, "b": 1}}, n_seeds=1))["p_value"])


def _ok(paths):
    assert set(paths) == {"png", "svg"}
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0


def test_figures(tmp_path, df, table):
    from ecabench.report import verdict_figures as vf

    _ok(vf.cd_diagram(ranks.nemenyi(df), tmp_path / "cd", "cd from ranks"))
    _ok(vf.forest_plot(table.attrs["per_setting"], table, tmp_path / "forest", "every variant vs base"))
    svg = (tmp_path / "forest.svg").read_text()
    assert "average of 3 settings" in svg and "se · mbv2/cifar10" in svg
    empty = df.iloc[:0]
    _ok(vf.cd_diagram(ranks.nemenyi(empty), tmp_path / "cd_empty", "none"))
    _ok(vf.forest_plot(A.per_setting(empty, "base"), None, tmp_path / "forest_empty", "none"))
    assert "no paired differences" in (tmp_path / "forest_empty.svg").read_text()
