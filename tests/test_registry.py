"""Plugins: local folders, entry points, broken plugins and name clashes."""
import textwrap

import pytest
import torch

from ecabench import registry
from ecabench.models import build_model, describe
from ecabench.registry import ATTENTION, RegistryError

GOOD = """
import torch
from torch import nn
from ecabench.registry import register_attention

@register_attention("{name}")
class Doubler(nn.Module):
    def __init__(self, channels, scale: float = 2.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale
"""


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(text))


def test_example_plugin_is_listed_and_builds_end_to_end(clean_plugins):
    entry = ATTENTION.entry("simam")
    assert "ablations/plugins/simam.py" in entry.source
    model = build_model("resnet20", "simam", num_classes=10, in_channels=1)
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    d = describe("resnet20", "simam(e_lambda=0.001)", num_classes=10)
    assert d["params_attention"] == 0 and len(d["modules"]) == 9
    assert d["spec_id"] == "simam-e_lambda0.001"


def test_broken_plugin_is_reported_by_name_and_file_and_others_load(tmp_path, clean_plugins):
    write(tmp_path, "aa_broken", "import torch\nraise RuntimeError('boom at import')\n")
    write(tmp_path, "bb_syntax", "def oops(:\n")
    write(tmp_path, "cc_good", GOOD.format(name="doubler"))
    errors = registry.discover([tmp_path])
    by_name = {e.plugin: e for e in errors}
    assert set(by_name) == {"aa_broken", "bb_syntax"}
    assert str(tmp_path / "aa_broken.py") in str(by_name["aa_broken"])
    assert "boom at import" in str(by_name["aa_broken"])
    assert "SyntaxError" in str(by_name["bb_syntax"])
    assert "doubler" in ATTENTION and "simam" in ATTENTION
    model = build_model("resnet20", "doubler(scale=0.5)", num_classes=10)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_two_plugins_claiming_one_name_is_an_error_naming_both(tmp_path, clean_plugins):
    write(tmp_path / "a", "first", GOOD.format(name="twin"))
    write(tmp_path / "b", "second", GOOD.format(name="twin"))
    registry.discover([tmp_path / "a"])
    with pytest.raises(RegistryError) as info:
        registry.discover([tmp_path / "b"])
    msg = str(info.value)
    assert "'twin' is claimed twice" in msg
    assert str(tmp_path / "a" / "first.py") in msg and str(tmp_path / "b" / "second.py") in msg


def test_plugin_cannot_take_a_builtin_name(tmp_path, clean_plugins):
    write(tmp_path, "evil", GOOD.format(name="eca"))
    with pytest.raises(RegistryError, match=r"'eca' is claimed twice: by builtin \(ecabench.attention.eca\)"):
        registry.discover([tmp_path])


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch, clean_plugins):
    """A distribution on sys.path declaring group ecabench.attention is found without importing it by hand."""
    (tmp_path / "ecabench_ep_demo.py").write_text(textwrap.dedent("""
        from torch import nn

        class Halver(nn.Module):
            def __init__(self, channels):
                super().__init__()

            def forward(self, x):
                return x / 2
    """))
    dist = tmp_path / "ecabench_ep_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ecabench-ep-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ecabench.attention]\nhalver = ecabench_ep_demo:Halver\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.discover()
    entry = ATTENTION.entry("halver")
    assert "entry point 'halver'" in entry.source and "ecabench-ep-demo" in entry.source
    x = torch.randn(1, 3, 32, 32)
    assert build_model("resnet20", "halver", num_classes=10)(x).shape == (1, 10)


def test_broken_entry_point_is_reported(tmp_path, monkeypatch, clean_plugins):
    dist = tmp_path / "ecabench_broken_ep-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ecabench-broken-ep\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ecabench.attention]\nghost = no_such_module_xyz:Ghost\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    errors = registry.discover()
    assert any(e.plugin == "ghost" and "no_such_module_xyz" in str(e) for e in errors)
    assert "eca" in ATTENTION


def test_plugin_path_env(tmp_path, monkeypatch, clean_plugins):
    write(tmp_path, "envplug", GOOD.format(name="from_env"))
    monkeypatch.setenv("ECABENCH_PLUGIN_PATH", str(tmp_path))
    assert "from_env" in ATTENTION.names()


def test_bad_registration_names():
    with pytest.raises(RegistryError, match="invalid attention variant name '../x'"):
        registry.register_attention("../x")(type("X", (torch.nn.Module,), {}))


def test_every_builtin_subclasses_the_contract_and_registers_where_it_is_defined():
    from ecabench.attention.base import AttentionVariant

    for entry in ATTENTION.entries():
        assert issubclass(entry.obj, AttentionVariant), entry.name
        assert entry.obj.variant_name == entry.name
    assert ATTENTION.entry("eca").source == "builtin (ecabench.attention.eca)"
    assert ATTENTION.entry("se_var2").source == "builtin (ecabench.attention.se_var)"
    assert registry.BACKBONES.entry("resnet20").source == "builtin (ecabench.backbones.cifar_resnet)"


def test_plain_module_plugin_is_adapted_with_its_own_hooks_first(tmp_path, clean_plugins):
    """A plugin written against the old implicit contract (a plain nn.Module) keeps working."""
    write(tmp_path, "legacy", GOOD.format(name="legacy_doubler") + textwrap.dedent("""
        @register_attention("legacy_staged")
        class Staged(nn.Module):
            per_stage_params = ("scale",)

            def __init__(self, channels, scale: int = 2):
                super().__init__()
                self.scale = scale

            def forward(self, x):
                return x * self.scale

            def resolved_params(self):
                return {"scale": self.scale}

            @classmethod
            def format_param(cls, name, value):
                return "times" + "_".join(map(str, value)) if isinstance(value, (list, tuple)) else f"times{value}"
        """))
    registry.discover([tmp_path])
    model = build_model("resnet20", "legacy_doubler(scale=3)", num_classes=10, in_channels=1)
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    # the base class's default type check names the registered variant
    with pytest.raises(ValueError, match=r"legacy_doubler: scale='big' has the wrong type; expected float"):
        describe("resnet20", "legacy_doubler(scale=big)")
    d = describe("resnet20", "legacy_staged(scale=[1,2,3])", num_classes=10)
    assert d["spec_id"] == "legacy_staged-times1_2_3"
    assert [s["resolved"] for s in d["stages"]] == [[{"scale": 1}], [{"scale": 2}], [{"scale": 3}]]
    with pytest.raises(ValueError, match=r"legacy_staged: scale=\['a', 2, 3\] has the wrong type"):
        describe("resnet20", "legacy_staged(scale=[a,2,3])")


def test_a_class_that_is_not_a_module_is_refused_at_registration():
    class NotAModule:
        def __init__(self, channels):
            pass

    with pytest.raises(RegistryError, match=r"attention variant 'not_a_module': an attention variant is an "
                                            r"nn.Module subclass"):
        ATTENTION.register("not_a_module", NotAModule)
    assert "not_a_module" not in ATTENTION
