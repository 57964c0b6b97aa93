"""Render pytest-benchmark JSON from ``tests/benchmarks`` as tables: module time / bandwidth bound.

``render(json_path)`` reads a file written by ``pytest tests/benchmarks --benchmark-only`` with
``--benchmark-json=PATH`` or ``--benchmark-save=NAME`` (stored under
``results/benchmarks/<machine id>/NNNN_NAME.json``; see docs/performance.md) and returns Markdown:

1. a summary per pass (``fwd``, ``fwdbwd``), device and memory format: one row per tensor shape, one
   column per attention variant, each cell the module's median time over the bandwidth bound of its
   group (``bound = passes / 2 x`` the median time of the group's copy reference, 3 passes for
   ``fwd`` and 7 for ``fwdbwd``; see tests/benchmarks/test_attention_bench.py), with the paired
   (interleaved) ratio in brackets when recorded;
2. one table per group (shape): every row's median, IQR, rounds, multiple of the copy's time,
   time / bound and paired time / bound;
3. model-level groups (``tests/benchmarks/test_model_bench.py``): images/s and ratio to ``none``.

``render(json_path, fmt="frame")`` returns the per-benchmark table as a pandas DataFrame instead
(one row per benchmark, times in seconds). The ratios are recomputed from the JSON's statistics, so
a file saved without ``extra_info`` (or filtered with ``-k``) still renders; the paired ratio comes
from ``extra_info`` only.

    python -m ecabench.report.benchmarks results/benchmarks/attention.json [--out report.md]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

import pandas as pd

COPY = "copy"
PASSES = {"fwd": 3, "fwdbwd": 7}
COLUMNS = [
    "group", "kind", "device", "pass", "label", "memory_format", "shape", "variant", "name", "median_s",
    "min_s", "iqr_s", "rounds", "copy_median_s", "bound_passes", "bound_s", "x_copy", "time_over_bound",
    "paired_time_over_bound", "images_per_s", "ratio_to_none", "threads",
]
# test ids of tests/benchmarks/test_attention_bench.py: [device-pass-label-format-variant]
_PARAM_RE = re.compile(
    r"\[(?P<device>[^-\]]+)-(?P<pass>fwdbwd|fwd)-(?P<label>[^-\]]+)-(?P<fmt>[^-\]]+)-(?P<variant>[^\]]+)\]"
)


def _load(json_path: str | os.PathLike) -> dict:
    path = Path(json_path)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark JSON at {path} (write one with pytest --benchmark-json=PATH)")
    data = json.loads(path.read_text())
    if "benchmarks" not in data:
        raise ValueError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' key)")
    return data


def _row(bench: dict) -> dict:
    info = bench.get("extra_info") or {}
    stats = bench.get("stats") or {}
    m = _PARAM_RE.search(bench.get("name", ""))
    kind = "model" if "model" in (bench.get("group") or "") or "backbone" in info else "attention"
    pass_ = info.get("pass_") or (m.group("pass") if m else None)
    variant = info.get("variant") or (m.group("variant") if m else bench.get("name"))
    fmt = info.get("memory_format")
    if fmt is None and m:
        fmt = {"nhwc": "channels_last", "nchw": "contiguous"}.get(m.group("fmt"))
    return {
        "group": bench.get("group") or "",
        "kind": kind,
        "device": info.get("device") or (m.group("device") if m else None),
        "pass": pass_ if kind == "attention" else "fwd",
        "label": info.get("label") or info.get("backbone") or (m.group("label") if m else None),
        "memory_format": fmt,
        "shape": tuple(info["shape"]) if info.get("shape") else None,
        "variant": variant,
        "name": bench.get("name"),
        "median_s": stats.get("median"),
        "min_s": stats.get("min"),
        "iqr_s": stats.get("iqr"),
        "rounds": stats.get("rounds"),
        "bound_passes": info.get("bound_passes") or (PASSES.get(pass_) if kind == "attention" else None),
        "paired_time_over_bound": info.get("paired_time_over_bound"),
        "images_per_s": (info.get("batch_size") / stats["median"]) if info.get("batch_size") and stats.get("median")
        else None,
        "threads": info.get("threads"),
    }


def _rows(data: dict) -> list[dict]:
    rows = [_row(b) for b in data["benchmarks"]]
    copies = {r["group"]: r["median_s"] for r in rows if r["kind"] == "attention" and r["variant"] == COPY}
    baselines = {r["group"]: r["images_per_s"] for r in rows if r["kind"] == "model" and r["variant"] == "none"}
    for r in rows:
        copy = copies.get(r["group"])
        r["copy_median_s"] = copy
        if r["kind"] == "attention" and copy and r["bound_passes"] and r["median_s"] is not None:
            r["bound_s"] = r["bound_passes"] / 2 * copy
            r["x_copy"] = r["median_s"] / copy
            r["time_over_bound"] = r["median_s"] / r["bound_s"]
        else:
            r["bound_s"] = r["x_copy"] = r["time_over_bound"] = None
        base = baselines.get(r["group"])
        r["ratio_to_none"] = r["images_per_s"] / base if base and r["images_per_s"] else None
    return rows


def frame(json_path: str | os.PathLike):
    """One row per benchmark (see the module docstring); times in seconds."""
    return pd.DataFrame(_rows(_load(json_path)), columns=COLUMNS)


def _fmt_time(seconds) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _fmt(value, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(value, spec)


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or ("---|" + "---:|" * (len(header) - 1))
    lines = ["| " + " | ".join(header) + " |", "|" + align]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _order(rows: list[dict]) -> list[str]:
    variants = []
    for r in rows:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    return sorted(variants, key=lambda v: (v != COPY, v != "none", v))


def _summary(rows: list[dict]) -> str:
    att = [r for r in rows if r["kind"] == "attention"]
    keys = []
    for r in att:
        key = (r["device"], r["pass"], r["memory_format"])
        if key not in keys:
            keys.append(key)
    out = []
    for device, pass_, fmt in keys:
        sel = [r for r in att if (r["device"], r["pass"], r["memory_format"]) == (device, pass_, fmt)]
        variants = [v for v in _order(sel) if v != COPY]
        shapes = []
        for r in sel:
            if (r["label"], r["shape"]) not in shapes:
                shapes.append((r["label"], r["shape"]))
        passes = PASSES.get(pass_, "?")
        table_rows = []
        for label, shape in shapes:
            cells = [f"{label} {tuple(shape) if shape else ''}".strip()]
            copy = next((r["median_s"] for r in sel if r["label"] == label and r["variant"] == COPY), None)
            cells.append(_fmt_time(copy))
            for v in variants:
                r = next((r for r in sel if r["label"] == label and r["shape"] == shape and r["variant"] == v), None)
                if r is None or r["time_over_bound"] is None:
                    cells.append("")
                    continue
                cell = _fmt(r["time_over_bound"])
                if r["paired_time_over_bound"] is not None:
                    cell += f" ({_fmt(r['paired_time_over_bound'])})"
                cells.append(cell)
            table_rows.append(cells)
        title = (f"### {device} `{pass_}` {fmt}: module time / bound "
                 f"(bound = {passes}/2 x copy time; in brackets: paired, interleaved ratio)")
        out.append(title + "\n\n" + _table(["shape", "copy (median)", *variants], table_rows))
    return "\n\n".join(out)


def _groups(rows: list[dict]) -> str:
    out = []
    groups = []
    for r in rows:
        if r["group"] not in groups:
            groups.append(r["group"])
    for g in groups:
        sel = [r for r in rows if r["group"] == g]
        order = _order(sel)
        sel.sort(key=lambda r: order.index(r["variant"]))
        if sel[0]["kind"] == "model":
            body = [[r["variant"], _fmt_time(r["median_s"]), _fmt_time(r["iqr_s"]), str(r["rounds"] or ""),
                     _fmt(r["images_per_s"], ".1f"), _fmt(r["ratio_to_none"], ".3f")] for r in sel]
            out.append(f"#### {g}\n\n" + _table(
                ["variant", "median", "IQR", "rounds", "images/s", "ratio to none"], body))
            continue
        body = [[r["variant"], _fmt_time(r["median_s"]), _fmt_time(r["iqr_s"]), str(r["rounds"] or ""),
                 _fmt(r["x_copy"]), _fmt(r["time_over_bound"]), _fmt(r["paired_time_over_bound"])] for r in sel]
        out.append(f"#### {g}\n\n" + _table(
            ["variant", "median", "IQR", "rounds", "x copy", "time / bound", "paired time / bound"], body))
    return "\n\n".join(out)


def render(json_path: str | os.PathLike, fmt: str = "markdown"):
    """Markdown report (default) or, with ``fmt="frame"``, a DataFrame of ``json_path``'s benchmarks."""
    if fmt == "frame":
        return frame(json_path)
    if fmt != "markdown":
        raise ValueError(f"fmt must be 'markdown' or 'frame', got {fmt!r}")
    data = _load(json_path)
    rows = _rows(data)
    machine = data.get("machine_info") or {}
    commit = data.get("commit_info") or {}
    cpu = machine.get("cpu") or {}
    threads = sorted({r["threads"] for r in rows if r["threads"] is not None})
    head = [
        f"# Benchmarks ({Path(json_path).name})",
        "",
        f"- taken {data.get('datetime', '?')}, commit {str(commit.get('id', '?'))[:12]}"
        f"{' (dirty)' if commit.get('dirty') else ''}",
        f"- CPU {cpu.get('brand_raw', machine.get('processor', '?'))}, {cpu.get('count', '?')} logical cores; "
        f"python {machine.get('python_version', '?')}; torch threads {', '.join(map(str, threads)) or '?'}",
        "- bound: a gated rescale reads the input at least twice and writes it once (3 passes = 1.5 copies) "
        "for a forward; 7 passes (3.5 copies) for forward + backward. 'x copy' = median / copy median.",
    ]
    parts = ["\n".join(head)]
    if any(r["kind"] == "attention" for r in rows):
        parts.append("## Summary\n\n" + _summary(rows))
    parts.append("## Groups\n\n" + _groups(rows))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render pytest-benchmark JSON from tests/benchmarks as Markdown.")
    ap.add_argument("json_path")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown here instead of stdout")
    ap.add_argument("--csv", type=Path, default=None, help="also write the per-benchmark table as CSV")
    args = ap.parse_args(argv)
    text = render(args.json_path)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        frame(args.json_path).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
