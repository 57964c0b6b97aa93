"""Calibration: does each interval of the across-settings analysis cover, and each test reject, as often as it says?

    python benchmarks/calibration.py [--reps N] [--seed S] [--only NAME ...] [--jobs J] [--markdown PATH]

Simulates data of known truth shaped like the project's main job (k settings = backbone x dataset, n paired
seeds each, settings that differ in noise) and runs the project's own estimators on it - the functions of
``ecabench.analysis`` themselves, never copies - then counts how often each 95% interval holds the truth and
each 5% test rejects a true null. Every scenario's rate is judged against a band fixed in :data:`BANDS`; a
rate outside its band prints ``OUTSIDE`` and the script exits 1. ``--markdown`` writes the tables as a page
(docs/calibration.md). ``tests/test_calibration.py`` runs the same code.
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("ecabench") is None:  # normally installed (editable) in the venv
    sys.path.insert(0, str(ROOT / "src"))

from ecabench.analysis import across, omnibus, paired, pooling, wins  # noqa: E402

#: (stated level as printed, lowest and highest acceptable rate; None: informational, not judged), per family
#: and measure. A coverage band of [93%, 97%] and a false-positive ceiling of 6.5% are the tolerances; a
#: conservative interval ("at least 95%") has no ceiling.
BANDS = {
    "average": {"coverage": ("95%", 0.93, 0.97)},
    "new_setting_mean": {"coverage": ("95%", 0.93, 0.97)},
    "new_setting_prediction": {"coverage": (">=95%", 0.93, 1.0)},
    "pairwise_fp": {"false positives": ("5%", 0.0, 0.065)},
    "win_rate": {"coverage": (">=95%", 0.93, 1.0)},
    "two_stage": {"coverage": ("95%", 0.93, 0.97), "target met": ("95%", 0.93, 0.97),
                  "naive (not used)": ("95%", None, None)},
    "omnibus_gap": {"gap CI excludes 0": ("5%", 0.0, 0.065), "Friedman p < 0.05": ("5%", 0.0, 0.065)},
}

#: The scenarios: every combination of each family's parameter values.
GRIDS = {
    "average": {"k": [2, 3, 4], "n": [3, 6], "tau2": [0.0, 0.5, 2.0], "sd": [0.5, 1.5, 2.5]},
    "new_setting_mean": {"k": [3, 4], "n": [3, 6], "tau2": [0.0, 0.5, 2.0], "sd": [0.5, 1.5, 2.5]},
    "new_setting_prediction": {"k": [3, 4], "n": [3, 6], "tau2": [0.0, 0.5, 2.0], "sd": [0.5, 1.5, 2.5]},
    "pairwise_fp": {"k": [2, 3, 4], "n": [3, 6], "tau2": [0.0, 0.5, 2.0], "sd": [0.5, 1.5, 2.5]},
    "win_rate": {"P": [0.1, 0.5, 0.9], "k": [2, 3, 4], "n": [3, 6]},
    "two_stage": {"sd": [1.5, 2.5]},
    "omnibus_gap": {"levels": [3, 4], "n": [3, 6], "sd": [0.5, 1.5, 2.5]},
}

#: Replications per scenario = ``--reps`` x this. Where a true rate sits near its band's edge the Monte Carlo
#: error must be small: two_stage's "target met" is truly 96.7% at sd 1.5 (0.3 points under 97%; 10x puts the
#: edge 3 standard errors away, and the loop costs under a millisecond a replication), Friedman's chi-square p
#: rejects 5.2% at 3 levels x 6 seeds (exact, by enumeration; 4000 put 6.5% 3.7 standard errors away). The
#: vectorised families cost microseconds; omnibus() ~20 ms a call (two pandas pivots, a power root-find).
REPS_SCALE = {"average": 10, "new_setting_mean": 10, "new_setting_prediction": 10, "pairwise_fp": 10,
              "win_rate": 10, "two_stage": 10, "omnibus_gap": 1}

MU = 0.5  # the true mean effect in coverage scenarios (points); coverage must not depend on it
WIN_SD = 1.5  # the seed sd of the win-rate scenarios (P = Phi(mu / sd) fixes mu)
STEIN_N0, STEIN_HALF_WIDTH = 3, 1.0  # Stein's rule as the workflow runs it; no cap, so N is the rule's own
SEED_SD = 2.0  # the omnibus scenarios' shared per-seed component (cancels in every paired difference)
PARAMS = ["levels", "k", "n", "tau2", "sd", "P"]
COLUMNS = ["family", "measure", *PARAMS, "reps", "stated", "measured", "ci_low", "ci_high", "band_low", "band_high",
           "ok", "verdict", "zero_width", "mean_N", "max_N", "seconds"]


def _rng(seed: int, family: str, params: dict) -> np.random.Generator:
    """A scenario's stream depends on the seed and its own parameters only, so --only, a trimmed grid or the
    number of jobs never changes its numbers."""
    return np.random.default_rng([seed, zlib.crc32(f"{family}{sorted(params.items())}".encode())])


def _row(family: str, measure: str, params: dict, hits: int, reps: int, **extra) -> dict:
    stated, lo, hi = BANDS[family][measure]
    rate = hits / reps
    ci_low, ci_high = proportion_confint(hits, reps, alpha=0.05, method="wilson")
    judged = lo is not None
    ok = (not judged or lo <= rate <= hi) and not extra.get("zero_width")
    return {"family": family, "measure": measure, **params, "reps": reps, "stated": stated, "measured": rate,
            "ci_low": float(ci_low), "ci_high": float(ci_high), "band_low": lo, "band_high": hi, "ok": bool(ok),
            "verdict": ("OK" if ok else "OUTSIDE") if judged else "not judged", **extra}


def _settings(rng, reps: int, k: int, n: int, tau2: float, sd: float, mu: float, centre: bool = False):
    """True per-setting effects ``mu + u_s`` and seed differences ``d[r, s, i] = mu_s + sigma_s z`` with
    sigma_s spread over 0.6-1.4 x sd (settings differ in noise, as ResNet and MobileNet do)."""
    u = rng.normal(0.0, np.sqrt(tau2), (reps, k))
    if centre:  # the null of the average over these settings: mean(mu_s) = 0 exactly
        u -= u.mean(axis=1, keepdims=True)
    mu_s = mu + u
    sigma = sd * np.linspace(0.6, 1.4, k)
    d = mu_s[:, :, None] + sigma[None, :, None] * rng.standard_normal((reps, k, n))
    return mu_s, d


def _per_setting(d):
    """What per_setting hands the average: mean, sample sd (ddof=1) and n of each setting's differences."""
    return d.mean(axis=-1), d.std(axis=-1, ddof=1), np.full(d.shape[:-1], d.shape[-1])


