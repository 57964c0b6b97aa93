"""The ECA paper's Tables 3 and 2 as shipped with the package, and the suite specs their rows name.

The tables (``eca_paper_table3.csv``, ``eca_paper_table2.csv``; sources and units in ``README.md``
beside them) are data, not code: the report compares with Table 3 and the ``paper_counts`` job
(:mod:`ecabench.reference.counts`) counts the models it names. Both read it through here, so the
report never needs the model zoo to know which (backbone, spec) pairs the comparison is about.
Table 2 (ResNet-50 on ImageNet, one row per attention design) comes with :data:`TABLE2_SPECS`, the
suite spec of each row as ``ablations/eca_table2.yaml`` lists it. Light: pandas only.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pandas as pd

REFERENCE_NAME = "eca_paper_table3.csv"
CITATION = ("Q. Wang, B. Wu, P. Zhu, P. Li, W. Zuo, Q. Hu, \"ECA-Net: Efficient Channel Attention for Deep "
            "Convolutional Neural Networks\", CVPR 2020 (arXiv:1910.03151), Table 3, as printed")
REQUIRED_COLUMNS = frozenset({"backbone", "method", "params_paper", "params_unit", "flops_paper", "flops_unit"})

# paper method -> suite spec (per backbone where the paper differs)
METHOD_SPECS = {"baseline": "none", "se": "se", "cbam": "cbam", "eca": "eca"}
BACKBONE_OVERRIDES = {("mobilenet_v2", "se"): "se(r=8)"}  # the paper's SE on MobileNetV2 uses r=8
# extra suite rows without a paper row of their own (compared with the paper's row of `method`)
EXTRA_ROWS = [("resnet50", "eca", "eca(k=[3,5,5,7])", "released ECA-ResNet-50 checkpoint: per-stage k [3,5,5,7]")]

# The paper's Table 2: ResNet-50 on ImageNet, one row per way of mapping the pooled vector to channel weights.
TABLE2_NAME = "eca_paper_table2.csv"
TABLE2_CITATION = CITATION.replace("Table 3", "Table 2")
TABLE2_COLUMNS = ("method", "attention", "params_formula", "top1", "top5", "note")
# paper method -> suite spec (ablations/eca_table2.yaml). The paper does not state ECA-NS's k: k=3, as its ECA row.
TABLE2_SPECS = {
    "vanilla": "none",
    "se": "se",
    "se_var1": "se_var1",
    "se_var2": "se_var2",
    "se_var3": "se_var3",
    "se_gc1": "se_gc(groups=16)",
    "se_gc2": "se_gc(group_channels=16)",
    "se_gc3": "se_gc(group_channels=8)",
    "eca_ns": "eca_ns(k=3)",
    "eca": "eca(k=3)",
}

__all__ = ["BACKBONE_OVERRIDES", "CITATION", "EXTRA_ROWS", "METHOD_SPECS", "REFERENCE_NAME", "TABLE2_CITATION",
           "TABLE2_COLUMNS", "TABLE2_NAME", "TABLE2_SPECS", "configured_reference", "find_reference_csv",
           "load_reference", "load_table2", "packaged_reference", "packaged_table2", "read_suite_counts",
           "reference_pairs", "shown_reference", "spec_for"]


def packaged_reference() -> Path:
    """The copy of the paper's Table 3 shipped inside the package (so a report never depends on a checkout)."""
    return Path(str(resources.files("ecabench").joinpath("reference", REFERENCE_NAME)))


def shown_reference(path: str | os.PathLike) -> str:
    """How a report names the table: the package-relative name for the shipped copy (no machine paths)."""
    return f"ecabench/reference/{REFERENCE_NAME} (shipped with ecabench)" if Path(path) == packaged_reference() \
        else str(path)


def configured_reference(reference_csv: str | os.PathLike | None = None, config: dict | None = None):
    """The path the caller asked for: ``reference_csv``, else ``config['report']['reference_csv']``, else None."""
    report = (config or {}).get("report")
    return reference_csv or (report.get("reference_csv") if isinstance(report, dict) else None)


def find_reference_csv(reference_csv: str | os.PathLike | None = None, config: dict | None = None) -> Path | None:
    """The reference CSV: an explicit path, then ``config['report']['reference_csv']`` (relative to the
    working directory), then the copy shipped in the package. None if a given path does not exist, so a
    mistyped path is reported rather than silently replaced by the packaged table."""
    given = configured_reference(reference_csv, config)
    if given:
        return Path(given) if Path(given).exists() else None
    packaged = packaged_reference()
    return packaged if packaged.exists() else None


def load_reference(path: str | os.PathLike) -> pd.DataFrame:
    """The table, checked for the columns the comparison converts (a wrong file fails here, by name)."""
    df = pd.read_csv(path)
    missing = REQUIRED_COLUMNS - set(df.columns)
    if missing:
        raise ValueError(f"{path}: reference table lacks columns {sorted(missing)}")
    return df


def packaged_table2() -> Path:
    """The copy of the paper's Table 2 shipped inside the package."""
    return Path(str(resources.files("ecabench").joinpath("reference", TABLE2_NAME)))


def load_table2(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Table 2 (default: the shipped copy) with a ``spec`` column: the suite spec of each row
    (:data:`TABLE2_SPECS`; empty for a method the suite does not map). A file lacking a column fails here."""
    path = path or packaged_table2()
    df = pd.read_csv(path, keep_default_na=False, na_values={"top1": [""], "top5": [""]})
    missing = [c for c in TABLE2_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: Table 2 lacks columns {missing}")
    return df.assign(spec=df["method"].map(TABLE2_SPECS).fillna(""))


def spec_for(backbone: str, method: str) -> str | None:
    """The suite spec that builds the paper's ``method`` on ``backbone`` (None: the suite has none)."""
    return BACKBONE_OVERRIDES.get((backbone, method), METHOD_SPECS.get(method))


def reference_pairs(reference: pd.DataFrame) -> list[tuple[str, str]]:
    """The (backbone, suite spec) pairs whose counts the comparison needs, each once."""
    pairs = [(r["backbone"], spec_for(r["backbone"], r["method"])) for _, r in reference.iterrows()]
    pairs += [(b, s) for b, m, s, _ in EXTRA_ROWS
              if ((reference["backbone"] == b) & (reference["method"] == m)).any()]
    return list(dict.fromkeys((b, s) for b, s in pairs if s))


def read_suite_counts(path: str | os.PathLike) -> dict[str, dict]:
    """{"backbone|spec": counts} from the ``paper_counts`` job's JSON
    (:func:`ecabench.reference.counts.write_suite_counts`)."""
    return json.loads(Path(path).read_text()).get("counts", {})
