"""The Bayesian signed-rank test with a region of practical equivalence (Benavoli et al., JMLR 2017; baycomp)."""
from __future__ import annotations

import math

import numpy as np

from ecabench.analysis.paired import N_TOO_SMALL

NO_BAYES = "baycomp unavailable or failed: no Bayesian signed-rank test"

__all__ = ["signed_rank", "NO_BAYES"]


def signed_rank(x: np.ndarray, y: np.ndarray, rope: float, seed: int, nsamples: int) -> tuple[float, float, float, str]:
    """Estimand: the posterior probability that a new paired difference is below -rope, within it, or above.

    Posterior (P(worse), P(within the rope), P(better)) of x (variant) against y (baseline) over the
    pooled (setting, seed) pairs: ``baycomp.SignedRankTest``.

    baycomp works on ``diff = y - x``: its "left" is x ahead by more than the rope (variant better),
    "right" is y ahead (variant worse). Without a rope it returns only (left, right)."""
    if len(x) < 2:
        return math.nan, math.nan, math.nan, N_TOO_SMALL
    try:
        from baycomp import SignedRankTest  # heavy (~0.9 s) and allowed to fail: the Bayesian columns only

        probs = SignedRankTest.probs(x, y, rope=rope, nsamples=nsamples, random_state=seed)
    except Exception as exc:  # noqa: BLE001 - an optional dependency must not break the table
        return math.nan, math.nan, math.nan, f"{NO_BAYES} ({type(exc).__name__})"
    left, mid, right = probs if len(probs) == 3 else (probs[0], 0.0, probs[1])
    return float(right), float(mid), float(left), ""
