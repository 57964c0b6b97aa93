"""Parameter counts: the whole model and the attention modules alone.

Parameters only (trainable and frozen alike); buffers such as BatchNorm running statistics are not
parameters and are not counted. A parameter shared by several modules is counted once, and an
attention module nested inside another attention module is not counted twice: the attention count
is the size of the *set* of parameters owned by attention modules.
"""
from __future__ import annotations

from torch import nn

from ecabench.measure.flops import count_flops
from ecabench.registry import iter_attention_modules


def count_params(model: nn.Module) -> dict:
    """Return ``{"params_total", "params_trainable", "params_attention"}`` (all ints).

    ``params_total`` counts every parameter (``requires_grad`` or not), ``params_trainable`` the
    ones with ``requires_grad``; ``params_attention`` every parameter reachable from a module that
    :func:`ecabench.registry.iter_attention_modules` yields (instances of registered attention
    variants), each parameter once.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_params expects an nn.Module, got {type(model).__name__}")
    params = list(model.parameters())  # Module.parameters() already de-duplicates shared tensors
    attention: dict[int, int] = {}
    for _name, module in iter_attention_modules(model):
        for p in module.parameters():
            attention[id(p)] = p.numel()
    return {
        "params_total": int(sum(p.numel() for p in params)),
        "params_trainable": int(sum(p.numel() for p in params if p.requires_grad)),
        "params_attention": int(sum(attention.values())),
    }


def count_model(model: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    """What a run record and a measure job report of a model: :func:`count_params`' three counts, and
    ``macs`` and ``elementwise_flops`` (:func:`ecabench.measure.count_flops`) for one image of ``input_shape``."""
    flops = count_flops(model, input_shape)
    return {**count_params(model), "macs": flops["macs"], "elementwise_flops": flops["elementwise_flops"]}
