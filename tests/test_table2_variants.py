"""The ECA paper's Table 2 variants (se_var1/2/3, se_gc, eca_ns): identities, exact counts, specs, planning."""
from pathlib import Path

import pytest
import torch

from ecabench.attention import ECA, ECANS, SEGC, SEVar1, SEVar2, SEVar3
from ecabench.cli import main
from ecabench.models import build_model, describe, stage_values
from ecabench.runconfig import make_run_config
from ecabench.specs import SpecError, parse_spec

RESNET50_CHANNELS = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def x64(c, seed=0):
    return torch.randn(3, c, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def randomize(module, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=gen))
    return module


# --------------------------------------------------------------------------- numerics


def test_se_var1_is_sigmoid_of_the_pooled_vector():
    x = x64(12)
    expected = x * torch.sigmoid(x.mean((2, 3)))[:, :, None, None]
    torch.testing.assert_close(SEVar1(12)(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("c", [8, 12])
def test_se_gc_with_one_group_equals_se_var3(c):
    x = x64(c)
    var3 = randomize(SEVar3(c).double())
    gc = SEGC(c, groups=1).double()
    with torch.no_grad():
        gc.conv.weight.copy_(var3.fc.weight.view(c, c, 1))
    assert torch.allclose(gc(x), var3(x), rtol=1e-12, atol=1e-12)
    y = x.mean((2, 3))
    assert torch.allclose(var3(x), x * torch.sigmoid(y @ var3.fc.weight.T)[:, :, None, None], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c", [8, 12])
def test_se_gc_with_c_groups_equals_se_var2(c):
    x = x64(c)
    var2 = randomize(SEVar2(c).double())
    gc = SEGC(c, group_channels=1).double()
    assert gc.groups == c
    with torch.no_grad():
        gc.conv.weight.copy_(var2.conv.weight)
    assert torch.allclose(gc(x), var2(x), rtol=1e-12, atol=1e-12)
    w = var2.conv.weight.view(c)
    assert torch.allclose(var2(x), x * torch.sigmoid(w * x.mean((2, 3)))[:, :, None, None], rtol=1e-12, atol=1e-12)


def test_se_var3_with_a_diagonal_matrix_equals_se_var2():
    c = 10
    x = x64(c)
    var2 = randomize(SEVar2(c).double())
    var3 = SEVar3(c).double()
    with torch.no_grad():
        var3.fc.weight.copy_(torch.diag(var2.conv.weight.view(c)))
    assert torch.allclose(var3(x), var2(x), rtol=1e-12, atol=1e-12)


def test_se_gc_is_block_diagonal():
    """Group g's outputs see only group g's inputs: W_G y by hand with an explicit block-diagonal matrix."""
    c, g = 12, 3
    x = x64(c)
    gc = randomize(SEGC(c, groups=g).double())
    w = torch.block_diag(*gc.conv.weight.view(g, c // g, c // g))
    expected = x * torch.sigmoid(x.mean((2, 3)) @ w.T)[:, :, None, None]
    assert torch.allclose(gc(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_eca_ns_with_every_row_equal_to_an_eca_kernel_equals_eca(k):
    c = 11
    x = x64(c)
    eca = randomize(ECA(c, k=k).double())
    ns = ECANS(c, k=k).double()
    with torch.no_grad():
        ns.conv.weight.copy_(eca.conv.weight.view(1, 1, k).expand(c, 1, k))
    assert torch.allclose(ns(x), eca(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_eca_ns_windows_by_hand(k):
    """Channel i's gate: sum_j W[i, j] * y[i - (k-1)//2 + j], zero outside 0..C-1 (ECA's asymmetric windows)."""
    c = 7
    x = x64(c)
    ns = randomize(ECANS(c, k=k).double())
    y, w, left = x.mean((2, 3)), ns.conv.weight.view(c, k), (k - 1) // 2
    z = torch.zeros_like(y)
    for i in range(c):
        for j in range(k):
            if 0 <= i - left + j < c:
                z[:, i] += w[i, j] * y[:, i - left + j]
    assert torch.allclose(ns(x), x * torch.sigmoid(z)[:, :, None, None], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- shapes and counts


@pytest.mark.parametrize("c", [16, 64, 96, 256])
def test_parameter_counts_follow_the_formulas(c):
    assert n_params(SEVar1(c)) == 0
    assert n_params(SEVar2(c)) == c
    assert n_params(SEVar2(c, bias=True)) == 2 * c
    assert n_params(SEVar3(c)) == c * c
    assert n_params(SEVar3(c, bias=True)) == c * c + c
    for g in (1, 2, 4, 8, 16):
        assert n_params(SEGC(c, groups=g)) == c * c // g
    assert n_params(SEGC(c)) == c * c // 16  # default: 16 groups (SE-GC1)
    assert n_params(SEGC(c, group_channels=16)) == 16 * c
    assert n_params(SEGC(c, group_channels=8)) == 8 * c
    assert n_params(SEGC(c, groups=4, bias=True)) == c * c // 4 + c
    for k in (1, 2, 3, 4, 5, 9):
        assert n_params(ECANS(c, k=k)) == k * c


@pytest.mark.parametrize("spec,per_block", [
    ("se_var1", lambda c: 0),
    ("se_var2", lambda c: c),
    ("se_var2(bias=true)", lambda c: 2 * c),
    ("se_var3", lambda c: c * c),
    ("se_gc(groups=16)", lambda c: c * c // 16),
    ("se_gc(group_channels=16)", lambda c: 16 * c),
    ("se_gc(group_channels=8)", lambda c: 8 * c),
    ("eca_ns(k=3)", lambda c: 3 * c),
])
def test_resnet50_attention_parameters_sum_over_the_16_blocks(spec, per_block):
    d = describe("resnet50", spec)
    assert [m["channels"] for m in d["modules"]] == RESNET50_CHANNELS
    assert d["params_attention"] == sum(per_block(c) for c in RESNET50_CHANNELS)
    assert d["params_total"] == describe("resnet50", "none")["params_total"] + d["params_attention"]


def test_resnet50_hand_sums():
    assert describe("resnet50", "se_var2")["params_attention"] == 3 * 256 + 4 * 512 + 6 * 1024 + 3 * 2048 == 15_104
    assert describe("resnet50", "se_var3")["params_attention"] == 20_119_552
    assert describe("resnet50", "se_gc(groups=16)")["params_attention"] == 1_257_472
    assert describe("resnet50", "se_gc(group_channels=16)")["params_attention"] == 241_664
    assert describe("resnet50", "se_gc(group_channels=8)")["params_attention"] == 120_832
    assert describe("resnet50", "eca_ns(k=3)")["params_attention"] == 45_312
    # adaptive k (gamma=2, b=1, odd): [5, 5, 5, 7] as for eca
    assert stage_values(describe("resnet50", "eca_ns"), "k") == [5, 5, 5, 7]
    assert describe("resnet50", "eca_ns")["params_attention"] == 5 * (768 + 2048 + 6144) + 7 * 6144


@pytest.mark.parametrize("module", [SEVar1(24), SEVar2(24), SEVar3(24), SEGC(24, groups=8), SEGC(24, group_channels=8),
                                    ECANS(24, k=2), ECANS(24, k=3), ECANS(24, k=4)])
def test_shape_preserved_and_backward(module):
    x = torch.randn(2, 24, 5, 5, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape
    assert all(p.grad is not None for p in module.parameters())


@pytest.mark.parametrize("k", [2, 4])
def test_eca_ns_even_k_keeps_all_channels(k):
    m = ECANS(64, k=k)
    assert m.padding == ((k - 1) // 2, k // 2)
    x = torch.randn(2, 64, 3, 3)
    assert m(x).shape == x.shape


def test_whole_models_build_and_run():
    x = torch.randn(2, 1, 28, 28)
    for spec in ("se_var1", "se_var2", "se_var3", "se_gc", "se_gc(group_channels=8)", "eca_ns(k=4)"):
        model = build_model("resnet20", spec, num_classes=10, in_channels=1, seed=0)
        assert model(x).shape == (2, 10)


# --------------------------------------------------------------------------- specs and planning


@pytest.mark.parametrize("text,spec_id", [
    ("se_var1", "se_var1"),
    ("se_var2", "se_var2"),
    ("se_var3(bias=true)", "se_var3-bias"),
    ("se_gc", "se_gc-g16"),
    ("se_gc(groups=16)", "se_gc-g16"),
    ("se_gc(group_channels=16)", "se_gc-c16"),
    ("se_gc(group_channels=8)", "se_gc-c8"),
    ("se_gc(groups=[16,32,64])", "se_gc-g16_32_64"),
    ("eca_ns", "eca_ns"),
    ("eca_ns(k=3)", "eca_ns-k3"),
    ("eca_ns(gamma=3,b=0,odd=false)", "eca_ns-g3-b0-even"),
    ("eca_ns(k=[3,5,5,7])", "eca_ns-k3_5_5_7"),
])
def test_spec_ids_and_round_trip(text, spec_id):
    spec = parse_spec(text)
    assert spec.id == spec_id
    assert parse_spec(str(spec)) == spec
    assert parse_spec(spec.to_dict()) == spec


def test_se_gc_default_is_16_groups_written_out():
    assert parse_spec("se_gc") == parse_spec("se_gc(groups=16)") == parse_spec({"name": "se_gc", "groups": 16})
    assert str(parse_spec("se_gc")) == "se_gc(groups=16)"
    assert parse_spec("se_gc(group_channels=16)") != parse_spec("se_gc(groups=16)")


def test_eca_ns_shares_ecas_normalisation():
    # gamma/b/odd only matter for the adaptive rule
    assert parse_spec("eca_ns(k=3,gamma=4)") == parse_spec("eca_ns(k=3)")


@pytest.mark.parametrize("text,message", [
    ("se_gc(groups=0)", "se_gc: groups must be an integer >= 1, got 0"),
    ("se_gc(group_channels=-8)", "se_gc: group_channels must be an integer >= 1, got -8"),
    ("se_gc(groups=2.5)", "se_gc: groups must be an integer >= 1, got 2.5"),
    ("se_gc(groups=16,group_channels=8)", "se_gc: give groups (the number of groups) or group_channels (channels "
                                          "per group), not both; got groups=16 and group_channels=8"),
    ("se_gc(bias=1)", "se_gc: bias must be true or false"),
    ("se_var2(bias=yes_please)", "se_var2: bias='yes_please' has the wrong type"),
    ("se_var1(bias=true)", "se_var1: unknown parameter 'bias'"),
    ("eca_ns(k=0)", "eca_ns: k must be 'adaptive', an integer >= 1"),
    ("eca_ns(gamma=0)", "eca_ns: gamma must be a number > 0"),
])
def test_bad_values_give_one_clear_error(text, message):
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert str(err.value).startswith(message)


def test_groups_that_do_not_divide_a_stage_are_refused_naming_the_stage():
    msg = "se_gc: groups=16 does not divide the 24 channels of stage 1 (blocks 2-3) on mobilenet_v2"
    with pytest.raises(SpecError) as err:
        describe("mobilenet_v2", "se_gc(groups=16)")
    assert str(err.value) == msg
    with pytest.raises(SpecError, match=r"group_channels=16 does not divide the 8 channels of stage 0 \(block 1\) "
                                        r"on mobilenet_v2; also stage 1 \(8 channels\)"):
        describe("mobilenet_v2", "se_gc(group_channels=16)", width_mult=0.35)
    with pytest.raises(SpecError, match=r"groups=32 does not divide the 16 channels of stage 0 \(blocks 1-3\) "
                                        r"on resnet20"):
        describe("resnet20", "se_gc(groups=32)", num_classes=10)
    # per-stage lists can fit every stage
    assert stage_values(describe("mobilenet_v2", "se_gc(groups=[16,8,16,16,16,16,16])"), "groups")[:2] == [16, 8]


def test_planning_refuses_a_misfit_before_any_model_is_built():
    with pytest.raises(ValueError, match=r"se_gc: groups=16 does not divide the 24 channels of stage 1 \(blocks 2-3\) "
                                         r"on mobilenet_v2"):
        make_run_config(backbone="mobilenet_v2", attention="se_gc(groups=16)", dataset="fashion-mnist")
    config = make_run_config(backbone="resnet20", attention="se_gc(group_channels=16)", dataset="fashion-mnist")
    assert config["attention"] == {"name": "se_gc", "groups": None, "group_channels": 16, "bias": False}


def test_same_architecture_is_recognised_across_specs():
    # resnet20: widths 16/32/64, so one channel per group is 16, 32 and 64 groups
    one_per_group = describe("resnet20", "se_gc(group_channels=1)", num_classes=10)
    assert stage_values(one_per_group, "groups") == [16, 32, 64]
    assert one_per_group["architecture_id"] == describe("resnet20", "se_gc(groups=[16,32,64])",
                                                        num_classes=10)["architecture_id"]
    # on the 16-channel stage, groups=16 and group_channels=1 build the same module
    assert describe("resnet20", "se_gc(groups=[16,2,4])", num_classes=10)["architecture_id"] == \
        describe("resnet20", "se_gc(group_channels=[1,16,16])", num_classes=10)["architecture_id"]
    assert describe("resnet20", "eca_ns", num_classes=10)["architecture_id"] == \
        describe("resnet20", "eca_ns(k=3)", num_classes=10)["architecture_id"]
    different = {describe("resnet20", s, num_classes=10)["architecture_id"]
                 for s in ("se_var2", "se_var2(bias=true)", "se_gc(group_channels=1)",
                           "se_gc(group_channels=1,bias=true)", "eca(k=3)", "eca_ns(k=3)", "se_var1", "none")}
    assert len(different) == 8


def test_cli_describe_shows_groups_per_stage_and_the_attention_total(capsys):
    assert main(["describe", "se_gc(group_channels=8)", "--backbone", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "se_gc(group_channels=8) on resnet50  (id se_gc-c8" in out
    assert "params attention: 120,832  in 16 modules" in out
    for stage, groups in enumerate([32, 64, 128, 256]):
        assert f"stage {stage}: " in out and f"groups={groups}" in out.splitlines()[3 + stage]


def test_cli_describe_misfit_is_one_line_exit_2(capsys):
    assert main(["describe", "se_gc", "--backbone", "mobilenet_v2"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("ecabench describe: error: se_gc: groups=16 does not divide the 24 channels of stage 1 "
                           "(blocks 2-3) on mobilenet_v2")


# --------------------------------------------------------------------------- study, config, reference table


def test_study_lists_the_table2_variants_and_the_reference_maps_every_row_to_one():
    import yaml

    from ecabench.reference import TABLE2_SPECS, load_table2, packaged_table2

    root = Path(__file__).resolve().parents[1]
    study = yaml.safe_load((root / "ablations" / "eca_table2.yaml").read_text())
    assert study["title"] == "ECA paper Table 2: channel-attention design"
    assert study["baseline"] == "none" and study["kind"] == "other"
    assert [parse_spec(s) for s in study["variants"]] == [parse_spec(s) for s in TABLE2_SPECS.values()]
    table = load_table2()
    assert packaged_table2().exists()
    assert list(table["method"]) == list(TABLE2_SPECS)
    assert list(table["spec"]) == list(TABLE2_SPECS.values())
    assert table.set_index("method").loc["vanilla", "top5"] == 92.25
    assert table.set_index("method").loc["eca", "top1"] == 77.43
    assert table.set_index("method").loc["se_var3", "params_formula"] == "C^2"


def test_table2_formulas_match_the_suites_counts():
    """The CSV's per-block formula, evaluated at C, is what the suite's spec builds (k=3; SE aside)."""
    from ecabench.reference import load_table2

    for row in load_table2().itertuples():
        if row.method == "se":  # 2*C^2/r counts the weights only; SE's FCs have biases
            continue
        formula = row.params_formula.replace("^", "**").replace("k", "3")
        expected = sum(eval(formula, {"C": c}) for c in RESNET50_CHANNELS)  # our own CSV
        assert describe("resnet50", row.spec)["params_attention"] == expected, row.method
