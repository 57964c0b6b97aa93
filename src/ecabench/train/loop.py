"""The training loop: epochs of SGD steps, validation after each, a checkpoint after each.

The loss is checked on the host only once per window of steps (a sync per step would stall the GPU),
yet a divergence is still reported at the exact step. A non-finite loss ends training with status
``"diverged"`` instead of an exception, so a sweep records it and moves on.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm import tqdm

from ecabench.data import DataBundle, make_loader
from ecabench.device import autocast, resolve_device, sync, to_device
from ecabench.runconfig import TrainConfig
from ecabench.train.checkpoint import resume, save_checkpoint
from ecabench.train.config import TrainResult
from ecabench.train.evaluation import evaluate
from ecabench.train.optim import build_optimizer, build_scheduler, last_step_lr
from ecabench.train.seeding import global_torch_state, seed_everything

#: Steps between host syncs (divergence check and progress-bar update).
SYNC_EVERY = 20


@dataclass
class _Run:
    """What every epoch of one training run works with, built once."""

    model: nn.Module
    data: DataBundle
    cfg: TrainConfig
    device: torch.device
    loader: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    criterion: nn.Module
    steps_per_epoch: int


def _setup(model: nn.Module, data: DataBundle, cfg: TrainConfig, device: torch.device) -> _Run:
    if cfg.channels_last:
        model.to(device=device, memory_format=torch.channels_last)
    else:
        model.to(device)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    optimizer = build_optimizer(model, cfg)
    n_train = len(data.train)
    # a last batch of one sample breaks BatchNorm on 1x1 maps: drop it (only then)
    loader = make_loader(data.train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                         augment=cfg.augment, drop_last=n_train % cfg.batch_size == 1 and n_train > 1)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"the training split has {n_train} images: not one batch")
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    return _Run(model, data, cfg, device, loader, optimizer, scheduler, criterion, steps_per_epoch)


def train(
    model: nn.Module,
    data: DataBundle,
    cfg: TrainConfig,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data.train``, validating on ``data.val`` after every epoch.

    ``checkpoint_path``: written (atomically) after every epoch; if it exists at the start, training
    resumes from it (the config must match, except ``device`` and ``num_threads``).
    ``on_epoch_end(record)`` is called after each epoch's checkpoint is written; an exception it
    raises propagates (that is how tests simulate a killed run).
    Returns a :class:`TrainResult`; divergence (a non-finite loss) is reported, not raised.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    device = resolve_device(cfg.device)
    ckpt_path = Path(checkpoint_path) if checkpoint_path is not None else None

    with global_torch_state(cfg.num_threads):
        # seeded again here (the caller seeds before building the model) for everything after it
        seed_everything(cfg.seed, deterministic=device.type != "cuda")
        run = _setup(model, data, cfg, device)
        curves: list[dict[str, Any]] = []
        start_epoch, elapsed_before = 0, 0.0
        if ckpt_path is not None and ckpt_path.exists():
            curves, start_epoch, elapsed_before = resume(
                ckpt_path, cfg, data, model=model, optimizer=run.optimizer, scheduler=run.scheduler,
                loader=run.loader)

        result = TrainResult(status="ok", epochs=curves, resumed_from_epoch=start_epoch, device=str(device))
        t_start = time.perf_counter()
        for epoch in range(start_epoch, cfg.epochs):
            record, error = _train_epoch(run, epoch, progress)
            if error is not None:
                result.status, result.error = "diverged", error
                break
            curves.append(record)
            if ckpt_path is not None:
                save_checkpoint(ckpt_path, cfg, data, epoch=epoch + 1, model=model, optimizer=run.optimizer,
                                scheduler=run.scheduler, loader=run.loader, curves=curves,
                                train_time=elapsed_before + time.perf_counter() - t_start)
            if on_epoch_end is not None:
                on_epoch_end(dict(record))
        result.train_time_s = elapsed_before + time.perf_counter() - t_start
        return result


def _train_epoch(run: _Run, epoch: int, progress: bool) -> tuple[dict[str, Any], str | None]:
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{run.cfg.epochs}", unit="batch",
               file=sys.stderr, disable=not progress, leave=True, dynamic_ncols=True)
    try:
        return _run_epoch(run, epoch, bar if progress else None)
    finally:
        bar.close()


class _EpochMeter:
    """Running loss and accuracy of an epoch, kept on the device; read by the host once per window."""

    def __init__(self, device: torch.device):
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.seen = 0
        self.window: list[torch.Tensor] = []  # losses not yet checked on the host
        self.done = 0  # steps checked so far
        self.postfix: dict[str, str] = {}

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        bs = int(y.shape[0])
        self.seen += bs
        loss_d = loss.detach()
        self.window.append(loss_d)
        self.loss_sum += loss_d.double() * bs
        self.correct += (logits.detach().argmax(dim=1) == y).sum()

    def check_window(self, epoch: int, steps_per_epoch: int) -> str | None:
        """The first non-finite loss of the window as an error message naming its step, else None."""
        losses = torch.stack(self.window).float().cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            i = int(bad[0])
            s = self.done + i
            return (f"non-finite training loss ({losses[i].item()}) at epoch {epoch + 1}, "
                    f"step {s + 1}/{steps_per_epoch} "
                    f"(global step {epoch * steps_per_epoch + s + 1})")
        self.done += len(self.window)
        self.window.clear()
        return None

    def show(self, bar, elapsed: float) -> None:
        self.postfix = {"loss": f"{self.loss_sum.item() / self.seen:.4f}",
                        "acc": f"{100.0 * self.correct.item() / self.seen:.2f}%",
                        "img/s": f"{self.seen / max(elapsed, 1e-9):.0f}"}
        bar.set_postfix(self.postfix, refresh=False)
        bar.update(self.done - bar.n)


def _train_step(run: _Run, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = to_device(xb, yb, run.device, run.cfg.channels_last)
    with autocast(run.device, run.cfg.amp):
        logits = run.model(x)
    loss = run.criterion(logits.float(), y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    return loss, logits, y


def _run_epoch(run: _Run, epoch: int, bar) -> tuple[dict[str, Any], str | None]:
    run.model.train()
    run.loader.set_epoch(epoch)
    meter = _EpochMeter(run.device)
    sync(run.device)
    t0 = time.perf_counter()
    for step, (xb, yb) in enumerate(run.loader):
        meter.add(*_train_step(run, xb, yb))
        if len(meter.window) == SYNC_EVERY or step + 1 == run.steps_per_epoch:
            error = meter.check_window(epoch, run.steps_per_epoch)
            if error is not None:
                return {}, error
            if bar is not None:
                meter.show(bar, time.perf_counter() - t0)
    sync(run.device)
    epoch_time = time.perf_counter() - t0
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "lr": last_step_lr(run.scheduler, run.cfg),
        "train_loss": meter.loss_sum.item() / meter.seen,
        "train_top1": 100.0 * meter.correct.item() / meter.seen,
    }
    error = _validate(run, epoch, record, bar, meter.postfix)
    if error is not None:
        return {}, error
    record.update(epoch_time_s=epoch_time, train_images_per_s=meter.seen / max(epoch_time, 1e-12))
    return record, None


def _validate(run: _Run, epoch: int, record: dict[str, Any], bar, postfix: dict[str, str]) -> str | None:
    """Add the validation metrics to ``record``; a non-finite one is returned as an error message."""
    if run.data.val is None:
        record.update(val_loss=None, val_top1=None, val_top5=None)
        return None
    val = evaluate(run.model, run.data.val, device=run.device, amp=run.cfg.amp,
                   channels_last=run.cfg.channels_last)
    if not all(math.isfinite(v) for v in val.values()):
        return f"non-finite validation loss ({val['loss']}) after epoch {epoch + 1}"
    record.update(val_loss=val["loss"], val_top1=val["top1"], val_top5=val["top5"])
    if bar is not None:
        bar.set_postfix({**postfix, "val_acc": f"{val['top1']:.2f}%"})
    return None
