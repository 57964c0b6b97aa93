"""ImageNet-style ResNet-18/34/50/101/152 with an attention slot in every block.

Module names and init mirror torchvision exactly, so a baseline model loads torchvision's
``state_dict`` strictly and parameter counts are comparable with published figures.
"""
from __future__ import annotations

from torch import Tensor, nn

from ecabench.backbones.slots import AttentionFactory, check_position, init_backbone, make_attention
from ecabench.registry import register_backbone


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 attention: AttentionFactory | None = None, stage: int = 0, position: str = "output") -> None:
        super().__init__()
        self.position = check_position(position)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.attn = make_attention(attention, planes, stage)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        if self.position == "conv":
            out = self.attn(out)
        out = self.bn2(self.conv2(out))
        if self.position == "output":
            out = self.attn(out)
        # Out of place: an attention module may return a tensor its own backward still needs.
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 attention: AttentionFactory | None = None, stage: int = 0, position: str = "output") -> None:
        super().__init__()
        self.position = check_position(position)
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        channels = width if position == "conv" else planes * self.expansion
        self.attn = make_attention(attention, channels, stage)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        if self.position == "conv":
            out = self.attn(out)
        out = self.bn3(self.conv3(out))
        if self.position == "output":
            out = self.attn(out)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        attention: AttentionFactory | None = None,
        small_input: bool = False,
        position: str = "output",
    ) -> None:
        super().__init__()
        check_position(position)
        self.inplanes = 64
        if small_input:
            # 28-32 px images: a 7x7/2 stem plus max-pool would leave layer4 at 1x1.
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        opts = dict(attention=attention, position=position)
        self.layer1 = self._make_layer(block, 64, layers[0], stage=0, **opts)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, stage=1, **opts)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, stage=2, **opts)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, stage=3, **opts)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        init_backbone(self, self.init_module)

    @staticmethod
    def init_module(m: nn.Module) -> bool:
        """torchvision's init rule for one module; False: the module keeps PyTorch's default."""
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        else:
            return False
        return True

    def _make_layer(
        self,
        block: type[BasicBlock | Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
        stage: int = 0,
        **opts,
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, stage=stage, **opts)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, stage=stage, **opts))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


LAYERS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
}
META = dict(num_stages=4, default_input=(3, 224, 224))


def _builder(name: str):
    block, layers = LAYERS[name]

    def build(*, num_classes: int = 1000, in_channels: int = 3, attention: AttentionFactory | None = None,
              small_input: bool = False, position: str = "output") -> ResNet:
        return ResNet(block, layers, num_classes, in_channels, attention, small_input, position)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"torchvision's {name} ({block.__name__} blocks {layers}) with an attention slot per block."
    return build


BUILDERS = {name: _builder(name) for name in LAYERS}
resnet18, resnet34, resnet50, resnet101, resnet152 = (BUILDERS[n] for n in LAYERS)


for _name, _build in BUILDERS.items():
    register_backbone(_name, **META)(_build)
