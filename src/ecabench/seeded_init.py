"""Seeded initialisation with common random numbers across attention variants.

A paired comparison of two variants measures the attention only if everything else is the same
draw. Built with a seed, a model's backbone tensors do not depend on which attention it carries:
each backbone module is initialised from its own stream, keyed by ``(seed, module path)`` (so by
the names of its parameters), and each attention module is built from a stream of its own, keyed
by ``(seed, its place in the build order)``. ``none``, ``eca``, ``se`` and ``cbam`` built with the
same seed therefore share every backbone tensor bit for bit, and an attention module's init never
shifts the backbone's random numbers.

The backbone's own init rule is kept: a backbone model may define ``init_module(module) -> bool``
(the rule its constructor applies, e.g. He init for convolutions); modules the rule does not
handle get their ``reset_parameters()`` (PyTorch's default, what they were built with).
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch
from torch import nn

from ecabench.backbones import attention_module_ids

STREAM_BACKBONE = "backbone"
STREAM_ATTENTION = "attention"
STREAM_BUILD = "build"


def stream_seed(seed: int, *key: object) -> int:
    """A well-mixed 63-bit seed for the stream named ``key`` under ``seed``."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in key).encode()).digest()
    words = [int(seed) & 0xFFFFFFFF, int(seed) >> 32, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()]
    state = np.random.SeedSequence(words).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def seeded_attention(factory: Callable[[int, int], nn.Module], seed: int) -> Callable[[int, int], nn.Module]:
    """``factory`` whose n-th module is built from the attention stream ``(seed, n)``."""
    calls = [0]

    def make(channels: int, stage: int) -> nn.Module:
        index = calls[0]
        calls[0] += 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(seed, STREAM_ATTENTION, index))
            return factory(channels, stage)

    return make


def _owns_tensors(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def reinit_backbone(model: nn.Module, seed: int) -> nn.Module:
    """Re-draw every backbone module's tensors from its ``(seed, module path)`` stream, in place."""
    rule = getattr(model, "init_module", None)
    skip = attention_module_ids(model)
    for name, module in model.named_modules():
        if id(module) in skip or not _owns_tensors(module):
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(seed, STREAM_BACKBONE, name))
            handled = bool(rule(module)) if rule is not None else False
            if not handled and hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return model


def build_seeded(build: Callable[[Callable[[int, int], nn.Module]], nn.Module],
                 factory: Callable[[int, int], nn.Module], seed: int) -> nn.Module:
    """``build(attention_factory)`` with common random numbers (module docstring); the global RNG
    is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(seed, STREAM_BUILD))
        model = build(seeded_attention(factory, seed))
        return reinit_backbone(model, seed)


__all__ = ["build_seeded", "reinit_backbone", "seeded_attention", "stream_seed"]
