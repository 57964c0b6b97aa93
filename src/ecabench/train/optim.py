"""The optimizer and learning-rate schedule: SGD with Nesterov momentum, linear warm-up, cosine decay."""

from __future__ import annotations

import math

import torch
from torch import nn

from ecabench.runconfig import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD (momentum, Nesterov); weight decay only on weights with ndim > 1 (not BN params, biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay, "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           weight_decay=cfg.weight_decay)


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base LR for (0-based) optimizer step ``step``.

    Linear warm-up ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then cosine
    decay ``0.5 * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps)))`` to 0.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class LRLambda:
    """The schedule as a plain object: LambdaLR stores its ``__dict__`` (two ints) in state_dict."""

    def __init__(self, total_steps: int, warmup_steps: int):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total_steps, self.warmup_steps)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The per-step schedule over ``cfg.epochs`` epochs, warm-up rounded to whole steps."""
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LRLambda(total_steps, warmup_steps))


def last_step_lr(scheduler, cfg: TrainConfig) -> float:
    """The learning rate used by the epoch's last optimizer step (the scheduler has moved past it)."""
    step = scheduler.last_epoch - 1
    return cfg.lr * scheduler.lr_lambdas[0](step)
