"""Backbones with a slot for one attention module per residual block.

Every builder takes ``attention(channels, stage) -> nn.Module`` and stores what it returns on the
block as ``attn`` (:mod:`ecabench.backbones.slots`), so attention params can be counted, inspected and
swapped the same way on every backbone. Each family's module registers its builders where it defines
them.
"""
from __future__ import annotations

from ecabench.backbones import cifar_resnet, mobilenet, resnet
from ecabench.backbones.cifar_resnet import (
    cifar_resnet20,
    cifar_resnet32,
    cifar_resnet44,
    cifar_resnet56,
    cifar_resnet110,
)
from ecabench.backbones.mobilenet import mobilenet_v2
from ecabench.backbones.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from ecabench.backbones.slots import (
    POSITIONS,
    AttentionFactory,
    attention_module_ids,
    check_position,
    init_backbone,
    make_attention,
)

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
