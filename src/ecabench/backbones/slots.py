"""The attention slot every backbone block has: placement options, the factory call, and the init rule
that leaves attention modules to initialise themselves."""
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

