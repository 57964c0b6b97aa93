"""What a trial trains: the same run config as a workflow run, reported to Optuna after every epoch."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import optuna
from optuna.trial import TrialState

from ecabench.data import load_dataset
from ecabench.models import build_model, describe, stage_values
from ecabench.plan.errors import TuneError
from ecabench.runconfig import TrainConfig, make_run_config, run_id
from ecabench.train import resolve_device, seed_everything, train


def suggest(trial, name: str, dist: dict) -> Any:
    """Draw one parameter from a search dimension (``ecabench.plan.search``)."""
    if dist["type"] == "categorical":
        return trial.suggest_categorical(name, dist["choices"])
    if dist["type"] == "int":
        return trial.suggest_int(name, dist["low"], dist["high"], step=dist.get("step", 1), log=dist["log"])
    return trial.suggest_float(name, dist["low"], dist["high"], step=dist.get("step"), log=dist["log"])


def trial_settings(task: Mapping, params: Mapping) -> tuple[dict, dict]:
    """(attention spec mapping, training recipe) for a trial's (or the best) parameters."""
    spec, recipe = dict(task["spec"]), dict(task["run"]["train"])
    for key, dist in task["search"].items():
        if key in params:
            (spec if dist["target"] == "attention" else recipe)[key] = params[key]
    return spec, recipe


def run_config_for(task: Mapping, params: Mapping, seed: int | None = None) -> dict:
    """The normalised run config (``make_run_config``) of a setting: the same as the workflow's runs."""
    spec, recipe = trial_settings(task, params)
    run = task["run"]
    return make_run_config(backbone=run["backbone"], attention=spec, dataset=run["dataset"],
                           dataset_options=run["dataset_options"], train=recipe, model=run["model"],
                           seed=run["seed"] if seed is None else seed)


def k_per_stage(config: Mapping) -> list | None:
    """The kernel size ECA resolves to on each stage of the run config's backbone (None: no k)."""
    ds = config["dataset"]
    d = describe(config["backbone"], config["attention"], num_classes=ds["num_classes"] or 1000,
                 in_channels=ds["in_channels"], **config["model"])
    ks = stage_values(d, "k")
    return ks if any(k != [] for k in ks) else None


def load_bundle(task: Mapping, *, device: str, data_root, download: bool):
    """The study's data: the split its trials train and validate on."""
    base = run_config_for(task, {})
    ds = base["dataset"]
    return load_dataset(ds["name"], root=data_root, download=download, val_size=ds["val_size"],
                        subset=ds["subset"], seed=base["seed"], device=resolve_device(device),
                        image_size=ds.get("image_size"))


def _reuse(trial, rid: str) -> float | None:
    """A completed trial's value when it trained the same run config (training is deterministic)."""
    for done in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        curve = done.user_attrs.get("val_top1_curve")
        if done.user_attrs.get("run_id") == rid and done.user_attrs.get("status") == "ok" and curve:
            for epoch, value in enumerate(curve, start=1):
                trial.report(value, epoch)
            trial.set_user_attr("val_top1_curve", curve)
            trial.set_user_attr("status", "ok")
            trial.set_user_attr("reused_from", done.number)
            return done.value
    return None


def _report_epochs(trial, cfg, curve: list[float]) -> Callable[[dict], None]:
    """``train``'s ``on_epoch_end``: report validation top-1, prune when the pruner says so."""
    def on_epoch_end(record: dict) -> None:
        value = record.get("val_top1")
        if value is None:
            raise TuneError("no validation split: tuning needs one (val_size > 0)")
        curve.append(float(value))
        trial.report(float(value), record["epoch"])
        if record["epoch"] < cfg.epochs and trial.should_prune():
            trial.set_user_attr("val_top1_curve", curve)
            raise optuna.TrialPruned(f"validation top-1 {value:.2f}% after epoch {record['epoch']}")

    return on_epoch_end


def _train_trial(trial, config: dict, bundle, device: str, num_threads: int | None) -> float:
    cfg = TrainConfig.from_dict({**config["train"], "seed": config["seed"], "device": device,
                                 "num_threads": num_threads})
    seed_everything(config["seed"])
    model = build_model(config["backbone"], config["attention"], num_classes=bundle.num_classes,
                        in_channels=config["dataset"]["in_channels"], seed=config["seed"], **config["model"])
    curve: list[float] = []
    try:
        result = train(model, bundle, cfg, checkpoint_path=None, progress=False,
                       on_epoch_end=_report_epochs(trial, cfg, curve))
    finally:
        del model
    trial.set_user_attr("val_top1_curve", curve)
    trial.set_user_attr("train_time_s", result.train_time_s)
    trial.set_user_attr("status", result.status)
    if result.status != "ok":
        trial.set_user_attr("error", (result.error or "")[:500])
        return 0.0
    return curve[-1]


def build_objective(task: Mapping, bundle, *, device: str = "auto", num_threads: int | None = None,
                    reuse: bool = True) -> Callable:
    """``objective(trial)``: train the trial's setting, report validation top-1 after every epoch.

    Built from ``make_run_config`` exactly like a workflow run, so a trial with the tuning seed
    trains what the evaluation run with that seed trains. Pruning raises ``optuna.TrialPruned``
    from ``train``'s epoch callback; a diverged setting completes with value 0.0 (user attribute
    ``status: diverged``) so the sampler learns to avoid it; with ``reuse``, a trial whose run config
    equals a completed trial's takes that trial's result instead of training again.
    """
    def objective(trial) -> float:
        config = run_config_for(task, {key: suggest(trial, key, dist) for key, dist in task["search"].items()})
        rid = run_id(config)
        trial.set_user_attr("run_id", rid)
        ks = k_per_stage(config)
        if ks is not None:
            trial.set_user_attr("k_per_stage", ks)
        reused = _reuse(trial, rid) if reuse else None
        return reused if reused is not None else _train_trial(trial, config, bundle, device, num_threads)

    return objective
