"""The report's verdict across settings: tables and sentences a study writes from its tidy rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecabench.analysis.across import COLUMNS
from ecabench.report.verdicts import omnibus_words, verdict_section

EFFECT = {"none": 0.0, "eca": -1.5, "se": -2.0, "cbam": -4.0}


def _tidy(settings=("cifar_resnet20", "mobilenet_v2(width_mult=0.35)"), seeds=range(6), effect=EFFECT) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for b in settings:
        for s in seeds:
            shared = rng.normal(76, 1.0)  # the seed's draw, common to every variant (CRN)
            for spec, eff in effect.items():
                rows.append({"run_id": f"{b}-{spec}-{s}", "backbone": b, "dataset": "fashion-mnist", "seed": s,
                             "spec": spec, "status": "ok", "metric": "test_top1_pct",
                             "value": shared + eff + rng.normal(0, 0.4)})
    return pd.DataFrame(rows)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "figures").mkdir()
    return {"out_dir": tmp_path, "metric": "test_top1_pct", "rope": 0.5, "bayes_samples": 2000}


def test_zoo_across_two_backbones_writes_the_verdict_tables(ctx):
    out = verdict_section("attention_zoo", "Attention zoo", _tidy(), "none", ctx, "zoo")
    across = pd.read_csv(ctx["out_dir"] / "tables" / "attention_zoo__across_settings.csv")
    assert list(across["variant"]) == ["eca", "se", "cbam"] and (across["settings"] == 2).all()
    assert list(across.columns) == COLUMNS
    eca = across.set_index("variant").loc["eca"]
    assert eca["avg_ci_low"] < -1.5 < eca["avg_ci_high"] and eca["avg_ci_high"] < 0
    assert eca["bayes_worse"] > 0.9 and eca["n_pairs"] == 12 and eca["wins"] + eca["ties"] + eca["losses"] == 12
    assert across["new_pi_low"].isna().all()  # two settings: nothing said about a new one
    pw = pd.read_csv(ctx["out_dir"] / "tables" / "attention_zoo__pairwise.csv")
    assert {"backbone", "dataset", "a", "b", "delta", "ci_low", "ci_high", "p_holm", "n"} <= set(pw.columns)
    eca_se = pw[(pw["a"] == "eca") & (pw["b"] == "se")]
    assert set(eca_se["backbone"]) == {"cifar_resnet20", "mobilenet_v2(width_mult=0.35)", "all"}
    assert eca_se.loc[eca_se["backbone"] == "all", "delta"].iloc[0] == pytest.approx(0.5, abs=0.4)
    sentence = out["sentence"]
    assert sentence.startswith("Attention zoo — averaged over these 2 settings, Δ top-1 vs none (95% CI): eca ")
    assert "cannot speak for a new backbone" in sentence and "the most accurate attention module is eca" in sentence
    assert len(out["headline"]) == 3 and "New setting [≥95% prediction]" not in out["headline"][0]
    assert len(out["answers"]) == 3 and "worse" in out["answers"][0]
    assert [f["kind"] for f in out["figures"]] == ["forest", "cd_diagram"] and out["forest"] is out["figures"][0]


def test_one_setting_says_what_it_cannot_tell(ctx):
    out = verdict_section("zoo1", "Zoo", _tidy(settings=("cifar_resnet20",)), "none", ctx, "zoo")
    across = pd.read_csv(ctx["out_dir"] / "tables" / "zoo1__across_settings.csv")
    assert (across["settings"] == 1).all() and across["new_pi_low"].isna().all()
    assert out["headline"] == [] and out["sentence"] == "" and out["forest"] is None  # nothing across settings


def test_design_study_gets_an_omnibus_answer_per_setting(ctx):
    effect = {"none": 0.0, "eca": -1.0, "eca(k=1)": -1.0, "eca(k=7)": -1.0}  # k does not matter here
    out = verdict_section("eca_kernel", "ECA kernel size", _tidy(effect=effect), "eca", ctx, "kernel")
    om = pd.read_csv(ctx["out_dir"] / "tables" / "eca_kernel__omnibus.csv")
    assert {"backbone", "dataset", "test", "statistic", "p_value", "levels", "n", "gap_level"} <= set(om.columns)
    assert len(om) == 2 and (om["levels"] == 3).all() and (om["test"] == "friedman").all()  # `none` is no level
    assert om["gap_level"].tolist() == pytest.approx([1 - 0.05 / 3] * 2)
    assert out["sentence"].startswith("ECA kernel size — cifar_resnet20/fashion-mnist: ")
    assert "no detectable effect of k" in out["sentence"] or "k matters" in out["sentence"]


def test_omnibus_words():
    r = {"p_value": 0.001, "test": "friedman", "levels": 4, "n": 8, "gap_a": "eca(k=7)", "gap_b": "eca(k=1)",
         "largest_gap": 2.0, "gap_ci_low": 1.0, "gap_ci_high": 3.0, "gap_level": 1 - 0.05 / 6, "mde": 1.2, "note": ""}
    assert omnibus_words(r, "k").startswith("k matters (friedman p = 0.0010, 4 levels, n = 8 seeds; largest gap")
    assert "post hoc: 99.2% CI, simultaneous over the pairs" in omnibus_words(r, "k")
    r["p_value"] = 0.4
    assert "no detectable effect of k" in omnibus_words(r, "k") and "smallest detectable gap 1.20" in omnibus_words(
        r, "k")
    assert omnibus_words({"p_value": float("nan"), "note": "n too small"}, "k").startswith("cannot tell")


def test_tuned_labels_round_to_4_significant_digits_and_show_k_per_stage():
    from ecabench.aggregate.tuned import tuned_label

    assert tuned_label("eca(gamma=3.1455680991172583,b=1.0976270078546495)", [1, 1, 3]) == \
        "eca(gamma=3.146,b=1.098) [k 1,1,3]"
    assert tuned_label("se(r=8)", None) == "se(r=8)"
