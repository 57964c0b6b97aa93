"""Build a backbone with an attention variant, and describe what that produces.

``build_model`` is the one way models are made, so every caller (CLI, training, measurements,
workflow) gets the same architecture for the same (backbone, spec, options). ``describe`` builds on
the meta device (no memory, no init cost) to report parameter counts and the per-stage settings each
attention module resolved to; ``architecture_id`` hashes that, so two specs that produce identical
models (e.g. ``eca`` and ``eca(k=3)`` on ResNet-20) are recognised as one.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ecabench.attention.base import ChannelsError
from ecabench.registry import BACKBONES, iter_attention_modules
from ecabench.seeded_init import build_seeded
from ecabench.specs import SpecError, VariantSpec, parse_spec, resolve_stage_params
from ecabench.util import short_hash

STAGE_ATTR = "ecabench_stage"


class AttentionFactory:
    """``factory(channels, stage)`` as backbones call it; per-stage lists are checked up front.

    Settings that only fail against a stage's channel count are refused when the module is built,
    which :func:`describe` does on the meta device before any data is read: the variant's
    ``check_channels`` hook first (its own message, e.g. ECA's fixed ``k`` wider than the channels); any
    other ``ValueError`` its constructor raises gets the stage, channel count and backbone added. A
    module that does not fit its channel count (:class:`~ecabench.attention.base.ChannelsError`, e.g.
    se_gc's groups) is replaced by a placeholder so the build can finish and every block be numbered;
    :meth:`raise_misfits` then names the first such stage with its blocks (1-based, in build order).
    """

    def __init__(self, spec: VariantSpec, num_stages: int, backbone: str):
        for stage in range(num_stages):
            resolve_stage_params(spec, stage, num_stages, backbone)
        self.spec, self.num_stages, self.backbone = spec, num_stages, backbone
        self.blocks: dict[int, list[int]] = {}
        self.misfits: list[tuple[int, int, ChannelsError]] = []  # (stage, channels, error)

    def __call__(self, channels: int, stage: int) -> nn.Module:
        self.blocks.setdefault(stage, []).append(sum(map(len, self.blocks.values())) + 1)
        params = resolve_stage_params(self.spec, stage, self.num_stages, self.backbone)
        where = f"stage {stage} on {self.backbone}"
        try:
            self.spec.variant.check_channels(channels, params, where)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        try:
            module = self.spec.variant(channels, **params)
        except ChannelsError as exc:
            self.misfits.append((stage, channels, exc))
            return nn.Identity()
        except ValueError as exc:
            raise SpecError(f"{exc} (building {self.spec} for {where}, {channels} channels)") from None
        setattr(module, STAGE_ATTR, stage)
        return module

    def raise_misfits(self) -> None:
        if not self.misfits:
            return
        stage, _, exc = self.misfits[0]
        message = f"{exc} of stage {stage} ({_block_range(self.blocks[stage])}) on {self.backbone}"
        others = {s: c for s, c, _ in self.misfits if s != stage}
        if others:
            message += "; also " + ", ".join(f"stage {s} ({c} channels)" for s, c in others.items())
        raise SpecError(message)


def _block_range(blocks: list[int]) -> str:
    return f"block {blocks[0]}" if len(blocks) == 1 else f"blocks {blocks[0]}-{blocks[-1]}"


def attention_factory(spec: VariantSpec, num_stages: int, backbone: str) -> AttentionFactory:
    return AttentionFactory(spec, num_stages, backbone)


def build_model(backbone: str, attention: str | dict | VariantSpec = "none", *, num_classes: int = 1000,
                in_channels: int = 3, seed: int | None = None, **options: Any) -> nn.Module:
    """Instantiate ``backbone`` with ``attention`` in every block (after the block's last BN, before
    the residual addition: :mod:`ecabench.backbones`).

    ``seed``: initialise with common random numbers (:mod:`ecabench.seeded_init`): the backbone's tensors
    are the same for every attention variant built with that seed. Without it, the weights come
    from torch's global random state, as any ``nn.Module`` constructor's do.
    """
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be an integer in [0, 2**63) or None, got {seed!r}")
    spec = parse_spec(attention)
    entry = BACKBONES.entry(backbone)
    factory = attention_factory(spec, entry.meta["num_stages"], backbone)

    def build(attention_factory: Callable[[int, int], nn.Module]) -> nn.Module:
        return entry.obj(num_classes=num_classes, in_channels=in_channels, attention=attention_factory, **options)

    model = build(factory) if seed is None else build_seeded(build, factory, seed)
    factory.raise_misfits()
    return model


@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """Make ``torch.nn.init.*_`` no-ops inside the block.

    For models built on the meta device: initialisation computes nothing there, yet the first
    ``normal_`` on a meta tensor imports torch's reference decompositions (1.5-4 s, once per process,
    which every training job would pay) and later ones cost most of the build time.
    """
    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for n in names:
            setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, fn in saved.items():
            setattr(torch.nn.init, n, fn)


def describe(backbone: str, attention: str | dict | VariantSpec = "none", *, num_classes: int = 1000,
             in_channels: int = 3, **options: Any) -> dict:
    """Parameter counts and every attention module's resolved settings, grouped by stage."""
    spec = parse_spec(attention)
    with torch.device("meta"), skip_weight_init():
        model = build_model(backbone, spec, num_classes=num_classes, in_channels=in_channels, **options)
    modules, all_resolved = [], True
    for name, module in iter_attention_modules(model):
        resolved = module.resolved_params()
        all_resolved &= resolved is not None
        resolved = resolved or {}
        modules.append({
            "module": name,
            "stage": getattr(module, STAGE_ATTR, None),
            "type": type(module).__name__,
            "channels": getattr(module, "channels", None),
            "params": sum(p.numel() for p in module.parameters()),
            "resolved": resolved,
        })
    stages: "OrderedDict[int, dict]" = OrderedDict()
    for m in modules:
        stage = stages.setdefault(m["stage"], {"stage": m["stage"], "blocks": 0, "channels": [], "resolved": []})
        stage["blocks"] += 1
        if m["channels"] not in stage["channels"]:
            stage["channels"].append(m["channels"])
        if m["resolved"] not in stage["resolved"]:
            stage["resolved"].append(m["resolved"])
    signature = {
        "backbone": backbone,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "options": options,
        "attention": spec.name,
        "modules": [[m["module"], m["type"], m["channels"], m["resolved"]] for m in modules],
    }
    # A variant whose resolved_params() is None may be shaped by any spec parameter (e.g. SE's r).
    if not all_resolved:
        signature["spec"] = spec.to_dict()
    params_total = sum(p.numel() for p in model.parameters())
    params_attention = sum(m["params"] for m in modules)
    return {
        "backbone": backbone,
        "spec": str(spec),
        "spec_id": spec.id,
        "params_total": params_total,
        "params_attention": params_attention,
        "stages": list(stages.values()),
        "modules": modules,
        "architecture_id": short_hash(signature),
    }


def architecture_id(backbone: str, attention: str | dict | VariantSpec = "none", **kwargs: Any) -> str:
    return describe(backbone, attention, **kwargs)["architecture_id"]


def resolved_by_stage(description: dict) -> dict[str, list]:
    """``{"k": [3, 5, 5, 7]}``: each resolved setting, one value per stage (the stage's first module's)."""
    resolved: dict[str, list] = {}
    for stage in description["stages"]:
        for r in stage["resolved"][:1]:
            for key, value in r.items():
                resolved.setdefault(key, []).append(value)
    return resolved


def stage_values(description: dict, key: str) -> list:
    """One value per stage for a resolved parameter (e.g. ``k``); a stage with several gives a list."""
    out = []
    for stage in description["stages"]:
        values = [r[key] for r in stage["resolved"] if key in r]
        out.append(values[0] if len(values) == 1 else values)
    return out
