"""Backbones: torchvision parity, attention slot placement and calls, and a quick train step each."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from ecabench.backbones import POSITIONS, cifar_resnet, mobilenet, resnet
from ecabench.backbones.cifar_resnet import (
    ALIASES,
    cifar_resnet20,
    cifar_resnet32,
    cifar_resnet44,
    cifar_resnet56,
    cifar_resnet110,
)
from ecabench.backbones.mobilenet import mobilenet_v2
from ecabench.backbones.resnet import resnet18, resnet34, resnet50, resnet101, resnet152

CIFAR = {
    "cifar_resnet20": cifar_resnet20,
    "cifar_resnet32": cifar_resnet32,
    "cifar_resnet44": cifar_resnet44,
    "cifar_resnet56": cifar_resnet56,
    "cifar_resnet110": cifar_resnet110,
}
IMAGENET = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
    "mobilenet_v2": mobilenet_v2,
}
STAGES = {**{n: 3 for n in CIFAR}, **{n: 4 for n in IMAGENET}, "mobilenet_v2": 7}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Recorder(nn.Module):
    """Identity that remembers how it was built and what it saw."""

    def __init__(self, channels: int, stage: int):
        super().__init__()
        self.channels, self.stage = channels, stage
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x


class Zero(nn.Module):
    def __init__(self, channels: int, stage: int):
        super().__init__()

    def forward(self, x):
        return x * 0


def recording_factory():
    calls: list[Recorder] = []

    def factory(channels: int, stage: int) -> Recorder:
        calls.append(Recorder(channels, stage))
        return calls[-1]

    return factory, calls


def blocks(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "attn", None), nn.Module)]


# ----------------------------------------------------------------------------- torchvision parity


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (resnet18, torchvision.models.resnet18),
        (resnet50, torchvision.models.resnet50),
        (mobilenet_v2, torchvision.models.mobilenet_v2),
    ],
)
def test_baseline_matches_torchvision(ours, theirs):
    torch.manual_seed(0)
    model, ref = ours(), theirs()
    assert n_params(model) == n_params(ref)
    model.load_state_dict(ref.state_dict(), strict=True)
    model.eval(), ref.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_mobilenet_v2_width_1_is_todays_architecture():
    """width_mult=1.0 (the default) keeps the parameter count and state_dict keys exactly."""
    default, explicit = mobilenet_v2(), mobilenet_v2(width_mult=1.0)
    assert n_params(default) == n_params(explicit) == 3_504_872  # torchvision's MobileNetV2, 1000 classes
    assert list(default.state_dict()) == list(explicit.state_dict())
    explicit.load_state_dict(torchvision.models.mobilenet_v2().state_dict(), strict=True)


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.4])
def test_mobilenet_v2_width_mult_matches_torchvision(width):
    """Every width rounds channels as torchvision does: its state_dict loads strictly, outputs agree."""
    torch.manual_seed(0)
    ref = torchvision.models.mobilenet_v2(width_mult=width, num_classes=10)
    model = mobilenet_v2(width_mult=width, num_classes=10)
    model.load_state_dict(ref.state_dict(), strict=True)
    assert n_params(model) == n_params(ref)
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [m.out_channels for m in ref.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c % 8 == 0 for c in convs)
    model.eval(), ref.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


@pytest.mark.parametrize("bad", [0, -0.5, "wide", True, 5])
def test_mobilenet_v2_bad_width_mult_is_refused(bad):
    with pytest.raises(ValueError, match="width_mult must be a number in"):
        mobilenet_v2(width_mult=bad)


def test_width_mult_is_a_model_option_of_mobilenet_v2_only():
    from ecabench.runconfig import make_run_config

    cfg = make_run_config(backbone="mobilenet_v2", attention="eca", dataset="digits", model={"width_mult": 0.5})
    assert cfg["model"]["width_mult"] == 0.5
    plain = make_run_config(backbone="mobilenet_v2", attention="eca", dataset="digits", model={"width_mult": 1.0})
    assert "width_mult" not in plain["model"]  # the default names no option: run ids of width 1.0 do not change
    with pytest.raises(ValueError, match="model options of cifar_resnet20: unknown option 'width_mult'"):
        make_run_config(backbone="resnet20", attention="eca", dataset="digits", model={"width_mult": 0.5})


def test_resnet50_reference_count():
    assert n_params(resnet50()) == 25_557_032  # the reference count (torchvision), 1000 classes


def test_cifar_resnet20_param_count():
    # Option-A ResNet-20, 10 classes, counted by hand (no biases in convs; BN has weight+bias):
    #   stem   conv 3*16*9 = 432, bn 2*16 = 32                                       ->     464
    #   stage1 3 blocks x (2 convs 16*16*9 + 2 bn 2*16) = 3 * (4608 + 64)             ->  14,016
    #   stage2 (16*32*9 + 32*32*9 + 128) + 2 * (2*32*32*9 + 128) = 13,952 + 37,120     ->  51,072
    #   stage3 (32*64*9 + 64*64*9 + 256) + 2 * (2*64*64*9 + 256) = 55,552 + 147,968    -> 203,520
    #   fc     64*10 + 10                                                              ->     650
    #   total                                                                          -> 269,722  (the paper's 0.27M)
    assert n_params(cifar_resnet20(num_classes=10)) == 269_722


def test_option_a_shortcut_has_no_parameters():
    model = cifar_resnet20()
    shortcuts = [m for m in model.modules() if isinstance(m, cifar_resnet.ShortcutA)]
    assert len(shortcuts) == 2 and all(n_params(s) == 0 for s in shortcuts)


# ----------------------------------------------------------------------------- attention calls


def test_resnet50_attention_calls():
    factory, calls = recording_factory()
    model = resnet50(attention=factory)
    assert [c.channels for c in calls] == [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    assert [c.stage for c in calls] == [0] * 3 + [1] * 4 + [2] * 6 + [3] * 3
    assert [b.attn for b in blocks(model)] == calls  # stored on the block, in forward order

    factory, calls = recording_factory()
    resnet50(attention=factory, position="conv")
    assert [c.channels for c in calls] == [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3


def test_resnet18_attention_calls():
    for position in POSITIONS:  # BasicBlock: both placements see `planes` channels
        factory, calls = recording_factory()
        resnet18(attention=factory, position=position)
        assert [(c.channels, c.stage) for c in calls] == [(64 * 2**s, s) for s in range(4) for _ in range(2)]


def test_cifar_resnet20_attention_calls():
    for position in POSITIONS:
        factory, calls = recording_factory()
        cifar_resnet20(attention=factory, position=position)
        assert [c.channels for c in calls] == [16] * 3 + [32] * 3 + [64] * 3
        assert [c.stage for c in calls] == [0] * 3 + [1] * 3 + [2] * 3


def test_mobilenet_v2_attention_calls():
    factory, calls = recording_factory()
    mobilenet_v2(attention=factory)
    assert len(calls) == 17
    assert [c.stage for c in calls] == [0] + [1] * 2 + [2] * 3 + [3] * 4 + [4] * 3 + [5] * 3 + [6]
    assert [c.channels for c in calls] == [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3 + [320]

    factory, calls = recording_factory()
    mobilenet_v2(attention=factory, position="conv")
    inputs = [32] + [16, 24] + [24, 32, 32] + [32, 64, 64, 64] + [64, 96, 96] + [96, 160, 160] + [160]
    assert [c.channels for c in calls] == [32] + [6 * i for i in inputs[1:]]  # depthwise width


# ----------------------------------------------------------------------------- placement

SMALL = [
    ("cifar_resnet20", lambda **kw: cifar_resnet20(**kw), (2, 3, 32, 32)),
    ("resnet18", lambda **kw: resnet18(small_input=True, **kw), (2, 3, 16, 16)),
    ("resnet50", lambda **kw: resnet50(small_input=True, **kw), (2, 3, 16, 16)),
    ("mobilenet_v2", lambda **kw: mobilenet_v2(small_input=True, **kw), (2, 3, 16, 16)),
]


@pytest.mark.parametrize("name, build, shape", SMALL, ids=[s[0] for s in SMALL])
def test_output_attention_is_before_residual_add(name, build, shape):
    """With attention zeroing the branch, each block returns relu(shortcut) (MobileNetV2: x or 0)."""
    torch.manual_seed(0)
    model = build(attention=Zero).eval()
    inputs = {}
    for b in blocks(model):
        b.register_forward_pre_hook(lambda m, args: inputs.__setitem__(m, args[0].clone()))
    outputs = {}
    for b in blocks(model):
        b.register_forward_hook(lambda m, args, out: outputs.__setitem__(m, out.clone()))
    with torch.no_grad():
        model(torch.randn(shape))
    assert len(outputs) == len(blocks(model))
    for b, out in outputs.items():
        x = inputs[b]
        if isinstance(b, mobilenet.InvertedResidual):
            expected = x if b.use_res_connect else torch.zeros_like(out)
        elif isinstance(b, cifar_resnet.BasicBlock):
            expected = torch.relu(b.shortcut(x))
        else:
            expected = torch.relu(x if b.downsample is None else b.downsample(x))
        torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("name, build, shape", SMALL, ids=[s[0] for s in SMALL])
@pytest.mark.parametrize("position", POSITIONS)
def test_attention_sees_its_declared_input(name, build, shape, position):
    """Each slot runs once per forward on a tensor with the channels it was built for; the `conv`
    slot follows a ReLU/ReLU6 (never negative), the `output` slot a BN (has negatives)."""
    torch.manual_seed(0)
    factory, calls = recording_factory()
    model = build(attention=factory, position=position).train()
    model(torch.randn(shape))
    for rec in calls:
        assert len(rec.seen) == 1
        x = rec.seen[0]
        assert x.shape[1] == rec.channels
        if position == "conv":
            assert x.min() >= 0
        else:  # train-mode BN output is zero-mean per channel
            assert x.min() < 0


# ----------------------------------------------------------------------------- forward / backward


def _train_step(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    out = model(x)
    assert out.shape == (x.shape[0], num_classes)
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", sorted(CIFAR))
def test_cifar_forward_backward(name):
    torch.manual_seed(0)
    model = CIFAR[name](num_classes=10, in_channels=3)
    _train_step(model, torch.randn(2, 3, 32, 32), 10)


@pytest.mark.parametrize("name", sorted(IMAGENET))
def test_imagenet_style_small_input_forward_backward(name):
    torch.manual_seed(0)
    model = IMAGENET[name](num_classes=7, in_channels=1, small_input=True)
    if name in ("resnet101", "resnet152"):  # same blocks as resnet50; forward only keeps the suite fast
        with torch.no_grad():
            assert model.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    else:
        _train_step(model, torch.randn(2, 1, 28, 28), 7)


def test_cifar_in_channels_and_classes():
    model = cifar_resnet20(num_classes=3, in_channels=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.parametrize("build", [resnet18, mobilenet_v2])
def test_standard_stem_still_works(build):
    model = build(num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_small_input_output_stride():
    # ResNets and MobileNetV2 both reach stride 8 with small_input: 32 px -> 4x4.
    feats = {}
    r = resnet18(small_input=True).eval()
    r.layer4.register_forward_hook(lambda m, a, o: feats.__setitem__("resnet", o.shape[-2:]))
    m = mobilenet_v2(small_input=True).eval()
    m.features.register_forward_hook(lambda mod, a, o: feats.__setitem__("mobilenet", o.shape[-2:]))
    with torch.no_grad():
        r(torch.randn(1, 3, 32, 32)), m(torch.randn(1, 3, 32, 32))
    assert feats == {"resnet": (4, 4), "mobilenet": (4, 4)}


# ----------------------------------------------------------------------------- options and init


@pytest.mark.parametrize("build", [cifar_resnet20, resnet18, mobilenet_v2])
def test_bad_position_is_rejected(build):
    with pytest.raises(ValueError, match=r"'after_bn'.*'output'.*'conv'"):
        build(position="after_bn")


def test_backbone_init_leaves_attention_modules_alone():
    class Marked(nn.Module):
        def __init__(self, channels, stage):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 1)
            self.bn = nn.BatchNorm2d(channels)
            nn.init.constant_(self.conv.weight, 0.5)
            nn.init.constant_(self.bn.weight, 0.0)

        def forward(self, x):
            return x

    for build in (cifar_resnet20, resnet18, mobilenet_v2):
        for b in blocks(build(attention=Marked)):
            assert (b.attn.conv.weight == 0.5).all() and (b.attn.bn.weight == 0).all()


def test_residual_bn_not_zero_initialised():
    for b in blocks(resnet50()):
        assert (b.bn3.weight == 1).all()


# ----------------------------------------------------------------------------- registration


def test_registered_names_and_stages():
    from ecabench.registry import BACKBONES

    try:
        names = BACKBONES.names()  # full discovery (needs ecabench.attention importable)
    except ImportError:
        names = sorted(BACKBONES._entries)
    expected = {*CIFAR, *IMAGENET, *ALIASES}
    assert expected <= set(names)
    for name in expected:
        entry = BACKBONES._entries[name]
        assert entry.meta["num_stages"] == STAGES.get(name, 3)
        assert entry.meta["default_input"] == ((3, 32, 32) if name in CIFAR or name in ALIASES else (3, 224, 224))
    for alias, canonical in ALIASES.items():
        assert BACKBONES._entries[alias].obj is BACKBONES._entries[canonical].obj
        assert BACKBONES._entries[alias].meta["alias_of"] == canonical
    assert resnet.resnet50 is BACKBONES._entries["resnet50"].obj
