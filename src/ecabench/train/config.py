"""What a training run is asked to do (:class:`TrainConfig`) and what it reports (:class:`TrainResult`).

The config is checked field by field when it is built, so a typo in a YAML file fails with the key
and what is allowed, before any data is read or model built.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ecabench.train.device import DEVICE_RE
from ecabench.util import is_int, is_number


def _finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


@dataclass
class TrainConfig:
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast, CUDA only
    channels_last: bool = True  # NHWC activations (faster with cuDNN and oneDNN alike)
    num_threads: int | None = None  # torch CPU threads during training (None: leave as is)
    augment: bool = True  # apply the dataset's train augmentation policy (none for fashion-mnist/digits)

    def __post_init__(self) -> None:
        for name, ok, allowed in self._rules():
            if not ok():
                raise ValueError(f"train config: {name}={getattr(self, name)!r} is invalid; {allowed}")

    def _rules(self) -> list[tuple[str, Callable[[], bool], str]]:
        """(field, is it valid?, what is allowed), checked in this order: a rule may rely on the ones
        before it (``warmup_epochs`` on ``epochs``)."""
        flags = [(flag, lambda flag=flag: isinstance(getattr(self, flag), bool), "it must be true or false")
                 for flag in ("amp", "channels_last", "augment")]
        return [
            ("epochs", lambda: is_int(self.epochs) and self.epochs >= 1, "it must be an integer >= 1"),
            ("batch_size", lambda: is_int(self.batch_size) and self.batch_size >= 1, "it must be an integer >= 1"),
            ("lr", lambda: _finite(self.lr) and self.lr > 0, "it must be a finite number > 0"),
            ("momentum", lambda: is_number(self.momentum) and 0 <= self.momentum < 1,
             "it must be a number in [0, 1)"),
            ("nesterov", lambda: isinstance(self.nesterov, bool), "it must be true or false"),
            ("nesterov", lambda: not (self.nesterov and self.momentum == 0),
             "Nesterov momentum needs momentum > 0 (set nesterov: false)"),
            ("weight_decay", lambda: _finite(self.weight_decay) and self.weight_decay >= 0,
             "it must be a finite number >= 0"),
            ("warmup_epochs", lambda: is_number(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs,
             f"it must be a number in [0, epochs={self.epochs}]"),
            ("label_smoothing", lambda: is_number(self.label_smoothing) and 0 <= self.label_smoothing < 1,
             "it must be a number in [0, 1)"),
            ("seed", lambda: is_int(self.seed) and 0 <= self.seed < 2**32, "it must be an integer in [0, 2**32)"),
            ("device", lambda: isinstance(self.device, str) and bool(DEVICE_RE.match(self.device)),
             "use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
            *flags,
            ("num_threads", lambda: self.num_threads is None or (is_int(self.num_threads) and self.num_threads >= 1),
             "it must be an integer >= 1 or null"),
        ]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping (e.g. a YAML section); unknown keys are an error with a suggestion."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in values if k not in known]
        if unknown:
            k = unknown[0]
            close = difflib.get_close_matches(str(k), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"train config: unknown key {k!r}{hint}; known keys: {', '.join(known)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
