"""The per-seed frame every across-settings analysis reads, and its reshapes.

Columns ``setting`` ("resnet20/fashion-mnist"), ``seed``, ``variant`` and ``value`` (test top-1 in
percent; NaN = a failed run, left out with its pairs only). Every variant of one (setting, seed) saw
the same data and initialisation (common random numbers), so differences are paired by (setting, seed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["tidy", "variants", "wide", "pairs", "block_matrix", "split_setting"]


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    d = df[["setting", "seed", "variant", "value"]].copy()
    d["value"] = pd.to_numeric(d["value"], errors="coerce")
    return d[np.isfinite(d["value"].to_numpy(dtype=float))]


def variants(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["variant"]))


def wide(df: pd.DataFrame) -> pd.DataFrame:
    """(setting, seed) x variant values (NaN where a run is missing or failed)."""
    return tidy(df).pivot_table(index=["setting", "seed"], columns="variant", values="value", sort=False)


def pairs(df: pd.DataFrame, a: str, b: str, w: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (setting, seed) with both ``a`` and ``b`` measured: columns ``setting, seed, a, b``."""
    w = wide(df) if w is None else w
    if a not in w or b not in w:
        return pd.DataFrame(columns=["setting", "seed", "a", "b"])
    return w[[a, b]].dropna().reset_index().set_axis(["setting", "seed", "a", "b"], axis=1)


def block_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Blocks (setting, seed) x variants, only blocks in which every variant has a value."""
    d = tidy(df)
    w = d.pivot_table(index=["setting", "seed"], columns="variant", values="value")
    return w.reindex(columns=variants(d)).dropna()


def split_setting(setting: str) -> tuple[str, str]:
    backbone, _, dataset = str(setting).partition("/")
    return backbone, dataset
