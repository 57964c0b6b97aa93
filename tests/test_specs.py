"""Variant specs: parsing both forms, canonical ids, and one clear error per bad spec."""
import pytest

from ecabench.specs import SpecError, parse_spec


@pytest.mark.parametrize(
    "text,mapping,expected_id",
    [
        ("eca", {"name": "eca"}, "eca"),
        ("eca(k=5)", {"name": "eca", "k": 5}, "eca-k5"),
        ("eca(gamma=3,b=0,odd=false)", {"name": "eca", "gamma": 3, "b": 0, "odd": False}, "eca-g3-b0-even"),
        ("eca(k=[3,5,5,7])", {"name": "eca", "k": [3, 5, 5, 7]}, "eca-k3_5_5_7"),
        ("se(r=8)", {"name": "se", "r": 8}, "se-r8"),
        ("cbam", {"name": "cbam"}, "cbam"),
        ("none", {"name": "none"}, "none"),
    ],
)
def test_string_and_mapping_forms_agree(text, mapping, expected_id):
    a, b = parse_spec(text), parse_spec(mapping)
    assert a == b and hash(a) == hash(b)
    assert a.id == expected_id
    assert parse_spec(str(a)) == a  # the compact rendering round-trips


def test_defaults_and_equivalent_spellings_are_one_spec():
    assert parse_spec("eca") == parse_spec("eca(k=adaptive, gamma=2.0, b=1, odd=true)")
    assert parse_spec("se") == parse_spec("se(r=16)")
    # gamma/b/odd do not matter once k is fixed
    assert parse_spec("eca(k=5, gamma=3)") == parse_spec("eca(k=5)")
    assert parse_spec("ECA(k=5)").name == "eca"


def test_spec_ids_are_file_name_safe():
    for text in ["eca(gamma=1.5,b=-1)", "eca(k=[3,5,5,7])", "cbam(r=8,kernel_size=3)"]:
        sid = parse_spec(text).id
        assert "/" not in sid and ".." not in sid and " " not in sid, sid


@pytest.mark.parametrize(
    "bad,needle",
    [
        ("eca(k=0)", "k must be"),
        ("eca(gamma=0)", "gamma must be a number > 0"),
        ("eca(gamma=-2)", "gamma must be a number > 0"),
        ("eca(k=2.5)", "2.5"),
        ("eca(k=true)", "k must be"),
        ("ecaa", "did you mean 'eca'"),
        ("se(r=-1)", "r must be an integer >= 1, got -1"),
        ("se(r=2.5)", "r must be an integer"),
        ("cbam(kernel_size=4)", "kernel_size must be odd"),
        ("eca(kk=3)", "unknown parameter 'kk'"),
        ("se(r=[4,8])", "cannot be a per-stage list"),
        ("eca(k)", "must be key=value"),
        ("eca(k=3,k=5)", "given twice"),
        ("../eca", "invalid attention variant name"),
        ("a/b", "invalid attention variant name"),
        ({"k": 3}, "no 'name' key"),
        (42, "string or a mapping"),
    ],
)
def test_bad_specs_fail_with_a_message_naming_the_problem(bad, needle):
    with pytest.raises(ValueError) as info:
        parse_spec(bad)
    assert needle in str(info.value)


def test_unknown_name_lists_known_variants():
    with pytest.raises(ValueError) as info:
        parse_spec("squeeze")
    for known in ("eca", "se", "cbam", "none"):
        assert known in str(info.value)


def test_unknown_parameter_lists_accepted_ones():
    with pytest.raises(SpecError) as info:
        parse_spec({"name": "eca", "kernel": 3})
    assert "accepted: k=adaptive, gamma=2, b=1, odd=true" in str(info.value)
