"""Atomic writes: a file is replaced whole or not at all.

Results, tables and checkpoints are written to a temporary file in the same folder, flushed to disk
and moved over the target with ``os.replace``, so a crashed or concurrent job never leaves a
half-written file for the next step to trip over.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ecabench.util.hashing import to_jsonable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then move it into place.

    The file is made readable by everyone (``mkstemp`` creates 0600; results are meant to be shared).
    ``suffix`` keeps the extension writers look at (e.g. ``.png`` for matplotlib).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, sort_keys: bool = True) -> Path:
    """Indented JSON with a final newline; numpy/torch scalars, tuples, sets and paths are converted."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=to_jsonable) + "\n")
