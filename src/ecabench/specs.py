"""Variant specs: an attention variant's name plus its parameters, in one canonical form.

Users write a spec as a mapping (``{name: eca, k: 5}``) or a compact string (``eca(k=5)``,
``eca(gamma=3,b=0,odd=false)``, ``se(r=8)``, ``cbam``). Both parse to the same frozen
``VariantSpec`` holding every parameter (defaults filled in, equivalent settings normalised), so it
hashes stably for run ids, and to a readable ``id`` (``eca-k5``, ``eca-g3-b0-even``) that names
only what differs from the defaults and is safe in file names. All checks happen here, before any
model is built, through the hooks of the variant's class (:class:`~ecabench.attention.base.AttentionVariant`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from ecabench.attention.base import AttentionVariant
from ecabench.registry import ATTENTION, NAME_RE

_COMPACT_RE = re.compile(r"^\s*([^\s(]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_ID_SAFE_RE = re.compile(r"[^a-z0-9_.\-]")


class SpecError(ValueError):
    """A spec that names an unknown variant or gives it a bad parameter."""


@dataclass(frozen=True)
class VariantSpec:
    name: str
    params: tuple[tuple[str, Any], ...]

    @property
    def kwargs(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}

    @property
    def variant(self) -> type[AttentionVariant]:
        return ATTENTION.get(self.name)

    def non_default(self) -> dict:
        defaults = self.variant.default_params()
        return {k: v for k, v in self.kwargs.items() if defaults.get(k) != v}

    @property
    def id(self) -> str:
        fmt = self.variant.format_param
        tokens = [self.name] + [fmt(k, v) for k, v in self.non_default().items()]
        return _ID_SAFE_RE.sub("_", "-".join(str(t).lower() for t in tokens))

    def to_dict(self) -> dict:
        """Full mapping (all parameters): the form hashed into run ids and written to records."""
        return {"name": self.name, **self.kwargs}

    def __str__(self) -> str:
        args = ",".join(f"{k}={_render(v)}" for k, v in self.non_default().items())
        return f"{self.name}({args})" if args else self.name


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_render(v) for v in value) + "]"
    return str(value)


def _normalise_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return tuple(_normalise_value(v) for v in value)
    return value


def _split_args(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def _parse_compact(text: str) -> tuple[str, dict]:
    m = _COMPACT_RE.match(text)
    if not m:
        raise SpecError(f"cannot parse attention spec {text!r}: write it as name or name(key=value, ...)")
    name, argtext = m.group(1), m.group(2) or ""
    params: dict = {}
    for part in _split_args(argtext):
        if "=" not in part:
            raise SpecError(f"attention spec {text!r}: argument {part.strip()!r} must be key=value")
        key, raw = (s.strip() for s in part.split("=", 1))
        if key in params:
            raise SpecError(f"attention spec {text!r}: parameter {key!r} given twice")
        try:
            params[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise SpecError(f"attention spec {text!r}: cannot read the value of {key!r}: {raw!r}") from exc
    return name, params


def _check_per_stage(name: str, cls: type[AttentionVariant], given: dict) -> None:
    per_stage = set(cls.per_stage_params)
    for key, value in given.items():
        if isinstance(value, (list, tuple)) and key not in per_stage:
            allowed = ", ".join(sorted(per_stage)) or "none of its parameters"
            raise SpecError(f"{name}: {key} cannot be a per-stage list (per-stage parameters: {allowed})")


def parse_spec(spec: str | Mapping | VariantSpec) -> VariantSpec:
    """Parse a compact string or a mapping into the canonical ``VariantSpec``."""
    if isinstance(spec, VariantSpec):
        return spec
    if isinstance(spec, str):
        text = spec
        name, given = _parse_compact(spec)
    elif isinstance(spec, Mapping):
        text = repr(dict(spec))
        given = dict(spec)
        if "name" not in given:
            raise SpecError(f"attention spec {text} has no 'name' key")
        name = given.pop("name")
    else:
        raise SpecError(f"an attention spec is a string or a mapping, got {type(spec).__name__}: {spec!r}")

    if not isinstance(name, str) or not NAME_RE.match(name.lower()):
        raise SpecError(
            f"invalid attention variant name {name!r} in {text}: names use lower-case letters, digits "
            "and '_' only (no '/', '.' or spaces)"
        )
    name = name.lower()
    cls = ATTENTION.get(name)  # unknown name -> RegistryError listing the known ones
    defaults = cls.default_params()
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        accepted = ", ".join(f"{k}={_render(v)}" for k, v in defaults.items()) or "no parameters"
        raise SpecError(f"{name}: unknown parameter {unknown[0]!r} in {text}; accepted: {accepted}")
    given = {k: _normalise_value(v) for k, v in given.items()}
    _check_per_stage(name, cls, given)
    params = {**defaults, **given}
    try:
        cls.check_params(params)
        params = cls.normalize_params(params)
    except SpecError:
        raise
    except ValueError as exc:
        raise SpecError(f"{exc} (in attention spec {text})") from None
    return VariantSpec(name, tuple((k, _normalise_value(v) if isinstance(v, list) else v)
                                   for k, v in params.items()))


def resolve_stage_params(spec: VariantSpec, stage: int, num_stages: int, backbone: str = "the backbone") -> dict:
    """The keyword arguments for one stage: per-stage lists pick their stage's value."""
    kwargs = {}
    for key, value in spec.kwargs.items():
        if isinstance(value, list):
            if len(value) != num_stages:
                raise SpecError(
                    f"{spec.name}: {key}={_render(value)} has {len(value)} values but {backbone} has "
                    f"{num_stages} stages; give one value per stage or a single value"
                )
            value = value[stage]
        kwargs[key] = value
    return kwargs
