"""Hyper-parameter tuning with Optuna: ECA's γ and b (or k, SE's r, ...) and the training recipe.

A tuning study (``ablations/tune_<name>.yaml``, docs/tuning.md) is planned like any study
(:mod:`ecabench.plan.tuning`): one Optuna study per variant, maximising the **validation** top-1 of
the final epoch (the test split is never looked at while tuning) with a seeded TPE sampler and a
median pruner fed with the per-epoch validation accuracy. With ``evaluate``, every variant's best
setting is trained on the configured seeds and reported on the test split as ordinary run records:
the fair comparison. One concern per module: ``storage`` (opening it), ``study`` (sampler, pruner),
``budget`` (an exact trial budget across workers), ``objective`` (what a trial trains), ``jobs`` (the
workflow's tuning jobs) and ``report`` (the Optuna figures and a report fragment).
"""
from ecabench.plan.errors import TuneError
from ecabench.plan.search import parse_distribution
from ecabench.plan.storage import resolve_storage
from ecabench.plan.tuning import OBJECTIVE, TRAIN_TUNABLE, load_tune_study, plan_tuning
from ecabench.tune.budget import SURPLUS_ATTR, WORKER_ATTR, count_trials, fail_stale_trials, optimize_with_budget
from ecabench.tune.jobs import best_summary, evaluate_best, run_worker, summarize
from ecabench.tune.objective import build_objective, k_per_stage, run_config_for, suggest, trial_settings
from ecabench.tune.storage import open_storage, real_storage
from ecabench.tune.study import make_pruner, make_sampler, open_study

__all__ = ["OBJECTIVE", "SURPLUS_ATTR", "TRAIN_TUNABLE", "WORKER_ATTR", "TuneError", "best_summary",
           "build_objective", "count_trials", "evaluate_best", "fail_stale_trials", "k_per_stage", "load_tune_study",
           "make_pruner", "make_sampler", "open_storage", "open_study", "optimize_with_budget", "parse_distribution",
           "plan_tuning", "real_storage", "resolve_storage", "run_config_for", "run_worker", "suggest", "summarize",
           "trial_settings"]
