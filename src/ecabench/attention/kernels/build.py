"""Build a C source of this package into a shared library on first use, cached per machine.

Why not ``torch.utils.cpp_extension``: it needs ninja, the Python and pybind11 headers and ~40 s
per build, and ties the binary to one torch ABI. These kernels are plain C over raw pointers,
called through ctypes and built by the system C compiler in about a second. They are optional:
without a compiler (or with a failing build) :func:`load_library` says why and the callers keep
their ATen path.

Cache: ``$ECABENCH_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/ecabench/kernels``, else
``~/.cache/ecabench/kernels`` (a per-user folder under the system's temporary directory if that
cannot be written). A library's file name carries a hash of the source, the compiler
and its version, the flags and this CPU (``-march=native`` code must not run on another CPU that
shares the home directory). Each build goes to a temporary file that is renamed into place, so
parallel jobs (Snakemake) never load a half-written library.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["Library", "cache_dir", "find_compiler", "load_library"]

# Tried in order: OpenMP threads (the runtime torch already loaded: same libgomp SONAME), then
# vector pragmas only (one thread), then plain C.
FLAG_SETS: tuple[tuple[str, ...], ...] = (
    ("-O3", "-march=native", "-fopenmp"),
    ("-O3", "-march=native", "-fopenmp-simd"),
    ("-O3", "-march=native"),
    ("-O3",),  # compilers without -march=native (older clang on arm64)
)
COMMON_FLAGS = ("-std=gnu11", "-shared", "-fPIC")
ABI_VERSION = 1  # what ecabench_kernel_abi() must return


@dataclass(frozen=True)
class Library:
    """A loaded kernel library, or why there is none (``lib`` None, ``reason`` set)."""

    lib: ctypes.CDLL | None
    compiler: str | None = None
    flags: tuple[str, ...] = ()
    path: Path | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.lib is None:
            return f"unavailable: {self.reason}"
        return f"{self.compiler} {' '.join(self.flags)}"


def cache_dir() -> Path:
    if os.environ.get("ECABENCH_KERNEL_CACHE"):
        return Path(os.environ["ECABENCH_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ecabench" / "kernels"


def find_compiler() -> str | None:
    """``$CC`` if set (may name a missing program: then there is no compiler), else cc, gcc or clang."""
    if os.environ.get("CC"):
        return shutil.which(os.environ["CC"])
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cpu_signature() -> str:
    """Model name and feature flags: what ``-march=native`` compiles for."""
    parts = [platform.machine(), platform.system()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            seen = set()
            for line in fh:
                key = line.split(":", 1)[0].strip()
                if key in ("model name", "flags", "Features", "CPU part") and key not in seen:
                    seen.add(key)
                    parts.append(line.strip())
    except OSError:
        parts.append(platform.processor())
    return "\n".join(parts)


def _writable(folder: Path) -> Path:
    """``folder``, created if need be; a per-user temporary folder where that is not possible
    (read-only home on a cluster node)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"ecabench-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""


def _build(source: Path, target: Path, cc: str, flags: tuple[str, ...]) -> str | None:
    """Compile ``source`` to ``target`` atomically; returns None, or the compiler's complaint."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp.so", dir=target.parent)
    except OSError as exc:
        return f"cannot write to {target.parent}: {exc}"
    os.close(fd)
    try:
        proc = subprocess.run([cc, *flags, *COMMON_FLAGS, str(source), "-o", tmp],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            return f"{Path(cc).name} {' '.join(flags)} failed: " + " | ".join(lines[-3:])
        os.replace(tmp, target)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{Path(cc).name} {' '.join(flags)} failed: {exc}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=None)
def load_library(name: str, cc: str | None = None, cache: str | None = None) -> Library:
    """Build (once per machine) and load ``<name>.c`` from this package; never raises.

    ``cc`` and ``cache`` default to :func:`find_compiler` and :func:`cache_dir`; results are
    cached per process and argument tuple.
    """
    cc = cc or find_compiler()
    if cc is None:
        return Library(None, reason="no C compiler found (set CC or install gcc/clang)")
    folder = _writable(Path(cache) if cache else cache_dir())
    with resources.as_file(resources.files("ecabench.attention.kernels") / f"{name}.c") as source:
        code = source.read_bytes()
        version = _compiler_version(cc)
        machine = _cpu_signature()
        errors = []
        for flags in FLAG_SETS:
            key = hashlib.sha256(b"\0".join(
                [code, cc.encode(), version.encode(), " ".join(flags).encode(), machine.encode()]
            )).hexdigest()[:16]
            target = folder / f"{name}-{key}.so"
            if not target.exists():
                error = _build(source, target, cc, flags)
                if error:
                    errors.append(error)
                    continue
            try:
                lib = ctypes.CDLL(str(target))
                abi = lib.ecabench_kernel_abi()
            except (OSError, AttributeError) as exc:
                errors.append(f"loading {target} failed: {exc}")
                continue
            if abi != ABI_VERSION:
                errors.append(f"{target} has ABI {abi}, expected {ABI_VERSION}")
                continue
            label = f"{Path(cc).name} {version.split()[-1] if version else ''}".strip()
            return Library(lib, compiler=label, flags=flags, path=target)
    return Library(None, reason="; ".join(errors) or "build failed")
