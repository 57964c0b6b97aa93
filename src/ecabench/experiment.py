"""One experiment: normalised config -> data + model -> train -> measure -> run record.

``make_run_config`` checks everything a run needs (spec, backbone, per-stage lengths, dataset name
and split sizes, training recipe) and returns the normalised config whose hash is the run id, so
bad input fails in milliseconds and before any data is read. ``run_experiment`` then never raises
for a failure *during* training: the record says ``failed`` or ``diverged``, so one bad run cannot
stop a sweep. The device and the data root are how a run is executed, not what it is: they are
recorded but not hashed.
"""
from __future__ import annotations

import datetime as dt
import inspect
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from ecabench import data as data_mod
from ecabench.measure import count_flops, count_params, environment, measure_throughput
from ecabench.models import build_model, describe, resolved_by_stage
from ecabench.records import SCHEMA_VERSION, check_writable, run_id, write_record
from ecabench.registry import BACKBONES
from ecabench.specs import parse_spec
from ecabench.train import TrainConfig, evaluate, resolve_device, seed_everything, train

DATASET_OPTIONS = ("val_size", "subset", "image_size", "test_subset")
MODEL_OPTIONS = ("small_input", "position")
# How initial weights are drawn (part of the run id: records made under another protocol are not reused).
INIT_PROTOCOL = "crn-v1"
# How a run is executed, not what it computes: excluded from the config (and so from the run id).
_RUNTIME_TRAIN_KEYS = ("device", "num_threads", "seed")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _check_keys(section: str, given: dict, allowed: tuple) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{section}: unknown option {unknown[0]!r}; allowed: {', '.join(allowed)}")


def make_run_config(*, backbone: str, attention: Any, dataset: str = "fashion-mnist",
                    dataset_options: dict | None = None, train: dict | None = None,
                    model: dict | None = None, seed: int = 0) -> dict:
    """The normalised, validated configuration of one run (its hash is the run id)."""
    spec = parse_spec(attention)
    entry = BACKBONES.entry(backbone)
    backbone = entry.meta.get("alias_of", backbone)
    dataset_options = dict(dataset_options or {})
    root = dataset_options.pop("root", None)
    dataset_options.pop("download", None)
    _check_keys("dataset options", dataset_options, DATASET_OPTIONS)
    info = data_mod.dataset_info(dataset)
    ds = {"name": info["name"], "val_size": dataset_options.get("val_size", 0.1),
          "subset": dataset_options.get("subset")}
    if info["name"] == "imagefolder":
        # A folder dataset is what its folder holds: the root is part of the run's identity (for the
        # built-in datasets it is only where the files are), and the class count comes from it.
        if not root:
            raise ValueError("imagefolder needs its root folder (config datasets[i].root, or --data-root): "
                             "it is part of the run's identity, so two folders never share run ids")
        ds["root"] = str(root)
        info = {**info, "num_classes": data_mod.imagefolder_num_classes(root)}
    for key in ("image_size", "test_subset"):  # in the config (and the run id) only when set
        if dataset_options.get(key) is not None:
            ds[key] = dataset_options[key]
    data_mod.check_split_sizes(info["name"], val_size=ds["val_size"], subset=ds["subset"],
                               test_subset=ds.get("test_subset"))

    model = dict(model or {})
    extra = backbone_extra_options(entry.obj)
    _check_keys(f"model options of {backbone}", model, MODEL_OPTIONS + tuple(extra))
    default_input = entry.meta.get("default_input") or (3, 224, 224)
    small_images = max(info["image_size"]) <= 64
    # A backbone's own options (e.g. mobilenet_v2's width_mult) join the config only when they differ
    # from the builder's default, so the run ids of configs that never name them do not change.
    own = {k: model[k] for k in extra if k in model and model[k] != extra[k]}
    model = {"small_input": bool(model.get("small_input", small_images and default_input[-1] > 64)),
             "position": model.get("position", "output"), **own}
    num_classes = info["num_classes"] or None  # imagefolder: known once the folder is read
    in_channels = info["in_channels"]

    train = {k: v for k, v in dict(train or {}).items() if k not in _RUNTIME_TRAIN_KEYS}
    recipe = TrainConfig.from_dict({**train, "seed": seed}).to_dict()  # validates every field
    for key in _RUNTIME_TRAIN_KEYS:
        recipe.pop(key, None)

    config = {
        "backbone": backbone,
        "attention": spec.to_dict(),
        "model": model,
        "dataset": {**ds, "num_classes": num_classes, "in_channels": in_channels},
        "train": recipe,
        "seed": seed,
        "init": INIT_PROTOCOL,
    }
    # Builds on the meta device: checks per-stage lists and the position before any data is read.
    describe(backbone, spec, num_classes=num_classes or 1000, in_channels=in_channels, **model)
    return config