def _covered(low, high, truth) -> int:
    return int(np.sum((low <= truth) & (truth <= high)))


def _average(rng, reps, p):
    mu_s, d = _settings(rng, reps, p["k"], p["n"], p["tau2"], p["sd"], MU)
    a = pooling.equal_weight_average(*_per_setting(d))
    return [_row("average", "coverage", p, _covered(a.low, a.high, mu_s.mean(axis=1)), reps)]


def _new_setting_mean(rng, reps, p):
    _, d = _settings(rng, reps, p["k"], p["n"], p["tau2"], p["sd"], MU)
    ns = pooling.new_setting(d.mean(axis=-1))
    return [_row("new_setting_mean", "coverage", p, _covered(ns.low, ns.high, MU), reps)]


def _new_setting_prediction(rng, reps, p):
    _, d = _settings(rng, reps, p["k"], p["n"], p["tau2"], p["sd"], MU)
    ns = pooling.new_setting(d.mean(axis=-1))
    truth = MU + rng.normal(0.0, np.sqrt(p["tau2"]), reps)  # a fresh setting's true effect
    return [_row("new_setting_prediction", "coverage", p, _covered(ns.pi_low, ns.pi_high, truth), reps)]


def _pairwise_fp(rng, reps, p):
    _, d = _settings(rng, reps, p["k"], p["n"], p["tau2"], p["sd"], 0.0, centre=True)
    a = pooling.equal_weight_average(*_per_setting(d))
    return [_row("pairwise_fp", "false positives", p, int(np.sum(a.p_value < 0.05)), reps)]


