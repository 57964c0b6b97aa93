"""MobileNetV2 (any torchvision ``width_mult``) with an attention slot in every inverted-residual block.

Module names and init mirror torchvision (``features.N.conv.M``, ``classifier.1``), so a baseline
model loads torchvision's ``state_dict`` strictly. The attention module sits beside ``conv`` as
``attn`` rather than inside it, so adding one never renumbers the torchvision keys.

Stages are the 7 (t, c, n, s) groups of the paper's table, 17 blocks in all. ``small_input=True``
sets the stem stride and the first stride-2 group's (c=24) stride to 1: total stride 8, the same
as the small-input ResNets (32 px -> 4x4 before pooling), as in the common CIFAR MobileNetV2.
``width_mult`` scales every width and rounds it to a multiple of 8 with torchvision's own rule
(``_make_divisible``); 1.0 is the architecture above, unchanged.
"""
from __future__ import annotations

from torch import Tensor, nn

from ecabench.backbones.slots import AttentionFactory, check_position, init_backbone, make_attention
from ecabench.registry import register_backbone

# t (expansion), c (out channels), n (blocks), s (first block's stride); one row per stage.
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class ConvBNReLU6(nn.Sequential):
    """Keys ``0.weight``/``1.*`` match torchvision's ``Conv2dNormActivation``."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand_ratio: int,
        attention: AttentionFactory | None = None,
        stage: int = 0,
        position: str = "output",
    ) -> None:
        super().__init__()
        check_position(position)
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(inp, hidden_dim, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),  # depthwise
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),  # linear projection
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup
        self.position = position
        # Index of the layer in ``conv`` after which attention runs.
        self._attn_after = len(layers) - 3 if position == "conv" else len(layers) - 1
        self.attn = make_attention(attention, hidden_dim if position == "conv" else oup, stage)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for i, layer in enumerate(self.conv):
            out = layer(out)
            if i == self._attn_after:
                out = self.attn(out)
        return x + out if self.use_res_connect else out


class MobileNetV2(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        attention: AttentionFactory | None = None,
        small_input: bool = False,
        position: str = "output",
        dropout: float = 0.2,
        width_mult: float = 1.0,
    ) -> None:
        # here, not at module level: importing torchvision costs every training process about 1.5 s,
        # and the registry imports this module for runs of any backbone
        from torchvision.models._utils import _make_divisible

        super().__init__()
        check_position(position)
        check_width_mult(width_mult)
        input_channel = _make_divisible(32 * width_mult, 8)
        last_channel = _make_divisible(1280 * max(1.0, width_mult), 8)
        features: list[nn.Module] = [ConvBNReLU6(in_channels, input_channel, stride=1 if small_input else 2)]
        for stage, (t, c, n, s) in enumerate(SETTING):
            if small_input and stage == 1:
                s = 1
            c = _make_divisible(c * width_mult, 8)
            for i in range(n):
                features.append(
                    InvertedResidual(input_channel, c, s if i == 0 else 1, t, attention, stage, position)
                )
                input_channel = c
        features.append(ConvBNReLU6(input_channel, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.last_channel = last_channel
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last_channel, num_classes))

        init_backbone(self, self.init_module)

    @staticmethod
    def init_module(m: nn.Module) -> bool:
        """torchvision's init rule for one module; False: the module keeps PyTorch's default."""
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
        else:
            return False
        return True

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
        return self.classifier(x)


def check_width_mult(width_mult) -> float:
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not 0 < width_mult <= 4:
        raise ValueError(f"mobilenet_v2: width_mult must be a number in (0, 4], got {width_mult!r}")
    return float(width_mult)


META = dict(num_stages=len(SETTING), default_input=(3, 224, 224))


@register_backbone("mobilenet_v2", **META)
def mobilenet_v2(*, num_classes: int = 1000, in_channels: int = 3, attention: AttentionFactory | None = None,
                 small_input: bool = False, position: str = "output", width_mult: float = 1.0) -> MobileNetV2:
    """torchvision's MobileNetV2; ``width_mult`` as torchvision's (channels rounded to multiples of 8)."""
    return MobileNetV2(num_classes, in_channels, attention, small_input, position, width_mult=width_mult)
