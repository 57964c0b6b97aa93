"""A variant's Optuna study: seeded TPE sampler, median pruner, created once in its storage."""
from __future__ import annotations

import warnings
from typing import Mapping

import optuna

from ecabench.tune.storage import open_storage, real_storage


def make_sampler(options: Mapping, *, worker: int = 0):
    """The study's TPE sampler; worker ``w`` uses seed ``seed + w`` (identical seeds would make
    parallel workers propose identical start-up trials)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=options["seed"] + worker, n_startup_trials=options["n_startup_trials"],
            multivariate=options["multivariate"], constant_liar=options["constant_liar"],
            n_ei_candidates=options["n_ei_candidates"])


def make_pruner(options: Mapping | None):
    if options is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=options["n_startup_trials"], n_warmup_steps=options["n_warmup_steps"],
        interval_steps=options["interval_steps"], n_min_trials=options["n_min_trials"])


def open_study(task: Mapping, *, worker: int = 0, config: Mapping | None = None, load_only: bool = False):
    """Create (or load) the variant's Optuna study in its storage."""
    storage = open_storage(real_storage(task["storage"], config))
    sampler, pruner = make_sampler(task["sampler"], worker=worker), make_pruner(task["pruner"])
    if load_only:
        return optuna.load_study(study_name=task["study_name"], storage=storage, sampler=sampler, pruner=pruner)
    study = optuna.create_study(study_name=task["study_name"], storage=storage, direction="maximize",
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    info = {"tune": task["tune"], "variant": task["variant"], "spec": task["spec_str"], "budget": task["budget"],
            "search": task["search"], "objective": task["objective"]}
    if study.user_attrs.get("ecabench") != info:
        study.set_user_attr("ecabench", info)
    return study
