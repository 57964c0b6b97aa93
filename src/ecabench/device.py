"""Where a run trains and a measure job times (one resolver for ``auto`` and device names), and the
per-device switches (bf16 autocast on CUDA, host syncs for timing)."""

from __future__ import annotations

import contextlib

import torch

from ecabench.runconfig import DEVICE_RE


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> first CUDA device if there is one, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str) or not DEVICE_RE.match(name):
        raise ValueError(f"device {name!r} is not supported; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} was requested but no CUDA GPU is available to torch "
            f"(torch {torch.__version__}, torch.cuda.is_available() is False); use device 'auto' or 'cpu'"
        )
    dev = torch.device(name)
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"device {name!r} does not exist: this machine has {count} CUDA device(s) "
                         f"(cuda:0..cuda:{count - 1})")
    return torch.device("cuda", dev.index if dev.index is not None else torch.cuda.current_device())


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; on CPU it would be slower, so there it does nothing."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device,
              channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch on ``device``, images in NHWC layout when ``channels_last``."""
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer read after it measures the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
