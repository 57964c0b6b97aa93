"""The attention-variant contract: :class:`AttentionVariant`, the one base class every variant subclasses.

Plugin authors read this module and nothing else. The spec layer (:mod:`ecabench.specs`) and the model
builder (:mod:`ecabench.models`) call these hooks on every variant; each has a default, so a variant
overrides only what it needs.
"""
from __future__ import annotations

import inspect
from typing import Any, ClassVar

from torch import nn

from ecabench.util import is_int, is_number


class AttentionVariant(nn.Module):
    """A channel- (or spatial-) attention module built as ``Variant(channels, **params)``.

    Write one like this, in a ``*.py`` file under ``ablations/plugins/`` (or an installed distribution
    with an ``ecabench.attention`` entry point)::

        from ecabench.attention.base import AttentionVariant
        from ecabench.registry import register_attention

        @register_attention("simam")
        class SimAM(AttentionVariant):
            def __init__(self, channels: int, e_lambda: float = 1e-4):
                super().__init__()
                ...

            def forward(self, x):  # (N, C, H, W) -> (N, C, H, W)
                ...

    The contract:

    - ``__init__(self, channels, **params)``: every parameter after ``channels`` has a default; the
      defaults are what a bare spec (``simam``) means, and a spec id names only what differs from them.
    - ``forward(x)`` returns a tensor of ``x``'s shape. The backbone places the module after each
      residual block's last BN, before the addition.
    - ``per_stage_params``: parameters a spec may give as a list, one value per backbone stage
      (ECA's ``k=[3,5,5]``); the module is then built with that stage's value.
    - ``check_params(params)``: raise ``ValueError`` naming the bad value and what is allowed. Called
      with every parameter (defaults filled in) before any model is built. The default checks each
      value against its default's type.
    - ``normalize_params(params)``: map equivalent settings to one form, so they share a run id
      (ECA drops ``gamma``/``b``/``odd`` when ``k`` is fixed). Default: unchanged.
    - ``format_param(name, value)``: the token a non-default parameter adds to the spec id
      (``eca-k5``). Default: ``name`` + value (``r8``), ``name``/``no<name>`` for booleans.
    - ``check_channels(channels, params, where)``: raise ``ValueError`` when a setting cannot fit a
      stage's channel count; ``where`` reads "stage S on BACKBONE". Runs while the model is described
      on the meta device, before any data is read. Default: accepts everything. (A constructor may
      instead raise :class:`ChannelsError`; the builder then names every stage it failed on.)
    - ``resolved_params()``: the settings this instance actually uses (ECA's ``k`` per stage). Two
      specs whose modules resolve alike build one architecture and are trained once. Default
      ``None``: every spec parameter is taken to shape the module.

    ``variant_name`` is the registered name, set by :func:`ecabench.registry.register_attention`;
    error messages use it.
    """

    variant_name: ClassVar[str] = ""
    per_stage_params: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The parameters after ``channels`` with their defaults, in signature order."""
        params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, channels
        return {
            p.name: p.default
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty
        }

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        defaults = cls.default_params()
        for key, value in params.items():
            values = value if key in cls.per_stage_params and isinstance(value, (list, tuple)) else [value]
            if key in defaults and not all(_same_type(v, defaults[key]) for v in values):
                shown = list(value) if isinstance(value, tuple) else value
                raise ValueError(f"{cls.variant_name}: {key}={shown!r} has the wrong type; expected "
                                 f"{type(defaults[key]).__name__} like the default {defaults[key]!r}")

    @classmethod
    def normalize_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        return params

    @classmethod
    def format_param(cls, name: str, value: Any) -> str:
        if isinstance(value, bool):
            return name if value else f"no{name}"
        if isinstance(value, (list, tuple)):
            return name + "_".join(str(v) for v in value)
        return f"{name}{value}"

    @classmethod
    def check_channels(cls, channels: int, params: dict[str, Any], where: str | None = None) -> None:
        return None

    def resolved_params(self) -> dict[str, Any] | None:
        return None


def _same_type(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if is_int(default):
        return is_int(value)
    if is_number(default):
        return is_number(value)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def as_variant(cls: Any) -> type[AttentionVariant]:
    """``cls`` itself when it subclasses :class:`AttentionVariant`; a plain ``nn.Module`` class (a plugin
    written before the base class existed) gets it mixed in, with its own hooks taking precedence."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"an attention variant is an nn.Module subclass (best: AttentionVariant), got {cls!r}")
    if issubclass(cls, AttentionVariant):
        return cls
    return type(cls.__name__, (cls, AttentionVariant),
                {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})


def check_positive_int(variant: str, name: str, value, minimum: int = 1) -> None:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{variant}: {name} must be an integer >= {minimum}, got {value!r}")


class ChannelsError(ValueError):
    """A parameter value that does not fit the channel count a module is built for.

    Its message names the variant, the value and the channels ("se_gc: groups=16 does not divide the
    24 channels"); :func:`ecabench.models.build_model` completes it with the stage, its blocks and the
    backbone, so ``describe`` (and with it run planning) refuses the spec before any real model is built.
    """