def _win_rate(rng, reps, p):
    """Equal sd everywhere and no spread between settings, so every (setting, seed) pair has P(win) = P."""
    mu = WIN_SD * stats.norm.ppf(p["P"])
    d = mu + WIN_SD * rng.standard_normal((reps, p["k"] * p["n"]))
    c = np.array([wins.counts(x) for x in d])
    low, high = wins.clopper_pearson(c[:, 0], c.sum(axis=1))
    zero = int(np.sum(high - low == 0))
    return [_row("win_rate", "coverage", p, _covered(low, high, p["P"]), reps, zero_width=zero / reps)]


def _two_stage(rng, reps, p):
    """Stein's rule as the workflow runs it: n0 seeds, N from their sd (stein_total_n), the rest up to N, and
    paired_difference(..., stage1=) over all N. Beside it, not judged: the plain t interval over all N (what
    the same call gives without stage1=), computed in one vectorised step because it is only a contrast."""
    sd, n0, h = p["sd"], STEIN_N0, STEIN_HALF_WIDTH
    stein = met = 0
    ns, means, sds = np.empty(reps, int), np.empty(reps), np.empty(reps)
    for i in range(reps):
        first = MU + sd * rng.standard_normal(n0)
        big_n = paired.stein_total_n(first.std(ddof=1), n0, h)
        d = np.concatenate([first, MU + sd * rng.standard_normal(big_n - n0)])
        r = paired.paired_difference(dict(enumerate(d.tolist())), dict.fromkeys(range(big_n), 0.0),
                                     stage1=range(n0))
        stein += r.ci_low <= MU <= r.ci_high
        met += abs(r.delta_mean - MU) <= h
        ns[i], means[i], sds[i] = big_n, r.delta_mean, d.std(ddof=1)
    half = stats.t.ppf(0.975, ns - 1) * sds / np.sqrt(ns)
    q = {"n": n0, **p}
    extra = {"mean_N": float(ns.mean()), "max_N": int(ns.max())}
    return [_row("two_stage", "coverage", q, stein, reps, **extra),
            _row("two_stage", "target met", q, met, reps, **extra),
            _row("two_stage", "naive (not used)", q, _covered(means - half, means + half, MU), reps, **extra)]


def _omnibus_gap(rng, reps, p):
    """One setting, no true difference between levels: a shared per-seed component plus level noise of
    sd / sqrt(2), so every paired difference has sd ``sd``."""
    levels, n, sd = p["levels"], p["n"], p["sd"]
    template = pd.DataFrame({"setting": "resnet20/cifar10", "seed": np.tile(np.arange(n), levels),
                             "variant": np.repeat([f"k={2 * j + 1}" for j in range(levels)], n)})
    gap = fried = 0
    for _ in range(reps):
        v = 70.0 + SEED_SD * rng.standard_normal(n)[None, :] + sd / np.sqrt(2) * rng.standard_normal((levels, n))
        out = omnibus.omnibus(template.assign(value=v.ravel()), anova=False)
        gap += not (out["gap_ci_low"] <= 0.0 <= out["gap_ci_high"])
        fried += out["p_value"] < 0.05
    return [_row("omnibus_gap", "gap CI excludes 0", p, gap, reps),
            _row("omnibus_gap", "Friedman p < 0.05", p, fried, reps)]


SIMULATE = {"average": _average, "new_setting_mean": _new_setting_mean,
            "new_setting_prediction": _new_setting_prediction, "pairwise_fp": _pairwise_fp, "win_rate": _win_rate,
            "two_stage": _two_stage, "omnibus_gap": _omnibus_gap}
FAMILIES = list(SIMULATE)


def _scenario(task: tuple) -> list[dict]:
    family, params, reps, seed = task
    t0 = time.process_time()  # CPU time: what a scenario costs, whatever else the machine is doing
    rows = SIMULATE[family](_rng(seed, family, params), reps, params)
    return [{**r, "seconds": time.process_time() - t0} for r in rows]


def _tasks(reps: int, seed: int, only, grids) -> list[tuple]:
    tasks = []
    for family in only or FAMILIES:
        grid = {**GRIDS[family], **(grids or {}).get(family, {})}
        n_reps = max(1, round(reps * REPS_SCALE[family]))
        tasks += [(family, dict(zip(grid, values)), n_reps, seed) for values in product(*grid.values())]
    return sorted(tasks, key=lambda t: t[0] != "omnibus_gap")  # the slow ones first: the pool ends together


