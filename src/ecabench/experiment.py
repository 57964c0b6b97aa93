"""One experiment: normalised config -> data + model -> train -> measure -> run record.

The config comes from :func:`ecabench.runconfig.make_run_config` (checked before any data is read;
its hash is the run id). ``run_experiment`` never raises for a failure *during* training: the
record says ``failed`` or ``diverged``, so one bad run cannot stop a sweep. The device and the data
root are how a run is executed, not what it is: they are recorded but not hashed.
"""
from __future__ import annotations

import datetime as dt
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from ecabench import data as data_mod
from ecabench.measure import count_model, environment, measure_throughput
from ecabench.models import build_model, describe, resolved_by_stage
from ecabench.records import SCHEMA_VERSION, check_writable, write_record
from ecabench.runconfig import TrainConfig, input_shape, run_id
from ecabench.specs import parse_spec
from ecabench.train import evaluate, resolve_device, seed_everything, train


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _build(config: dict, num_classes: int) -> torch.nn.Module:
    """The run's model, initialised with common random numbers (the same backbone draw for every
    variant of a seed: :mod:`ecabench.seeded_init`)."""
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
        metrics.update(count_model(model, input_shape(config)))
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
