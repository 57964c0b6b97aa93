"""Shared helpers for attention variants: parameter checks and id formatting.

A variant is any ``nn.Module`` class built as ``Variant(channels, **params)``. The optional class
attributes and classmethods below let the spec layer validate and name it without knowing it:

- ``per_stage_params``: parameters that may be given as a list with one value per backbone stage;
- ``check_params(params)``: raise ``ValueError`` naming a bad value (called before any model is built);
- ``normalize_params(params)``: map equivalent settings to one canonical form;
- ``format_param(name, value)``: the token this parameter contributes to a spec id.
"""
from __future__ import annotations

from ecabench.util import is_int


def check_positive_int(variant: str, name: str, value, minimum: int = 1) -> None:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{variant}: {name} must be an integer >= {minimum}, got {value!r}")


class ChannelsError(ValueError):
    """A parameter value that does not fit the channel count a module is built for.

    Its message names the variant, the value and the channels ("se_gc: groups=16 does not divide the
    24 channels"); :func:`ecabench.models.build_model` completes it with the stage, its blocks and the
    backbone, so ``describe`` (and with it run planning) refuses the spec before any real model is built.
    """
