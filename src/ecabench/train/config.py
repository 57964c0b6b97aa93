"""What a training run reports (:class:`TrainResult`); what it is asked to do is
:class:`ecabench.runconfig.TrainConfig` (checked field by field when it is built, and shared with the planner)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainResult:
    """Per-epoch records and how the run ended; divergence is a status here, not an exception."""

    status: str  # "ok" | "diverged"
    epochs: list[dict[str, Any]] = field(default_factory=list)
    train_time_s: float = 0.0
    error: str | None = None
    resumed_from_epoch: int = 0  # epochs restored from the checkpoint (0: fresh start)
    device: str = ""

    @property
    def final(self) -> dict[str, Any] | None:
        return self.epochs[-1] if self.epochs else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
