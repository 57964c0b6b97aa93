"""Build a backbone with an attention variant, and describe what that produces.

``build_model`` is the one way models are made, so every caller (CLI, training, measurements,
workflow) gets the same architecture for the same (backbone, spec, options). ``describe`` builds on
the meta device (no memory, no init cost) to report parameter counts and the per-stage settings each
attention module resolved to; ``architecture_id`` hashes that, so two specs that produce identical
models (e.g. ``eca`` and ``eca(k=3)`` on ResNet-20) are recognised as one.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

from ecabench.registry import BACKBONES, iter_attention_modules
from ecabench.specs import VariantSpec, parse_spec, resolve_stage_params

STAGE_ATTR = "ecabench_stage"


def attention_factory(spec: VariantSpec, num_stages: int, backbone: str) -> Callable[[int, int], nn.Module]:
    """``factory(channels, stage)`` as backbones call it; per-stage lists are checked up front."""
    for stage in range(num_stages):
        resolve_stage_params(spec, stage, num_stages, backbone)
    cls = spec.variant

    def make(channels: int, stage: int) -> nn.Module:
        module = cls(channels, **resolve_stage_params(spec, stage, num_stages, backbone))
        setattr(module, STAGE_ATTR, stage)
        return module

    return make


def build_model(backbone: str, attention: str | dict | VariantSpec = "none", *, num_classes: int = 1000,
                in_channels: int = 3, **options: Any) -> nn.Module:
    """Instantiate ``backbone`` with ``attention`` in every block (see DESIGN.md for placement)."""
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    spec = parse_spec(attention)
    entry = BACKBONES.entry(backbone)
    factory = attention_factory(spec, entry.meta["num_stages"], backbone)
    return entry.obj(num_classes=num_classes, in_channels=in_channels, attention=factory, **options)


def describe(backbone: str, attention: str | dict | VariantSpec = "none", *, num_classes: int = 1000,
             in_channels: int = 3, **options: Any) -> dict:
    """Parameter counts and every attention module's resolved settings, grouped by stage."""
    spec = parse_spec(attention)
    with torch.device("meta"):
        model = build_model(backbone, spec, num_classes=num_classes, in_channels=in_channels, **options)
    modules, all_resolved = [], True
    for name, module in iter_attention_modules(model):
        all_resolved &= hasattr(module, "resolved_params")
        resolved = module.resolved_params() if hasattr(module, "resolved_params") else {}
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
    # A variant without resolved_params() may be shaped by any spec parameter (e.g. SE's r).
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
        "architecture_id": _hash(signature),
    }


def architecture_id(backbone: str, attention: str | dict | VariantSpec = "none", **kwargs: Any) -> str:
    return describe(backbone, attention, **kwargs)["architecture_id"]


def stage_values(description: dict, key: str) -> list:
    """One value per stage for a resolved parameter (e.g. ``k``); a stage with several gives a list."""
    out = []
    for stage in description["stages"]:
        values = [r[key] for r in stage["resolved"] if key in r]
        out.append(values[0] if len(values) == 1 else values)
    return out


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