def run(reps: int = 4000, seed: int = 0, only=None, *, grids: dict | None = None, jobs: int = 1) -> pd.DataFrame:
    """Every scenario of the families in ``only`` (default: all), one row per (scenario, measure).

    ``grids``: per family, parameter values that replace :data:`GRIDS`' (e.g. a test's smaller grid).
    ``jobs`` > 1 runs scenarios in worker processes (fork); results do not depend on it."""
    unknown = set(only or []) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {sorted(unknown)}; known: {FAMILIES}")
    tasks = _tasks(reps, seed, only, grids)
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_scenario, tasks))
    else:
        results = [_scenario(t) for t in tasks]
    df = pd.DataFrame([r for rows in results for r in rows]).reindex(columns=COLUMNS)
    order = {f: i for i, f in enumerate(FAMILIES)}
    return df.sort_values("family", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def cross_check(seed: int = 0, reps: int = 3) -> float:
    """The vectorised path against the per-seed-frame wrappers the report calls (across.across_settings and
    pairwise): the same inputs must give the same intervals. Returns the largest absolute difference."""
    rng = np.random.default_rng([seed, 1])
    worst = 0.0
    for _ in range(reps):
        _, d = _settings(rng, 1, 4, 3, 0.5, 1.5, MU)
        base = 70.0 + rng.standard_normal((4, 3))
        rows = [{"setting": f"b{s}/d", "seed": i, "variant": v, "value": x} for s in range(4) for i in range(3)
                for v, x in (("base", base[s, i]), ("var", base[s, i] + d[0, s, i]))]
        frame = pd.DataFrame(rows)
        got = across.across_settings(frame, "base", bayes_samples=1000).iloc[0]
        pw = across.pairwise(frame)
        pw_all = pw[pw["setting"] == "all"].iloc[0]  # delta = base - var: same p, negated interval
        a = pooling.equal_weight_average(*_per_setting(d))
        ns = pooling.new_setting(d.mean(axis=-1))
        w = wins.counts(d.ravel())
        lo, hi = wins.clopper_pearson(w[0], sum(w))
        pairs = [(got["avg_ci_low"], a.low), (got["avg_ci_high"], a.high), (got["avg_p"], a.p_value),
                 (got["new_ci_low"], ns.low), (got["new_ci_high"], ns.high), (got["new_pi_low"], ns.pi_low),
                 (got["new_pi_high"], ns.pi_high), (got["win_ci_low"], lo), (got["win_ci_high"], hi),
                 (pw_all["p_value"], a.p_value), (-pw_all["ci_high"], a.low), (-pw_all["ci_low"], a.high)]
        worst = max(worst, *(abs(float(x) - float(np.ravel(y)[0])) for x, y in pairs))
    return worst


def _pct(x) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * x:.2f}"


def family_table(df: pd.DataFrame, family: str) -> pd.DataFrame:
    """One family's rows as printed: its own parameters, the rate and its 95% interval in percent, the band."""
    sub = df[df["family"] == family]
    params = [c for c in PARAMS if sub[c].notna().any()]
    out = sub[["measure", *params]].copy() if sub["measure"].nunique() > 1 else sub[params].copy()
    for c in params:
        out[c] = [f"{x:g}" for x in sub[c]]
    if family == "two_stage":
        out = out.rename(columns={"n": "n0"})
    out["reps"] = sub["reps"].astype(int)
    out["stated"] = sub["stated"]
    out["measured %"] = sub["measured"].map(_pct)
    out["95% CI %"] = [f"{_pct(lo)}-{_pct(hi)}" for lo, hi in zip(sub["ci_low"], sub["ci_high"])]
    out["band %"] = [_band(lo, hi) for lo, hi in zip(sub["band_low"], sub["band_high"])]
    if family == "win_rate":
        out["zero-width %"] = sub["zero_width"].map(_pct)
    if family == "two_stage":
        out["mean N"] = sub["mean_N"].map(lambda x: f"{x:.1f}")
        out["max N"] = sub["max_N"].astype(int)
    out["verdict"] = sub["verdict"]
    return out.reset_index(drop=True)


