"""The ECA paper's Table 2 beside the suite's differences (report section of the Table-2 study)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecabench.analysis.variant_table import variant_table
from ecabench.reference import TABLE2_SPECS
from ecabench.report.table2 import table2_table
from ecabench.specs import parse_spec


def _tidy(specs, settings=("cifar_resnet20", "cifar_resnet32")) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for b in settings:
        for seed in range(4):
            shared = rng.normal(76, 1)
            for i, spec in enumerate(specs):
                s = parse_spec(spec)
                rows.append({"study": "eca_table2", "run_id": f"{b}{spec}{seed}", "backbone": b,
                             "dataset": "fashion-mnist", "variant": s.name, "spec": str(s), "spec_id": s.id,
                             "architecture_id": f"{b}{spec}", "seed": seed, "status": "ok",
                             "metric": "test_top1_pct", "value": shared - 0.3 * i + rng.normal(0, 0.2),
                             "implementation": "", "k_per_stage": "", "k_param": "", "gamma": np.nan,
                             "b": np.nan, "odd": None, "aliases": "", "error": "", "device": "cpu"})
    return pd.DataFrame(rows)


def test_table2_rows_put_the_paper_beside_our_paired_differences():
    vt = variant_table(_tidy(list(TABLE2_SPECS.values())), "none")
    raw, formatted, note = table2_table(vt)
    assert list(raw["method"])[:3] == ["vanilla", "se", "se_var1"] and len(raw) == 10
    eca = raw.set_index("method").loc["eca"]
    assert eca["paper_top1"] == pytest.approx(77.43) and eca["paper_delta_top1"] == pytest.approx(77.43 - 75.20)
    ours = vt[(vt["spec_id"] == parse_spec("eca(k=3)").id) & (vt["backbone"] == "cifar_resnet32")].iloc[0]
    assert eca["cifar_resnet32/fashion-mnist delta"] == pytest.approx(ours["delta_top1"])
    assert formatted.loc[0, "Ours Δ top-1, cifar_resnet20/fashion-mnist [95% CI]"] == "(baseline)"
    assert "Table 2" in note and "92.52" in note  # the Vanilla top-5 discrepancy is stated


def test_a_study_without_the_papers_designs_gets_no_table2():
    assert table2_table(variant_table(_tidy(["none", "eca", "se", "cbam"]), "none")) is None
