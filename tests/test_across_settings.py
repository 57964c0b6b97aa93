"""ecabench.across_settings and report.verdict_figures: each number equals the library called directly."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from ecabench import across_settings as A
from ecabench import stats

NB = 300  # bootstrap draws in tests
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
    return A.across_settings(df, "base", n_boot=NB, bayes_samples=NS)


def _hand(df, v, b="base"):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    d = (w[v] - w[b]).dropna()
    g = d.groupby(level="setting", sort=False)
    return g.mean().to_numpy(), (g.var(ddof=1) / g.count()).to_numpy(), d


def test_columns_in_order(table):
    assert list(table.columns[:23]) == A.COLUMNS[:23]
    assert list(table["variant"]) == ["eca", "se"]


def test_meta_analysis_equals_combine_effects(df, table):
    e, v, _ = _hand(df, "eca")
    res = combine_effects(e, v, method_re="dl")
    fe_ci, re_ci = res.conf_int(alpha=0.05)[:2]
    row = table.set_index("variant").loc["eca"]
    assert res.tau2 > 0  # the data disagree across settings: no truncation at play
    assert row["pooled_delta"] == pytest.approx(res.mean_effect_fe)
    assert row["re_delta"] == pytest.approx(res.mean_effect_re)
    assert row["re_ci_low"] == pytest.approx(re_ci[0]) and row["re_ci_high"] == pytest.approx(re_ci[1])
    assert row["i2"] == pytest.approx(res.i2) and row["tau2"] == pytest.approx(res.tau2)
    # fixed-effect CI by hand: inverse-variance weights, normal quantile
    w = 1 / v
    mean, se = (w * e).sum() / w.sum(), math.sqrt(1 / w.sum())
    z = st.norm.ppf(0.975)
    assert row["pooled_delta"] == pytest.approx(mean)
    assert row["pooled_ci_low"] == pytest.approx(mean - z * se) and row["pooled_ci_high"] == pytest.approx(fe_ci[1])
    assert row["settings"] == 3 and row["n_pairs"] == 24


def test_negative_dl_tau2_is_truncated():
    with np.errstate(all="ignore"):
        raw = combine_effects(np.array([1.0, 1.01]), np.array([0.1, 0.2]), method_re="dl")
    assert raw.tau2 < 0  # statsmodels does not truncate
    m = A.meta([1.0, 1.01], [0.1, 0.2])
    assert m["tau2"] == 0 and m["i2"] == 0 and m["re"] == pytest.approx(m["fe"]) and m["re_low"] == m["fe_low"]


def test_zero_variance_setting_is_skipped_with_a_note():
    m = A.meta([1.0, 2.0, 1.5], [0.1, 0.0, 0.2])
    assert m["k"] == 2 and A.ZERO_SD in m["note"]
    assert m["fe"] == pytest.approx(combine_effects(np.array([1.0, 1.5]), np.array([0.1, 0.2])).mean_effect_fe)


def _pi_groups(df, v="v", b="b"):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    return [(g[v].to_numpy(), g[b].to_numpy()) for _, g in w.groupby(level="setting")]


def test_bootstrap_keeps_pairs_and_is_deterministic():
    # a large per-seed component shared by both variants, a small consistent gain: the variant wins on
    # every seed, so a bootstrap that keeps the pairs never sees a loss; one that breaks them does
    df = _frame({f"s{i}/d": {"b": 0, "v": 1.0} for i in range(3)}, n_seeds=10, shared=5.0, noise=0.2)
    groups = _pi_groups(df)
    paired = A.p_improve(groups, n_boot=NB, seed=3)
    broken = A.p_improve(groups, n_boot=NB, seed=3, paired=False)
    assert paired == (1.0, 1.0, 1.0) and broken[0] == 1.0  # same point estimate
    assert broken[2] - broken[1] > 0.1 and broken[1] < 0.8
    assert A.p_improve(groups, n_boot=NB, seed=3) == paired
    t1 = A.across_settings(df, "b", n_boot=NB, seed=5, bayes_samples=NS)
    t2 = A.across_settings(df, "b", n_boot=NB, seed=5, bayes_samples=NS)
    t3 = A.across_settings(df, "b", n_boot=NB, seed=5, bayes_samples=NS, _paired=False)
    pd.testing.assert_frame_equal(t1, t2)
    r1, r3 = t1.iloc[0], t3.iloc[0]
    assert r1["p_improve_ci_high"] - r1["p_improve_ci_low"] < r3["p_improve_ci_high"] - r3["p_improve_ci_low"]
    # hand point estimate: mean over settings of the fraction of won seeds (ties 1/2)
    hand = np.mean([np.mean((x > y) + 0.5 * (x == y)) for x, y in groups])
    assert r1["p_improve"] == pytest.approx(hand)


def test_p_improve_ties_count_half():
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 4.0, 4.0])
    assert A.p_improve([(x, y)], n_boot=10)[0] == pytest.approx((0.5 + 1 + 0 + 0.5) / 4)


def test_friedman_wilcoxon_holm_and_bayes_equal_the_libraries(df, table):
    w = df.pivot_table(index=["setting", "seed"], columns="variant", values="value").dropna()
    fr = st.friedmanchisquare(w["base"], w["eca"], w["se"])
    assert list(table["p_friedman"]) == pytest.approx([fr.pvalue] * 2, rel=1e-9, abs=0)
    ranks = w.rank(axis=1, ascending=False).mean()
    assert table.set_index("variant")["mean_rank"].to_dict() == pytest.approx(ranks[["eca", "se"]].to_dict())
    assert table.attrs["baseline_mean_rank"] == pytest.approx(ranks["base"])
    p = [st.wilcoxon(w[v], w["base"], zero_method="pratt").pvalue for v in ("eca", "se")]
    assert list(table["p_holm"]) == pytest.approx(list(multipletests(p, method="holm")[1]))
    from baycomp import SignedRankTest

    for _, row in table.iterrows():
        left, rope, right = SignedRankTest.probs(w[row["variant"]].to_numpy(), w["base"].to_numpy(), rope=0.5,
                                                 nsamples=NS, random_state=0)
        assert (row["p_better"], row["p_rope"], row["p_worse"]) == pytest.approx((left, rope, right))
        assert row["p_worse"] + row["p_rope"] + row["p_better"] == pytest.approx(1.0)
    eca = table.set_index("variant").loc["eca"]
    assert eca["p_worse"] > 0.9  # eca is 0.5-2.5 points worse: the direction of baycomp's "right" is right


def test_holm_helper_matches_stats_holm():
    p = [0.01, 0.04, 0.03, float("nan"), 0.2]
    got = A._holm(p)
    assert np.isnan(got[3])
    assert list(np.delete(got, 3)) == pytest.approx([v for v in stats.holm(p) if math.isfinite(v)])


def test_one_setting_gives_nan_meta_analysis_with_note(df):
    one = df[df["setting"] == "resnet20/cifar10"]
    t = A.across_settings(one, "base", n_boot=NB, bayes_samples=NS)
    meta_cols = ["pooled_delta", "pooled_ci_low", "pooled_ci_high", "re_delta", "re_ci_low", "re_ci_high", "i2",
                 "tau2"]
    assert t[meta_cols].isna().all().all()
    assert t["note"].str.contains("no across-settings estimate").all()
    assert t["p_improve"].notna().all()
    assert "see the per-setting table" in A.verdict_words(t.iloc[0])


def test_failed_run_drops_its_pair_only(df):
    bad = df.copy()
    hit = (bad["setting"] == "mbv2/cifar10") & (bad["seed"] == 2) & (bad["variant"] == "eca")
    bad.loc[hit, "value"] = np.nan
    t = A.across_settings(bad, "base", n_boot=NB, bayes_samples=NS).set_index("variant")
    assert t.loc["eca", "n_pairs"] == 23 and t.loc["se", "n_pairs"] == 24
    ps = A.per_setting(bad, "base")
    assert ps.set_index(["variant", "setting"]).loc[("eca", "mbv2/cifar10"), "n"] == 7
    assert t.attrs["ranks"]["n_blocks"].iloc[0] == 23  # the ranks need complete blocks


def test_missing_baseline_says_so(df):
    t = A.across_settings(df, "nope", n_boot=NB, bayes_samples=NS)
    assert (t["note"].str.contains("nothing to compare")).all() and t["pooled_delta"].isna().all()


def test_two_variants_no_friedman(df):
    t = A.across_settings(df[df["variant"] != "se"], "base", n_boot=NB, bayes_samples=NS)
    assert np.isnan(t["p_friedman"]).all() and A.TWO_VARIANTS in t["note"].iloc[0]


def test_verdict_words(table):
    eca = A.verdict_words(table.iloc[0])
    assert "eca is" in eca and "worse than base" in eca and "3 settings" in eca and "disagree" in eca
    assert "P(worse)" in eca and "random effects)" in eca and "reliably below 0.5" in eca
    se = A.verdict_words(table.iloc[1])  # fixed effect above 0, random effects across 0
    assert "better than base" in se and "could go either way" in se
    row = dict(table.iloc[1], pooled_delta=0.1, pooled_ci_low=-0.2, pooled_ci_high=0.4, i2=0.1)
    assert "inside the noise" in A.verdict_words(row) and "disagree" not in A.verdict_words(row)


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
    e, v, _ = _hand(df, "eca", "se")
    res = combine_effects(e, v, method_re="dl")
    assert allrow["delta"].iloc[0] == pytest.approx(res.mean_effect_fe)
    z = res.mean_effect_fe / res.sd_eff_w_fe
    assert allrow["p_value"].iloc[0] == pytest.approx(2 * st.norm.sf(abs(z)))
    across = pw[pw["backbone"] == "all"]
    assert list(across["p_holm"]) == pytest.approx(list(multipletests(across["p_value"], method="holm")[1]))


def test_omnibus_clear_effect_and_gap_ci():
    one = _frame({"r/c": {"a": 0, "b": 1.0, "c": 3.0}}, n_seeds=6)
    o = A.omnibus(one)
    assert o["test"] == "friedman" and o["p_value"] < 0.01 and o["levels"] == 3 and o["n"] == 6
    assert np.isfinite(o["anova_p"]) and o["anova_p"] < 0.01
    assert (o["gap_a"], o["gap_b"]) == ("c", "a")
    w = one.pivot(index="seed", columns="variant", values="value")
    d = w["c"] - w["a"]
    half = st.t.ppf(0.975, 5) * d.std(ddof=1) / math.sqrt(6)
    assert o["largest_gap"] == pytest.approx(d.mean())
    assert (o["gap_ci_low"], o["gap_ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    sd = stats.pooled_sd([(w[x] - w[y]).std(ddof=1) for x, y in [("a", "b"), ("a", "c"), ("b", "c")]], [6] * 3)
    assert o["mde"] == pytest.approx(stats.power(sd, 6).mde)


def test_omnibus_identical_and_degenerate():
    one = _frame({"r/c": {"a": 0, "b": 0, "c": 0}}, n_seeds=5, noise=0.0)
    o = A.omnibus(one)
    assert (np.isnan(o["p_value"]) or o["p_value"] == 1) and o["note"]
    two = A.omnibus(_frame({"r/c": {"a": 0, "b": 2.0}}, n_seeds=5))
    assert two["test"] == "paired t" and two["p_value"] < 0.01
    assert np.isnan(A.omnibus(_frame({"r/c": {"a": 0}}))["p_value"])
    assert np.isnan(A.omnibus(_frame({"r/c": {"a": 0, "b": 1}}, n_seeds=1))["p_value"])


def _ok(paths):
    assert set(paths) == {"png", "svg"}
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0


def test_figures(tmp_path, df, table):
    from ecabench.report import verdict_figures as vf

    _ok(vf.cd_diagram(df, tmp_path / "cd", "cd"))
    _ok(vf.cd_diagram(A.nemenyi(df), tmp_path / "cd2", "cd from ranks"))
    ps = A.per_setting(df, "base")
    _ok(vf.forest_plot(ps[ps["variant"] == "eca"], table.iloc[0], tmp_path / "forest", "eca vs base"))
    empty = df.iloc[:0]
    _ok(vf.cd_diagram(empty, tmp_path / "cd_empty", "none"))
    _ok(vf.forest_plot(A.per_setting(empty, "base"), None, tmp_path / "forest_empty", "none"))
    assert "no paired differences" in (tmp_path / "forest_empty.svg").read_text()
