"""Name -> builder registries for attention variants and backbones, and plugin discovery.

Built-ins register themselves where they are defined; the registry imports their modules
(``BUILTIN_MODULES``) on first lookup, as it does plugins. Plugins come from two places, loaded once on
first lookup too:
installed distributions declaring entry points in ``ecabench.attention`` / ``ecabench.backbones``,
and ``*.py`` modules in plugin folders (``ablations/plugins`` under the working directory, folders in
``$ECABENCH_PLUGIN_PATH`` and folders a config names). A plugin that fails to import is recorded in
``plugin_errors()`` with its name and file and does not stop the others; two registrations of one
name are an error naming both sources, because silently picking one would make results ambiguous.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

from ecabench.attention.base import AttentionVariant, as_variant

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ENTRY_POINT_GROUPS = {"attention": "ecabench.attention", "backbone": "ecabench.backbones"}
DEFAULT_PLUGIN_DIRS = ("ablations/plugins",)
PLUGIN_PATH_ENV = "ECABENCH_PLUGIN_PATH"
BUILTIN_MODULES = (
    "ecabench.attention.none", "ecabench.attention.eca", "ecabench.attention.se", "ecabench.attention.cbam",
    "ecabench.attention.se_var", "ecabench.attention.se_gc", "ecabench.attention.eca_ns",
    "ecabench.backbones.cifar_resnet", "ecabench.backbones.resnet", "ecabench.backbones.mobilenet",
)


class RegistryError(ValueError):
    """A lookup or registration that cannot be honoured (unknown or duplicate name)."""


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    source: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PluginError:
    plugin: str
    origin: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} ({self.origin}) failed to load: {self.error}"


# Set while a plugin is being imported, so registrations say where they came from.
_current_source: list[str] = []
_plugin_errors: list[PluginError] = []
_loaded_dirs: set[Path] = set()
_entry_points_loaded = False


def _source_of(obj: Any) -> str:
    if _current_source:
        return _current_source[-1]
    module = getattr(obj, "__module__", "") or ""
    if module == "ecabench" or module.startswith("ecabench."):
        return f"builtin ({module})"
    try:
        return f"{module} ({inspect.getsourcefile(obj)})"
    except TypeError:
        return module or "<unknown>"


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, obj: Any, **meta: Any) -> Any:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise RegistryError(
                f"invalid {self.kind} name {name!r}: use lower-case letters, digits and '_', "
                "starting with a letter (it becomes part of file names)"
            )
        source = _source_of(obj)
        old = self._entries.get(name)
        if old is not None:
            same = getattr(old.obj, "__qualname__", None) == getattr(obj, "__qualname__", None) and old.source == source
            if not same:
                raise RegistryError(
                    f"{self.kind} name {name!r} is claimed twice: by {old.source} and by {source}"
                )
        self._entries[name] = Entry(name, obj, source, dict(meta))
        return obj

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def entry(self, name: str) -> Entry:
        discover()
        if name not in self._entries:
            known = sorted(self._entries)
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RegistryError(f"unknown {self.kind} {name!r}{hint} Known: {', '.join(known)}")
        return self._entries[name]

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def names(self) -> list[str]:
        discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        discover()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        discover()
        return name in self._entries


class AttentionRegistry(Registry):
    """Holds :class:`~ecabench.attention.base.AttentionVariant` subclasses only: a plain ``nn.Module``
    class (a plugin written before the base class) is adapted on registration, anything else refused."""

    def register(self, name: str, obj: Any, **meta: Any) -> type[AttentionVariant]:
        try:
            obj = as_variant(obj)
        except TypeError as exc:
            raise RegistryError(f"attention variant {name!r}: {exc}") from None
        obj = super().register(name, obj, **meta)
        obj.variant_name = name
        return obj


ATTENTION = AttentionRegistry("attention variant")
BACKBONES = Registry("backbone")


def register_attention(name: str, **meta: Any) -> Callable:
    """Class decorator: ``@register_attention("eca")`` on an :class:`AttentionVariant` subclass; returns
    the registered class (a plain ``nn.Module`` class comes back with the base class mixed in)."""

    def deco(cls):
        return ATTENTION.register(name, cls, **meta)

    return deco


def register_backbone(name: str, *, num_stages: int, **meta: Any) -> Callable:
    """Function decorator for ``builder(*, num_classes, in_channels, attention, **options)``.

    ``num_stages`` is how many stages per-stage attention settings (e.g. ECA's ``k`` list) must name.
    """

    def deco(fn):
        return BACKBONES.register(name, fn, num_stages=num_stages, **meta)

    return deco


def iter_attention_modules(model) -> Iterator[tuple[str, AttentionVariant]]:
    """(qualified name, module) for every attention module in ``model``, in forward order."""
    for name, module in model.named_modules():
        if isinstance(module, AttentionVariant):
            yield name, module


# ----------------------------------------------------------------------------- plugin discovery


@contextlib.contextmanager
def _loading(source: str):
    _current_source.append(source)
    try:
        yield
    finally:
        _current_source.pop()


def _load_builtins() -> None:
    """Import the built-in modules by name, like plugins: they import this module to register."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def _short_error(exc: BaseException, path: Path | None = None) -> str:
    """``Type: message (line N)``; N is the line of the plugin's own file when it is in the traceback
    (a SyntaxError's message already names its line: the traceback's last frame is importlib's)."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc}"
    tb = traceback.extract_tb(exc.__traceback__)
    own = [f for f in tb if path is not None and Path(f.filename) == path]
    frame = (own or tb or [None])[-1]
    where = f" (line {frame.lineno})" if frame is not None else ""
    return f"{type(exc).__name__}: {exc}{where}"


def load_plugin_dir(folder: str | os.PathLike) -> list[PluginError]:
    """Import every ``*.py`` in ``folder`` (not starting with '_'); return the failures."""
    folder = Path(folder).resolve()
    if folder in _loaded_dirs or not folder.is_dir():
        return []
    _loaded_dirs.add(folder)
    errors = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        mod_name = f"ecabench_plugins.{folder.name}.{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            with _loading(f"plugin {path.stem!r} ({path})"):
                spec.loader.exec_module(module)
        except RegistryError:
            sys.modules.pop(mod_name, None)
            raise
        except Exception as exc:  # a broken plugin must not take the others down
            sys.modules.pop(mod_name, None)
            errors.append(PluginError(path.stem, str(path), _short_error(exc, path)))
    _plugin_errors.extend(errors)
    return errors


def load_entry_points() -> list[PluginError]:
    errors = []
    for kind, group in ENTRY_POINT_GROUPS.items():
        for ep in metadata.entry_points(group=group):
            dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
            origin = f"entry point {ep.name!r} = {ep.value} in group {group!r} (distribution {dist})"
            try:
                with _loading(origin):
                    obj = ep.load()
                    registry = ATTENTION if kind == "attention" else BACKBONES
                    # The entry point's target may already have registered itself by decorator.
                    if ep.name not in registry._entries:
                        meta = {}
                        if registry is BACKBONES:
                            meta["num_stages"] = getattr(obj, "num_stages", None)
                        registry.register(ep.name, obj, **meta)
            except RegistryError:
                raise
            except Exception as exc:
                errors.append(PluginError(ep.name, origin, _short_error(exc)))
    _plugin_errors.extend(errors)
    return errors


def plugin_dirs_from_env() -> list[Path]:
    raw = os.environ.get(PLUGIN_PATH_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p]


_discovering = False


def discover(extra_dirs: tuple | list = ()) -> list[PluginError]:
    """Load built-ins, entry points and plugin folders (each only once); return all plugin errors."""
    global _entry_points_loaded, _discovering
    if _discovering:
        return list(_plugin_errors)
    _discovering = True
    try:
        _load_builtins()
        if not _entry_points_loaded:
            _entry_points_loaded = True
            load_entry_points()
        for folder in [*DEFAULT_PLUGIN_DIRS, *plugin_dirs_from_env(), *extra_dirs]:
            load_plugin_dir(folder)
    finally:
        _discovering = False
    return list(_plugin_errors)


def plugin_errors() -> list[PluginError]:
    return list(_plugin_errors)


def reset_plugins() -> None:
    """Forget loaded plugins (tests): drop non-builtin entries and allow rediscovery."""
    global _entry_points_loaded
    for reg in (ATTENTION, BACKBONES):
        for name in [n for n, e in reg._entries.items() if not e.source.startswith("builtin")]:
            del reg._entries[name]
    _plugin_errors.clear()
    _loaded_dirs.clear()
    _entry_points_loaded = False
