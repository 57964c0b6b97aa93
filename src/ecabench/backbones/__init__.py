"""Backbones with a slot for one attention module per residual block.

Every builder takes ``attention(channels, stage) -> nn.Module`` and stores what it returns on the
block as ``attn``, so attention params can be counted, inspected and swapped the same way on every
backbone. Importing this package registers the built-in backbones.

The helpers live here (before the submodule imports) so the three backbone modules share one
definition of the placement options and of which modules the backbone's init may touch.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

AttentionFactory = Callable[[int, int], nn.Module]

#: ``output``: after the block's last BN, before the residual add (ECA/SE/CBAM reference code).
#: ``conv``: after the 3x3 (MobileNetV2: depthwise) conv's BN+activation, an ablation placement.
POSITIONS = ("output", "conv")


def check_position(position: str) -> str:
    if position not in POSITIONS:
        raise ValueError(
            f"unknown attention position {position!r}; allowed: {', '.join(repr(p) for p in POSITIONS)}"
        )
    return position


def make_attention(attention: AttentionFactory | None, channels: int, stage: int) -> nn.Module:
    if attention is None:
        return nn.Identity()
    module = attention(channels, stage)
    if not isinstance(module, nn.Module):
        raise TypeError(f"attention factory returned {type(module).__name__}, expected an nn.Module")
    return module


def attention_module_ids(model: nn.Module) -> set[int]:
    """ids of every module inside an ``attn`` slot.

    The backbone's init must leave these alone: a variant owns its init (e.g. CBAM's spatial conv
    and BN), so the same variant means the same thing on every backbone.
    """
    ids: set[int] = set()
    for module in model.modules():
        attn = getattr(module, "attn", None)
        if isinstance(attn, nn.Module):
            ids.update(id(m) for m in attn.modules())
    return ids


def init_backbone(model: nn.Module, rule: Callable[[nn.Module], bool]) -> None:
    """Apply the backbone's init ``rule`` to each of its own modules, never to attention's."""
    skip = attention_module_ids(model)
    for m in model.modules():
        if id(m) not in skip:
            rule(m)


from ecabench.backbones import cifar_resnet, mobilenet, resnet  # noqa: E402  (registers on import)
from ecabench.backbones.cifar_resnet import (  # noqa: E402
    cifar_resnet20,
    cifar_resnet32,
    cifar_resnet44,
    cifar_resnet56,
    cifar_resnet110,
)
from ecabench.backbones.mobilenet import mobilenet_v2  # noqa: E402
from ecabench.backbones.resnet import resnet18, resnet34, resnet50, resnet101, resnet152  # noqa: E402

__all__ = [
    "POSITIONS",
    "AttentionFactory",
    "attention_module_ids",
    "check_position",
    "init_backbone",
    "make_attention",
    "cifar_resnet",
    "mobilenet",
    "resnet",
    "cifar_resnet20",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "cifar_resnet110",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "mobilenet_v2",
]