def cpu_seconds(df: pd.DataFrame) -> pd.Series:
    """Seconds per family, summed over its scenarios (each scenario's rows share one timing)."""
    return df.drop_duplicates(["family", *PARAMS]).groupby("family", sort=False)["seconds"].sum()


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per family and measure: scenarios, the lowest and highest measured rate, the band, how many are outside."""
    g = df.groupby(["family", "measure"], sort=False)
    out = pd.DataFrame({"scenarios": g.size(), "reps": g["reps"].first(), "stated": g["stated"].first(),
                        "min %": g["measured"].min().map(_pct), "max %": g["measured"].max().map(_pct),
                        "outside": g["verdict"].agg(lambda v: int((v == "OUTSIDE").sum()))}).reset_index()
    out["outside"] = [o if s != "not judged" else "not judged"
                      for o, s in zip(out["outside"], g["verdict"].first())]
    out["CPU s"] = out["family"].map(cpu_seconds(df)).map(lambda x: f"{x:.1f}")
    return out


INTRO = """# Calibration of the across-settings statistics

`benchmarks/calibration.py` simulates data of known truth shaped like the project's main job and runs the
project's own estimators (`ecabench.analysis.pooling`, `wins`, `paired`, `omnibus`; the functions themselves,
not copies) on it, counting how often each 95% interval holds the truth and each 5% test rejects a true null.

Data model, per replication: k settings (backbone x dataset) with n paired seeds each. True per-setting
effects mu_s = mu + u_s with u_s ~ N(0, tau2); per-seed paired differences d = mu_s + sigma_s z with
sigma_s = sd x linspace(0.6, 1.4, k), so settings differ in noise. mu = {mu} in coverage scenarios, 0 in the
false-positive ones (there the drawn u_s are centred so that the mean over the settings run is exactly 0).

{bands}

Two-stage: n0 = {n0} stage-1 seeds, target half-width {h}, no cap (N is the rule's own, so a cap never
binds); "naive (not used)" is the t interval over all N seeds (what `paired.paired_difference` gives without
`stage1=`), shown for contrast and not judged. Omnibus: a shared per-seed component (sd {seed_sd}) plus level
noise of sd / sqrt(2), so every paired difference has sd `sd`; Friedman's test and the largest-gap interval do
not depend on `sd` (ranks within a seed; an interval that scales with the noise), so its three values are
three independent repeats.

A verdict compares the measured rate with its band; the 95% interval beside it (Wilson) is the Monte Carlo
error. Replications per scenario are `--reps` times a per-family factor (the `reps` column): the vectorised
families and the two-stage loop run 10x, omnibus 1x (its CPU time per call is under its table). Before the
loops, a few replications also go through `across.across_settings` and `across.pairwise` (the per-seed-frame
wrappers the report calls), which must give the same intervals as the vectorised calls: largest difference
{cross:.1e}.

What to expect where a rate is not 95% or 5% by construction: Stein's interval covers exactly 95%, and its
half-width never exceeds the target, so "target met" is at least 95% - by numerical integration 96.7% at
sd 1.5 and 95.6% at sd 2.5 (N >= n0 and rounding N up add to it). Friedman's chi-square p < 0.05 rejects,
exactly (enumerating the rank patterns), 2.8% / 5.2% at 3 levels x 3 / 6 seeds and 1.7% / 3.7% at 4 levels.
Clopper-Pearson is conservative by construction, most where k x n is small.

