"""The JSON Schemas of everything ecabench reads, and the one validator they share.

Workflow configs, study files, tuning-study files and run records are each checked once, where they
are read, against their schema here: a bad key or value fails with one message that names the key
(``x-message`` in a schema gives a key its own wording), and defaults are filled in, so no later
code re-checks or re-defaults them.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

_TYPES = {"array": "a list", "object": "a mapping", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "true or false", "null": "null"}


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    """The packaged schema ``<name>.schema.yaml`` (or ``.json``)."""
    folder = resources.files("ecabench.schemas")
    for ext, load in ((".yaml", yaml.safe_load), (".json", json.loads)):
        path = folder.joinpath(f"{name}.schema{ext}")
        if path.is_file():
            return load(path.read_text())
    raise FileNotFoundError(f"no schema named {name!r} in ecabench/schemas")


def _set_defaults(validator_class):
    """The validator class, extended to fill in ``default`` values (jsonschema's documented recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, sub_schema):
        if isinstance(instance, dict):
            for key, prop in props.items():
                if isinstance(prop, dict) and "default" in prop and key not in instance:
                    instance[key] = copy.deepcopy(prop["default"])
        yield from validate_properties(validator, props, instance, sub_schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


@lru_cache(maxsize=None)
def _validator(name: str):
    s = schema(name)
    cls = jsonschema.validators.validator_for(s)
    return _set_defaults(cls)(s)


def show(value: Any) -> str:
    """A value as the user wrote it (YAML flow style)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _got(value: Any) -> str:
    text = show(value)
    return f", got {text}" if len(text) <= 80 else ""


def _what(err: jsonschema.ValidationError) -> str:
    """What is wrong, in the schema's words where it has them."""
    custom = err.schema.get("x-message") if isinstance(err.schema, dict) else None
    if custom and err.validator not in ("additionalProperties", "required"):
        return custom + _got(err.instance)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list((err.schema.get("properties") or {}))
        unknown = sorted(set(err.instance) - set(allowed))
        return f"unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}" if unknown else err.message
    if err.validator == "type":
        expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return f"must be {' or '.join(_TYPES.get(t, t) for t in expected)}{_got(err.instance)}"
    if err.validator == "enum":
        return f"must be one of {', '.join(map(str, err.validator_value))}{_got(err.instance)}"
    if err.validator in _BOUNDS:
        return f"must be {_BOUNDS[err.validator]} {err.validator_value}{_got(err.instance)}"
    if err.validator == "minItems":
        return f"must have at least {err.validator_value} item(s){_got(err.instance)}"
    if err.validator == "uniqueItems":
        return f"lists a value twice{_got(err.instance)}"
    if err.validator == "required":
        return err.message.replace("is a required property", "is missing")
    return err.message


def _first(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    """Unknown keys first (the commonest slip, and what the other errors follow from), else jsonschema's
    best match."""
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    if unknown:
        return min(unknown, key=lambda e: len(e.absolute_path))
    return jsonschema.exceptions.best_match(errors)


def validate(instance: Any, name: str, where: str, error: type[Exception] = ValueError) -> Any:
    """A checked copy of ``instance`` with defaults filled in, or ``error`` naming the bad key.

    ``where`` starts the message: ``"config key"`` renders a path as ``config key 'seeds[1]'``;
    anything else (a file's description) as ``<where>: seeds[1]``.
    """
    checked = copy.deepcopy(instance)
    err = _first(list(_validator(name).iter_errors(checked)))
    if err is None:
        return checked
    path = key_path(err.absolute_path)
    if where == "config key":
        head = f"config key '{path}'" if path else "the config"
    else:
        head = f"{where}: {path}" if path else where
    what = _what(err)
    raise error(f"{head} {what}" if path and what.startswith(("must", "lists")) else f"{head}: {what}")


__all__ = ["key_path", "schema", "show", "validate"]
