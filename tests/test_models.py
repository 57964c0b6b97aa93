"""build_model + describe: the exact reference parameter counts, resolved k, architecture identity."""
import pytest
import torch
import torchvision

from ecabench.models import architecture_id, build_model, describe, stage_values
from ecabench.registry import BACKBONES
from ecabench.specs import SpecError


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("none", 25_557_032),
        ("eca", 25_557_118),                # adaptive gamma=2, b=1, odd -> k = [5,5,5,7]: 86 params
        ("eca(k=[3,5,5,7])", 25_557_112),   # the released checkpoint's per-stage k: 80 params
        ("se", 28_088_024),
        ("cbam", 28_089_624),
    ],
)
def test_resnet50_exact_parameter_counts(spec, expected):
    assert describe("resnet50", spec)["params_total"] == expected
    assert describe("resnet50", spec)["params_total"] == sum(
        p.numel() for p in build_model("resnet50", spec).parameters()
    )


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_baselines_equal_torchvision(name):
    ours = build_model(name, "none")
    theirs = getattr(torchvision.models, name)()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_describe_resolves_k_per_stage():
    assert stage_values(describe("resnet50", "eca"), "k") == [5, 5, 5, 7]
    assert stage_values(describe("resnet50", "eca(odd=false)"), "k") == [4, 5, 5, 6]
    assert stage_values(describe("resnet50", "eca(k=[3,5,5,7])"), "k") == [3, 5, 5, 7]
    d = describe("resnet50", "eca")
    assert d["params_attention"] == 86 and len(d["modules"]) == 16
    assert [s["channels"] for s in d["stages"]] == [[256], [512], [1024], [2048]]


def test_gamma_b_grid_on_resnet20_groups_identical_architectures():
    """Widths 16/32/64: many (gamma, b) settings give the same k, hence the same model."""
    groups: dict[str, list[str]] = {}
    ks = {}
    for gamma in (1, 2, 3, 4):
        for b in (0, 1, 2):
            spec = f"eca(gamma={gamma},b={b})"
            d = describe("resnet20", spec, num_classes=10)
            groups.setdefault(d["architecture_id"], []).append(spec)
            ks[(gamma, b)] = stage_values(d, "k")
    assert ks[(2, 1)] == [3, 3, 3]   # (4+1)/2=2.5->2->3, (5+1)/2=3, (6+1)/2=3.5->3
    assert ks[(1, 2)] == [7, 7, 9]   # 6 -> 7, 7, 8 -> 9
    assert ks[(4, 0)] == [1, 1, 1]   # 4/4=1, 5/4=1, 6/4=1
    # the default adaptive ECA on ResNet-20 is the same model as fixed k=3
    assert architecture_id("resnet20", "eca", num_classes=10) == architecture_id("resnet20", "eca(k=3)", num_classes=10)
    same = next(g for g in groups.values() if "eca(gamma=2,b=1)" in g)
    # g2,b0: 4/2=2->3, 5/2->2->3, 6/2=3;  g3,b2: 6/3=2->3, 7/3->2->3, 8/3->2->3
    assert sorted(same) == ["eca(gamma=2,b=0)", "eca(gamma=2,b=1)", "eca(gamma=3,b=2)"]
    assert ks[(3, 1)] == [1, 3, 3]   # 5/3->1, 6/3=2->3, 7/3->2->3: differs from the default
    assert len(groups) < 12


def test_architecture_id_distinguishes_real_differences():
    ids = {architecture_id("resnet20", s, num_classes=10) for s in ["none", "eca", "eca(k=5)", "se", "se(r=8)", "cbam"]}
    assert len(ids) == 6


def test_per_stage_list_must_match_the_backbone():
    with pytest.raises(SpecError, match=r"k=\[3,5\] has 2 values but resnet50 has 4 stages"):
        build_model("resnet50", "eca(k=[3,5])")
    build_model("resnet20", "eca(k=[3,5,7])", num_classes=10)


def test_unknown_backbone_suggests_the_nearest():
    with pytest.raises(ValueError, match="did you mean 'resnet50'"):
        build_model("resnt50", "eca")


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1, got 0"):
        build_model("resnet20", "eca", num_classes=0)


VARIANTS = ["none", "eca", "eca(k=4)", "se", "cbam", "simam"]
FAST_BACKBONES = ["resnet20", "resnet18", "resnet50", "mobilenet_v2"]


def _forward_backward(backbone, spec):
    cifar = BACKBONES.entry(backbone).meta.get("default_input") == (3, 32, 32)
    if cifar:  # CIFAR-style nets on 32x32 RGB
        model, x = build_model(backbone, spec, num_classes=10, in_channels=3), torch.randn(2, 3, 32, 32)
    else:  # ImageNet-style nets with the small-input stem on 28x28 grayscale
        model = build_model(backbone, spec, num_classes=10, in_channels=1, small_input=True)
        x = torch.randn(2, 1, 28, 28)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("backbone", FAST_BACKBONES)
@pytest.mark.parametrize("spec", VARIANTS)
def test_variants_run_forward_and_backward(backbone, spec):
    _forward_backward(backbone, spec)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", sorted(set(BACKBONES.names()) - set(FAST_BACKBONES)))
@pytest.mark.parametrize("spec", VARIANTS)
def test_every_variant_on_every_other_backbone(backbone, spec):
    _forward_backward(backbone, spec)