Produced by `{command}` (seed {seed}, {jobs} worker processes) in {seconds:.0f} s.
"""


#: Per family and measure: the estimator called and the truth it is held to (the page's table; bands: BANDS).
DESCRIBE = {
    ("average", "coverage"): ("`pooling.equal_weight_average` low/high", "mean of mu_s over the settings run"),
    ("new_setting_mean", "coverage"): ("`pooling.new_setting` low/high", "mu, the mean of the population of settings"),
    ("new_setting_prediction", "coverage"): ("`pooling.new_setting` pi_low/pi_high",
                                             "mu + u_new, a fresh setting's true effect"),
    ("pairwise_fp", "false positives"): ("`pooling.equal_weight_average` p_value < 0.05",
                                         "mean of mu_s = 0 (a true null)"),
    ("win_rate", "coverage"): ("`wins.counts`, `wins.clopper_pearson`",
                               "P(variant beats baseline on a seed) = Phi(mu / sd); and no zero-width interval"),
    ("two_stage", "coverage"): ("`paired.stein_total_n`, `paired.paired_difference(stage1=)`", "mu on one setting"),
    ("two_stage", "target met"): ("the same; \\|estimate - mu\\| <= target half-width", "mu on one setting"),
    ("two_stage", "naive (not used)"): ("t interval over all N (`paired_difference` without `stage1=`)",
                                        "mu on one setting"),
    ("omnibus_gap", "gap CI excludes 0"): ("`omnibus.omnibus(anova=False)` gap_ci_low/high",
                                           "no difference between the levels (a true null)"),
    ("omnibus_gap", "Friedman p < 0.05"): ("`omnibus.omnibus(anova=False)` p_value",
                                           "no difference between the levels (a true null)"),
}


def _band(lo, hi) -> str:
    if lo is None or pd.isna(lo):
        return "not judged"
    return f">= {_pct(lo)}" if hi >= 1 else f"<= {_pct(hi)}" if lo <= 0 else f"{_pct(lo)}-{_pct(hi)}"


def bands_table() -> pd.DataFrame:
    rows = [{"family": f, "measure": m, "estimator": DESCRIBE[f, m][0], "truth": DESCRIBE[f, m][1], "stated": st,
             "band %": _band(lo, hi)} for f, measures in BANDS.items() for m, (st, lo, hi) in measures.items()]
    return pd.DataFrame(rows)


def _header(df: pd.DataFrame, family: str) -> str:
    reps, cpu = int(df.loc[df["family"] == family, "reps"].iloc[0]), cpu_seconds(df)[family]
    scenarios = len(df[df["family"] == family].drop_duplicates(PARAMS))
    per_call = f", {1000 * cpu / (reps * scenarios):.1f} ms per omnibus() call" if family == "omnibus_gap" else ""
    return f"{scenarios} scenarios x {reps} replications, {cpu:.1f} s of CPU{per_call}"


def _md(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, disable_numparse=True)  # keep "95.20" as printed, not 95.2


def markdown(df: pd.DataFrame, *, command: str, seed: int, jobs: int, seconds: float, cross: float) -> str:
    parts = [INTRO.format(mu=MU, n0=STEIN_N0, h=STEIN_HALF_WIDTH, seed_sd=SEED_SD, command=command, seed=seed,
                          bands=_md(bands_table()), jobs=jobs, seconds=seconds, cross=cross),
             "## Summary\n", _md(summary(df)), ""]
    for family in dict.fromkeys(df["family"]):
        parts += [f"## {family}\n", f"{_header(df, family)}.\n", _md(family_table(df, family)), ""]
    return "\n".join(parts)


def write_atomic(path: Path, text: str) -> None:
    """A reader never sees half a page: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4000,
                    help="replications per scenario, times the family's REPS_SCALE (default 4000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="+", choices=FAMILIES, metavar="NAME", help=f"families: {', '.join(FAMILIES)}")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: every core)")
    ap.add_argument("--markdown", type=Path, help="also write the tables as a Markdown page (e.g. docs/calibration.md)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cross = cross_check(args.seed)
    df = run(args.reps, args.seed, args.only, jobs=args.jobs)
    seconds = time.perf_counter() - t0
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        for family in dict.fromkeys(df["family"]):
            print(f"\n== {family}: {_header(df, family)}")
            print(family_table(df, family).to_string(index=False))
        print("\n== summary")
        print(summary(df).to_string(index=False))
    bad = df[df["verdict"] == "OUTSIDE"]
    cross_ok = cross <= 1e-8
    print(f"\ncross-check against across.across_settings / pairwise: largest difference {cross:.1e} "
          f"({'OK' if cross_ok else 'MISMATCH'})")
    print(f"{len(df)} rows, {len(bad)} OUTSIDE their band; total {seconds:.1f} s")
    if args.markdown:
        command = "python benchmarks/calibration.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_atomic(args.markdown, markdown(df, command=command.strip(), seed=args.seed, jobs=args.jobs,
                                             seconds=seconds, cross=cross))
        print(f"wrote {args.markdown}")
    return 0 if bad.empty and cross_ok else 1


if __name__ == "__main__":
    sys.exit(main())
