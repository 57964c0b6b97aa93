"""A fixed ECA kernel wider than a stage's channels is refused on the meta-device build, naming the stage."""
import pytest
import torch
from torch import nn

from ecabench.attention.eca import ECA
from ecabench.models import describe
from ecabench.registry import ATTENTION
from ecabench.runconfig import make_run_config
from ecabench.specs import SpecError


def test_fixed_k_wider_than_the_first_stage_is_refused_naming_value_stage_and_channels():
    with pytest.raises(SpecError) as err:
        describe("resnet20", "eca(k=100000)", num_classes=10, in_channels=1)
    msg = str(err.value)
    assert msg == ("eca: k=100000 is larger than the 16 channels of stage 0 on resnet20 (a kernel wider than the "
                   "channel axis only sees zero padding); use k <= 16 or 'adaptive'")


def test_k_equal_to_the_channels_is_fine():
    d = describe("resnet20", "eca(k=16)", num_classes=10)
    assert [s["resolved"][0]["k"] for s in d["stages"]] == [16, 16, 16]


def test_per_stage_list_names_the_one_stage_that_is_too_small():
    describe("resnet20", "eca(k=[3,32,64])")  # 16, 32, 64 channels: every k fits
    with pytest.raises(SpecError, match=r"k=33 is larger than the 32 channels of stage 1 on resnet20.*k <= 32"):
        describe("resnet20", "eca(k=[3,33,5])")
    with pytest.raises(SpecError, match="k=2049 is larger than the 2048 channels of stage 3 on resnet50"):
        describe("resnet50", "eca(k=[3,5,5,2049])")


@pytest.mark.parametrize("spec", ["eca", "eca(gamma=1,b=4)", "eca(gamma=0.5,b=0,odd=false)"])
def test_adaptive_k_is_never_refused(spec):
    for backbone in ("resnet20", "resnet50", "mobilenet_v2"):
        describe(backbone, spec)


def test_make_run_config_refuses_it_before_any_data_is_read():
    with pytest.raises(ValueError, match="k=17 is larger than the 16 channels of stage 0 on cifar_resnet20"):
        make_run_config(backbone="resnet20", attention="eca(k=17)", dataset="digits")


def test_eca_built_directly_refuses_it_too():
    with pytest.raises(ValueError, match="k=9 is larger than the 8 channels "):
        ECA(8, k=9)
    assert ECA(8, k=8).k == 8 and ECA(8).k == 3


def test_any_variant_error_at_construction_gets_stage_channels_and_backbone():
    class Picky(nn.Module):
        def __init__(self, channels: int, m: int = 1):
            super().__init__()
            if channels > 32:
                raise ValueError(f"picky: needs at most 32 channels, got {channels}")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    ATTENTION.register("picky_test", Picky)
    try:
        with pytest.raises(SpecError) as err:
            describe("resnet20", "picky_test")
        assert str(err.value) == ("picky: needs at most 32 channels, got 64 (building picky_test for stage 2 on "
                                  "resnet20, 64 channels)")
    finally:
        ATTENTION.unregister("picky_test")
