"""SE-GC (Wang et al., CVPR 2020, Table 2): SE's map replaced by one group convolution, no reduction.

Global average pooling y (C values) -> W_G y with W_G block-diagonal in G groups (a grouped 1x1
``Conv1d`` on y viewed as (N, C, 1)) -> sigmoid -> scale the input; C^2 / G parameters. The paper's
rows: SE-GC1 = 16 groups (``se_gc(groups=16)``, the default), SE-GC2 = C/16 groups of 16 channels
(``se_gc(group_channels=16)``), SE-GC3 = C/8 groups of 8 channels (``se_gc(group_channels=8)``).
A spec gives the number of groups or the channels per group, not both; either may be a per-stage
list. A value that does not divide a stage's channel count raises :class:`ChannelsError`, which the
model builder completes with the stage, its blocks and the backbone (so planning refuses it).
No bias unless a spec says ``bias=true`` (+C parameters); the paper does not say.
"""
from __future__ import annotations

import torch
from torch import nn

from ecabench.attention.base import AttentionVariant, ChannelsError, check_positive_int
from ecabench.registry import register_attention

DEFAULT_GROUPS = 16


@register_attention("se_gc")
class SEGC(AttentionVariant):
    per_stage_params = ("groups", "group_channels")

    def __init__(self, channels: int, groups: int | None = None, group_channels: int | None = None,
                 bias: bool = False):
        super().__init__()
        self.check_params({"groups": groups, "group_channels": group_channels, "bias": bias})
        if groups is None and group_channels is None:
            groups = DEFAULT_GROUPS
        self.channels = channels
        self.groups = self.resolve_groups(channels, groups, group_channels)
        self.bias = bias
        self.conv = nn.Conv1d(channels, channels, 1, groups=self.groups, bias=bias)

    @staticmethod
    def resolve_groups(channels: int, groups: int | None, group_channels: int | None) -> int:
        if groups is not None:
            if channels % groups:
                raise ChannelsError(f"se_gc: groups={groups} does not divide the {channels} channels")
            return groups
        if channels % group_channels:
            raise ChannelsError(f"se_gc: group_channels={group_channels} does not divide the {channels} channels")
        return channels // group_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        y = self.conv(x.mean((2, 3)).view(n, c, 1))
        return x * torch.sigmoid(y).view(n, c, 1, 1)

    def resolved_params(self) -> dict:
        return {"groups": self.groups, **({"bias": True} if self.bias else {})}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, groups={self.groups}, bias={self.bias}"

    @classmethod
    def check_params(cls, params: dict) -> None:
        groups, group_channels = params.get("groups"), params.get("group_channels")
        if groups is not None and group_channels is not None:
            raise ValueError(
                f"se_gc: give groups (the number of groups) or group_channels (channels per group), not both; "
                f"got groups={groups!r} and group_channels={group_channels!r}"
            )
        for name, value in (("groups", groups), ("group_channels", group_channels)):
            items = [] if value is None else value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                check_positive_int("se_gc", name, item)
        if not isinstance(params.get("bias", False), bool):
            raise ValueError(f"se_gc: bias must be true or false, got bias={params['bias']!r}")

    @classmethod
    def normalize_params(cls, params: dict) -> dict:
        # Neither given: the default, written out so the spec and its id say how W_G is grouped.
        if params["groups"] is None and params["group_channels"] is None:
            params = {**params, "groups": DEFAULT_GROUPS}
        return params

    @classmethod
    def format_param(cls, name: str, value) -> str:
        if name == "bias":
            return "bias" if value else "nobias"
        token = {"groups": "g", "group_channels": "c"}.get(name, name)
        return token + ("_".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value))