def backbone_extra_options(builder) -> dict:
    """A backbone builder's own keyword options (beyond the common ones) with their defaults."""
    common = {"num_classes", "in_channels", "attention", *MODEL_OPTIONS}
    params = inspect.signature(builder).parameters.values()
    return {p.name: p.default for p in params
            if p.name not in common and p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


def input_shape(config: dict) -> tuple[int, int, int]:
    ds = config["dataset"]
    size = ds.get("image_size") or data_mod.dataset_info(ds["name"])["image_size"]
    if isinstance(size, int):
        size = (size, size)
    return (ds["in_channels"], *size)


def _build(config: dict, num_classes: int) -> torch.nn.Module:
    """The run's model, initialised with common random numbers (the same backbone draw for every
    variant of a seed: :mod:`ecabench.init`)."""
    return build_model(config["backbone"], config["attention"], num_classes=num_classes,
                       in_channels=config["dataset"]["in_channels"], seed=config["seed"], **config["model"])


def _record_base(config: dict, rid: str, num_classes: int) -> dict:
    spec = parse_spec(config["attention"])
    d = describe(config["backbone"], spec, num_classes=num_classes,
                 in_channels=config["dataset"]["in_channels"], **config["model"])
    resolved = resolved_by_stage(d)
    return {"schema_version": SCHEMA_VERSION, "run_id": rid, "status": "ok", "error": None,
            "config": config, "spec": str(spec), "spec_id": spec.id,
            "architecture_id": d["architecture_id"], "resolved": resolved}


def _curves(epochs: list[dict]) -> list[dict]:
    rename = {"train_top1": "train_top1_pct", "val_top1": "val_top1_pct", "val_top5": "val_top5_pct"}
    return [{rename.get(k, k): v for k, v in e.items()} for e in epochs]


def _scores(model, bundle, recipe: TrainConfig, dev, epochs: list[dict]) -> dict:
    """Test top-1/top-5/loss, and the last epoch's validation numbers (the same weights: not evaluated twice)."""
    test = evaluate(model, bundle.test, device=dev, amp=recipe.amp, channels_last=recipe.channels_last)
    out = {"test_top1_pct": test["top1"], "test_top5_pct": test["top5"], "test_loss": test["loss"]}
    last = epochs[-1] if epochs else {}
    if bundle.val is not None and last.get("val_top1") is not None:
        out.update(val_top1_pct=last["val_top1"], val_top5_pct=last["val_top5"], val_loss=last["val_loss"])
    elif bundle.val is not None:
        val = evaluate(model, bundle.val, device=dev, amp=recipe.amp, channels_last=recipe.channels_last)
        out.update(val_top1_pct=val["top1"], val_top5_pct=val["top5"], val_loss=val["loss"])
    return out


def _counts(model, config: dict) -> dict:
    flops = count_flops(model, input_shape(config))
    return {**count_params(model), "macs": flops["macs"], "elementwise_flops": flops["elementwise_flops"]}


def _own_throughput(model, config: dict, dev, throughput: bool | dict) -> tuple[dict, dict]:
    """This model's own absolute images/s (comparisons between variants come from the measure jobs)."""
    options = throughput if isinstance(throughput, dict) else {}
    tp = measure_throughput(model, input_shape(config), device=str(dev), **options)
    speed = {k: tp[k] for k in ("inference_images_per_s", "train_images_per_s", "latency_b1_p50_ms",
                                "latency_b1_p95_ms") if k in tp}
    return {k: v for k, v in tp.items() if not isinstance(v, (list, tuple))}, speed


def run_experiment(config: dict, *, out_dir: str | Path = "results/runs", device: str = "auto",
                   data_root: str | None = None, download: bool = False,
                   checkpoint_dir: str | Path | None = None, keep_checkpoint: bool = False,
                   throughput: bool | dict = False, progress: bool = True) -> dict:
    """Train and measure one configuration; write ``out_dir/<run_id>.json`` atomically."""
    t_start = time.perf_counter()
    started = _now()
    out_dir = check_writable(out_dir)
    rid = run_id(config)
    dev = resolve_device(device)
    ds = config["dataset"]
    # Bad input (missing dataset, subset too large) raises here, before any training.
    bundle = data_mod.load_dataset(ds["name"], root=data_root or ds.get("root"), download=download,
                                   val_size=ds["val_size"],
                                   subset=ds["subset"], seed=config["seed"], device=dev,
                                   image_size=ds.get("image_size"), test_subset=ds.get("test_subset"))
    record = _record_base(config, rid, bundle.num_classes)
    recipe = TrainConfig.from_dict({**config["train"], "seed": config["seed"], "device": str(dev)})
    ckpt = Path(checkpoint_dir or out_dir / ".checkpoints") / f"{rid}.pt"
    metrics: dict[str, Any] = {}
    curves: list = []
    measurement = None
    timings: dict[str, Any] = {"started_at": started}
    try:
        seed_everything(config["seed"])
        model = _build(config, bundle.num_classes)
        result = train(model, bundle, recipe, checkpoint_path=ckpt, progress=progress)
        curves = _curves(result.epochs)
        timings.update(train_time_s=result.train_time_s, resumed_from_epoch=result.resumed_from_epoch)
        record["status"], record["error"] = result.status, result.error
        if result.status == "ok":
            t0 = time.perf_counter()
            metrics.update(_scores(model, bundle, recipe, dev, result.epochs))
            timings["eval_time_s"] = time.perf_counter() - t0
        model = model.to("cpu").float()
        metrics.update(_counts(model, config))
        if throughput and result.status == "ok":
            t0 = time.perf_counter()
            measurement, speed = _own_throughput(model, config, dev, throughput)
            metrics.update(speed)
            timings["measure_time_s"] = time.perf_counter() - t0
    except Exception as exc:  # a failing run is a result, not a crash of the sweep
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-3))
    record.update(metrics=metrics, measurement=measurement, curves=curves)
    timings.update(finished_at=_now(), total_time_s=time.perf_counter() - t_start)
    record["timings"] = timings
    record["environment"] = {**environment(), "device": str(dev), "data_source": bundle.source,
                             "n_train": bundle.n_train, "n_val": bundle.n_val, "n_test": bundle.n_test}
    write_record(record, out_dir / f"{rid}.json")
    if record["status"] == "ok" and not keep_checkpoint:
        ckpt.unlink(missing_ok=True)
    return record
