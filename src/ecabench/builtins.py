"""The built-in attention variants and backbones, registered in one explicit place.

The modules that define them import nothing from the registry, so the registry can load them on
first use without an import cycle; plugins register themselves with the registry's decorators.
"""
from __future__ import annotations

from ecabench.attention import CBAM, ECA, ECANS, SE, SEGC, NoAttention, SEVar1, SEVar2, SEVar3
from ecabench.backbones import cifar_resnet, mobilenet, resnet

ATTENTION_VARIANTS = {
    "none": NoAttention, "eca": ECA, "se": SE, "cbam": CBAM,
    # the ECA paper's Table 2 (channel-attention design without dimensionality reduction)
    "se_var1": SEVar1, "se_var2": SEVar2, "se_var3": SEVar3, "se_gc": SEGC, "eca_ns": ECANS,
}


def register_builtins(attention_registry, backbone_registry) -> None:
    for name, cls in ATTENTION_VARIANTS.items():
        attention_registry.register(name, cls)
    for name, build in resnet.BUILDERS.items():
        backbone_registry.register(name, build, **resnet.META)
    for name, build in cifar_resnet.BUILDERS.items():
        backbone_registry.register(name, build, **cifar_resnet.META)
    for alias, name in cifar_resnet.ALIASES.items():
        backbone_registry.register(alias, cifar_resnet.BUILDERS[name], alias_of=name, **cifar_resnet.META)
    backbone_registry.register("mobilenet_v2", mobilenet.mobilenet_v2, **mobilenet.META)
