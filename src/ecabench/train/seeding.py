"""Seeding, determinism switches and RNG state capture, so runs repeat and resumed runs match.

Everything a training step draws at random comes from the python, numpy and torch generators seeded
here; their states go into each checkpoint so a resumed run continues the very same streams.
"""

from __future__ import annotations

import contextlib
import random
import sys
from typing import Any, Mapping

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (all devices).

    With ``deterministic`` (the default; training passes it on CPU only)
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` is switched on; otherwise it is
    switched off and cuDNN may pick the fastest (non-deterministic) kernels.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        set_deterministic(True, warn_only=True)
    else:
        set_deterministic(False)
        torch.backends.cudnn.benchmark = True


def set_deterministic(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=...)`` without importing TorchInductor.

    The public function also sets ``torch._inductor.config.deterministic``, and importing that module
    brings in TorchDynamo, which costs seconds per training job. Inductor's flag matters only to code
    that compiles (training here never does), so it is set only when Inductor is already loaded.
    """
    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextlib.contextmanager
def global_torch_state(num_threads: int | None):
    """Leave torch's global switches (threads, determinism, cuDNN autotuning) as they were found."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        set_deterministic(det, warn_only=det_warn)
        torch.backends.cudnn.benchmark = benchmark


def rng_state() -> dict[str, Any]:
    """RNG states as tensors and plain types (loadable with ``torch.load(weights_only=True)``)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(np_state[0]),
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss_next": py_state[2]},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only on a machine with as many GPUs)."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state((npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
