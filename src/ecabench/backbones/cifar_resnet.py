"""CIFAR ResNet-20/32/44/56/110 (He et al. 2016, sec. 4.2) with an attention slot in every block.

Three stages of n = (depth - 2) / 6 BasicBlocks at widths 16/32/64 and option-A shortcuts
(stride-2 subsampling plus zero channel padding), so the only parameters are convs, BNs and the
classifier and counts match the paper's (ResNet-20: 0.27M). Module names follow torchvision's
ResNet (conv1, bn1, layerN, fc) so tooling treats both families alike.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ecabench.backbones.slots import AttentionFactory, check_position, init_backbone, make_attention
from ecabench.registry import register_backbone


class ShortcutA(nn.Module):
    """Parameter-free shortcut: keeps the paper's parameter count (option B would add 1x1 convs)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        attention: AttentionFactory | None = None,
        stage: int = 0,
        position: str = "output",
    ) -> None:
        super().__init__()
        self.position = check_position(position)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = ShortcutA(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Identity()
        self.attn = make_attention(attention, planes, stage)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        if self.position == "conv":
            out = self.attn(out)
        out = self.bn2(self.conv2(out))
        if self.position == "output":
            out = self.attn(out)
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(
        self,
        depth: int,
        num_classes: int = 10,
        in_channels: int = 3,
        attention: AttentionFactory | None = None,
        position: str = "output",
    ) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        check_position(position)
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride, attention, stage, position))
                in_planes = planes
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

        # He init as in the paper (via torchvision's convention), leaving attention modules' own init.
        init_backbone(self, self.init_module)

    @staticmethod
    def init_module(m: nn.Module) -> bool:
        """The backbone's init rule for one module; False: the module keeps PyTorch's default."""
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        else:
            return False
        return True

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def cifar_resnet(depth: int, *, num_classes: int = 10, in_channels: int = 3,
                 attention: AttentionFactory | None = None, small_input: bool = True,
                 position: str = "output") -> CifarResNet:
    """Any 6n+2 depth. ``small_input`` is accepted so every backbone takes the same options;
    this family is small-input by design, so it changes nothing."""
    return CifarResNet(depth, num_classes, in_channels, attention, position)


META = dict(num_stages=3, default_input=(3, 32, 32))


def _builder(depth: int, name: str):
    def build(*, num_classes: int = 10, in_channels: int = 3, attention: AttentionFactory | None = None,
              small_input: bool = True, position: str = "output") -> CifarResNet:
        return cifar_resnet(depth, num_classes=num_classes, in_channels=in_channels, attention=attention,
                            small_input=small_input, position=position)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"CIFAR ResNet-{depth} ({(depth - 2) // 6} blocks per stage, option-A shortcuts)."
    return build


DEPTHS = (20, 32, 44, 56, 110)
BUILDERS = {f"cifar_resnet{d}": _builder(d, f"cifar_resnet{d}") for d in DEPTHS}
# The short names ``resnetN`` build the same architecture: registered with ``alias_of`` so callers can
# tell (e.g. to give both the same run id).
ALIASES = {f"resnet{d}": f"cifar_resnet{d}" for d in DEPTHS}
cifar_resnet20, cifar_resnet32, cifar_resnet44, cifar_resnet56, cifar_resnet110 = BUILDERS.values()


for _name, _build in BUILDERS.items():
    register_backbone(_name, **META)(_build)
for _alias, _name in ALIASES.items():
    register_backbone(_alias, alias_of=_name, **META)(BUILDERS[_name])
