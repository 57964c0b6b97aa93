"""Per-epoch checkpoints: what goes in, and the checks that a resumed run is the same run.

A checkpoint holds everything the next epoch depends on (weights, optimizer and schedule state,
curves, loader position, RNG states), written atomically so a killed job never leaves half a file.
It is only resumed under the same training config (except where it runs) and the same data, so a
resumed run ends with exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ecabench.data import DataBundle
from ecabench.runconfig import TrainConfig
from ecabench.train.seeding import rng_state, set_rng_state
from ecabench.util import atomic_write

CHECKPOINT_FORMAT = 1

# config fields that may change between the interrupted run and its resumption
_RESUME_FREE = {"device", "num_threads"}

_DATA_KEYS = ("dataset", "num_classes", "n_train", "n_val")


def data_fingerprint(data: DataBundle) -> dict[str, Any]:
    return {"dataset": data.name, "num_classes": data.num_classes, "n_train": data.n_train,
            "n_val": data.n_val}


def _mismatches(saved: dict[str, Any], now: dict[str, Any], keys) -> list[str]:
    return [f"{k}: {saved.get(k)!r} (checkpoint) != {now[k]!r}" for k in keys if saved.get(k) != now[k]]


def load_checkpoint(path: Path, cfg: TrainConfig, data: DataBundle) -> dict[str, Any]:
    """The checkpoint at ``path``, after checking it was written by this config on this data."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read checkpoint {path} ({type(exc).__name__}: {exc}); "
                         "delete it to start over") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an ecabench training checkpoint (format {CHECKPOINT_FORMAT}); "
                         "delete it to start over")
    now = cfg.to_dict()
    diff = _mismatches(ckpt.get("config", {}), now, [k for k in now if k not in _RESUME_FREE])
    if diff:
        raise ValueError(f"checkpoint {path} was written with a different training config ("
                         + "; ".join(diff) + "); delete it or train with the same config")
    diff = _mismatches(ckpt.get("data", {}), data_fingerprint(data), _DATA_KEYS)
    if diff:
        raise ValueError(f"checkpoint {path} was written for other data (" + "; ".join(diff)
                         + "); delete it or train on the same data")
    return ckpt


def resume(path: Path, cfg: TrainConfig, data: DataBundle, *, model: nn.Module, optimizer, scheduler,
           loader) -> tuple[list[dict[str, Any]], int, float]:
    """Load the checkpoint into the run's objects and RNGs; returns (curves, epochs done, train time)."""
    ckpt = load_checkpoint(path, cfg, data)
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(f"checkpoint {path} does not fit this model ({exc}); "
                         "delete it to start over") from None
    scheduler.load_state_dict(ckpt["scheduler"])
    curves = list(ckpt["curves"])
    start_epoch = int(ckpt["epoch"])
    elapsed_before = float(ckpt.get("train_time_s", 0.0))
    loader.load_state_dict(ckpt["loader"])
    set_rng_state(ckpt["rng"])
    return curves, start_epoch, elapsed_before


def save_checkpoint(path: Path, cfg: TrainConfig, data: DataBundle, *, epoch: int, model: nn.Module,
                    optimizer, scheduler, loader, curves: list[dict[str, Any]], train_time: float) -> None:
    """Write the state after ``epoch`` epochs (atomically: the old checkpoint stays until this one is whole)."""
    atomic_write(path, lambda tmp: torch.save({
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "curves": curves,
        "config": cfg.to_dict(),
        "data": data_fingerprint(data),
        "loader": dict(loader.state_dict()),
        "rng": rng_state(),
        "train_time_s": train_time,
    }, tmp))
