"""Every input is checked once, against its schema, with one message that names the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecabench.plan import PlanError, load_config
from ecabench.plan.errors import TuneError
from ecabench.schemas import schema, validate

ROOT = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_defaults_are_filled_in_one_place():
    cfg = load_config({"studies": ["attention_zoo"], "backbones": ["resnet20"], "datasets": ["digits"], "seeds": [0],
                       "resources": {"train": {"threads": 2}}})
    assert cfg["resources"]["train"] == {"threads": 2, "mem_mb": 4000, "runtime": 60, "gpu": 0}
    assert cfg["resources"]["measure"] == {"threads": 1, "mem_mb": 4000, "runtime": 30, "gpu": 0}
    assert cfg["resources"]["tune"] == {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0}
    assert cfg["tuning"] == {"studies": [], "workers": 1, "storage": "auto"}
    assert cfg["results_dir"] == "results" and cfg["device"] == "auto"


@pytest.mark.parametrize("patch, message", [
    ({"seeds": []}, "config key 'seeds' must be a non-empty list of distinct integers >= 0, got []"),
    ({"seeds": [0, -1]}, "config key 'seeds[1]' must be >= 0, got -1"),
    ({"backbones": [{"name": "resnet20", "depth": 20}]},
     "config key 'backbones[0]': unknown key 'depth'; allowed: name, train"),
    ({"measure": {"rounds": 1}}, "config key 'measure.rounds' must be >= 3, got 1"),
    ({"measure": {"implementations": ["jit"]}},
     "config key 'measure.implementations[0]' must be one of eager, compile"),
    ({"tuning": {"workers": 0}}, "config key 'tuning.workers' must be a positive integer, got 0"),
    ({"studies": [{"name": "eca_kernel", "seedz": [1]}]}, "config key 'studies[0]': unknown key 'seedz'"),
    ({"train": {"epochs": "two"}}, "config key 'train.epochs' must be an integer, got two"),
    ({"colour": "red"}, "the config: unknown key 'colour'"),
])
def test_a_bad_config_is_one_message_naming_the_key(patch, message):
    with pytest.raises(PlanError) as info:
        load_config({**default_config(), **patch})
    assert message in str(info.value)


@pytest.mark.parametrize("study, message", [
    ({"variants": ["eca"], "grids": {}}, "unknown key 'grids'; allowed: title, description, kind"),
    ({"kind": "zoo"}, "a study needs 'variants' and/or 'grid'"),
    ({"variants": ["eca"], "kind": "kernels"},
     "kind must be one of kernel, gamma_b, odd_rule, zoo, other, got kernels"),
    ({"grid": {"name": "eca", "k": 3}}, "grid.k must be a non-empty list of values"),
    ({"variants": [3]}, "variants[0] must be a spec string such as eca(k=3) or a mapping with 'name'"),
])
def test_a_bad_study_file_is_one_message_naming_the_key(study, message):
    with pytest.raises(PlanError) as info:
        validate(study, "study", "study 's' (s.yaml)", PlanError)
    assert str(info.value).startswith("study 's' (s.yaml): ") and message in str(info.value)


def test_a_study_gets_the_documented_defaults():
    assert validate({"variants": ["se"]}, "study", "s") == {"variants": ["se"], "kind": "other", "baseline": "none"}


@pytest.mark.parametrize("study, message", [
    ({"budget": 0, "variants": {"eca": "eca"}}, "budget must be a positive integer"),
    ({"budget": 2, "variants": {"e ca": "eca"}}, "variants"),
    ({"budget": 2, "variants": {"eca": {"spec": "eca", "serch": {}}}}, "unknown key 'serch'; allowed: spec, search"),
    ({"budget": 2, "variants": {"eca": "eca"}, "pruner": {"type": "hyperband"}}, "pruner"),
    ({"budget": 2, "variants": {"eca": "eca"}, "sampler": {"seed": -1}}, "sampler.seed must be >= 0"),
])
def test_a_bad_tuning_study_is_one_message_naming_the_key(study, message):
    with pytest.raises(TuneError) as info:
        validate(study, "tune_study", "tuning study 't'", TuneError)
    assert message in str(info.value)


def test_every_schema_ships_with_the_package():
    for name in ("config", "study", "tune_study", "run_record"):
        assert schema(name)["$schema"].startswith("https://json-schema.org/")
    assert not (ROOT / "config" / "schema").exists()  # one copy: src/ecabench/schemas
