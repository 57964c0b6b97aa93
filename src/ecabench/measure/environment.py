"""The software and hardware a measurement ran on. Never raises: unknown fields are None."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import torch

from ecabench.measure.throughput import cpu_model_name


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(cwd: str | os.PathLike | None = None) -> dict:
    """``{"git_commit": sha or None, "git_dirty": bool or None}`` for the checkout containing ``cwd``.

    Dirty means ``git status --porcelain`` lists anything: modified, staged or untracked files that
    are not ignored (an untracked plugin changes results as much as an edit does). Both are None
    outside a git checkout or without git.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _git(["status", "--porcelain"], where)
    return {"git_commit": commit.strip() or None, "git_dirty": None if status is None else bool(status.strip())}


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except Exception:
        return None


def _cuda_devices() -> list[str]:
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def environment(cwd: str | os.PathLike | None = None) -> dict:
    """Versions, devices and code state, for every run record.

    Keys: ``python``, ``python_implementation``, ``platform``, ``machine``, ``torch``,
    ``torchvision``, ``fvcore``, ``numpy``, ``ecabench``, ``cuda`` (``torch.version.cuda`` when CUDA
    is usable, else None), ``cuda_build`` (the CUDA version torch was built with, or None),
    ``cudnn`` (int or None), ``cuda_available``, ``device_count``, ``devices`` (CUDA device names),
    ``cpu_model``, ``cpu_capability`` (the instruction set torch's CPU kernels use, e.g. ``AVX512``:
    the same config gives the same numbers only under the same one), ``cpu_count``, ``num_threads``
    (``torch.get_num_threads()``), ``git_commit``, ``git_dirty`` (see :func:`git_state`; the checkout
    is the one containing ``cwd``, default the current directory).
    """
    cuda_available = bool(_safe(torch.cuda.is_available))
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": _safe(platform.platform),
        "machine": _safe(platform.machine),
        "torch": torch.__version__,
        "torchvision": _package_version("torchvision"),  # not imported: ~0.5 s per training job
        "fvcore": _package_version("fvcore"),
        "numpy": _safe(lambda: __import__("numpy").__version__),
        "ecabench": _package_version("ecabench"),
        "cuda": _safe(lambda: torch.version.cuda) if cuda_available else None,
        "cuda_build": _safe(lambda: torch.version.cuda),
        "cudnn": _safe(lambda: torch.backends.cudnn.version()) if cuda_available else None,
        "cuda_available": cuda_available,
        "device_count": _safe(lambda: torch.cuda.device_count()) if cuda_available else 0,
        "devices": (_safe(_cuda_devices) or []) if cuda_available else [],
        "cpu_model": _safe(cpu_model_name),
        "cpu_capability": _safe(torch.backends.cpu.get_cpu_capability),
        "cpu_count": _safe(os.cpu_count),
        "num_threads": torch.get_num_threads(),
        "executable": sys.executable,
    }
    info.update(_safe(lambda: git_state(cwd)) or {"git_commit": None, "git_dirty": None})
    return info
