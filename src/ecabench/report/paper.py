"""The ECA paper's Table 3 beside the suite's own parameter and MAC counts, in both unit conventions.

The paper prints ResNet parameters in units of 2^20 ("24.37 M" = 24.37 * 2^20 = 25.55 million) and
FLOPs counted with thop divided by 2^30 ("G") or 2^20 ("M"); the suite counts in decimal units
(10^6 parameters, 10^9 MACs, fvcore convention: one multiply-add = 1). The table shows the paper's
figures as printed and converted to decimal, and the suite's counts in decimal and converted to the
paper's binary units, so both can be compared like for like.

The suite's counts come from ``ecabench.models.build_model`` + ``ecabench.measure.count_params`` /
``count_flops(model, (3, 224, 224))`` for 1000 classes. They take a few seconds per model, so the
workflow computes them in a job of their own (``paper_counts``, :func:`write_suite_counts`, beside
the training runs) and the report only reads them.
"""
from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

MIB = 2 ** 20
GIB = 2 ** 30
CACHE_NAME = "paper_suite_counts.json"
REFERENCE_NAME = "eca_paper_table3.csv"
INPUT_SHAPE = (3, 224, 224)

# paper method -> suite spec (per backbone where the paper differs)
METHOD_SPECS = {"baseline": "none", "se": "se", "cbam": "cbam", "eca": "eca"}
BACKBONE_OVERRIDES = {("mobilenet_v2", "se"): "se(r=8)"}  # the paper's SE on MobileNetV2 uses r=8
# extra suite rows without a paper row of their own (compared with the paper's row of `method`)
EXTRA_ROWS = [("resnet50", "eca", "eca(k=[3,5,5,7])", "released ECA-ResNet-50 checkpoint: per-stage k [3,5,5,7]")]


def packaged_reference() -> Path:
    """The copy of the paper's Table 3 shipped inside the package (source: reference/README.md)."""
    return Path(str(resources.files("ecabench").joinpath("reference", REFERENCE_NAME)))


def find_reference_csv(reference_csv: str | os.PathLike | None = None, config: dict | None = None) -> Path | None:
    """The reference CSV: an explicit path, then ``config['report']['reference_csv']`` (relative to the
    working directory), then the copy shipped in the package. None if a given path does not exist."""
    cfg = config or {}
    given = reference_csv or ((cfg.get("report") or {}).get("reference_csv") if isinstance(cfg.get("report"), dict)
                              else None)
    if given:
        return Path(given) if Path(given).exists() else None
    packaged = packaged_reference()
    return packaged if packaged.exists() else None


def load_reference(path: str | os.PathLike) -> pd.DataFrame:
    df = pd.read_csv(path)
    need = {"backbone", "method", "params_paper", "params_unit", "flops_paper", "flops_unit"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"{path}: reference table lacks columns {sorted(missing)}")
    return df


def spec_for(backbone: str, method: str) -> str | None:
    return BACKBONE_OVERRIDES.get((backbone, method), METHOD_SPECS.get(method))


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("ecabench", "torch", "fvcore"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def count_model(backbone: str, spec: str) -> dict:
    """Params and FLOPs of ``backbone`` with ``spec`` for ImageNet (1000 classes, 3x224x224)."""
    import torch

    from ecabench.measure import count_flops, count_params
    from ecabench.models import build_model

    with torch.no_grad():
        model = build_model(backbone, spec, num_classes=1000, in_channels=3)
        p = count_params(model)
        f = count_flops(model, INPUT_SHAPE)
    return {"params_total": p["params_total"], "params_attention": p["params_attention"], "macs": f["macs"],
            "elementwise_flops": f["elementwise_flops"], "unsupported_ops": f.get("unsupported_ops", {})}


def suite_counts(pairs: list[tuple[str, str]], cache_path: str | os.PathLike | None = None,
                 always_write: bool = False) -> dict[str, dict]:
    """{"backbone|spec": counts} for every pair, from the cache where it matches the package versions."""
    versions = _versions()
    cache: dict[str, Any] = {}
    if cache_path is not None and Path(cache_path).exists():
        try:
            loaded = json.loads(Path(cache_path).read_text())
            if loaded.get("versions") == versions and loaded.get("input_shape") == list(INPUT_SHAPE):
                cache = loaded.get("counts", {})
        except (OSError, ValueError):
            cache = {}
    changed = False
    out = {}
    for backbone, spec in pairs:
        key = f"{backbone}|{spec}"
        if key not in cache:
            try:
                cache[key] = count_model(backbone, spec)
            except Exception as exc:  # a backbone/variant that cannot be built: say so in the table
                cache[key] = {"error": f"{type(exc).__name__}: {exc}"}
            changed = True
        out[key] = cache[key]
    if (changed or always_write) and cache_path is not None:
        from ecabench.util import atomic_write_json

        atomic_write_json(cache_path, {"versions": versions, "input_shape": list(INPUT_SHAPE), "counts": cache})
    return out


def _unit_factor(unit: str) -> float:
    u = str(unit).strip().upper()
    return {"G": GIB, "M": MIB, "K": 2 ** 10, "": 1.0}.get(u, math.nan)


def _power_text(factor: float) -> str:
    return f"2^{int(math.log2(factor))}" if factor == factor and factor > 0 else "?"


def comparison_table(reference: pd.DataFrame, counts: dict[str, dict]) -> pd.DataFrame:
    """Raw comparison: one row per paper row (plus :data:`EXTRA_ROWS`)."""
    rows = []
    ref_rows = [(r, spec_for(r["backbone"], r["method"]), "") for _, r in reference.iterrows()]
    for backbone, method, spec, note in EXTRA_ROWS:
        match = reference[(reference["backbone"] == backbone) & (reference["method"] == method)]
        if len(match):
            ref_rows.append((match.iloc[0], spec, note))
    for r, spec, note in ref_rows:
        c = counts.get(f"{r['backbone']}|{spec}", {}) if spec else {}
        p_unit = _unit_factor(r["params_unit"])
        f_unit = _unit_factor(r["flops_unit"])
        paper_params = float(r["params_paper"]) * p_unit  # absolute count, paper's binary unit
        paper_flops = float(r["flops_paper"]) * f_unit
        sp = c.get("params_total", math.nan)
        sm = c.get("macs", math.nan)
        se = c.get("elementwise_flops", math.nan)
        if note == "" and r["backbone"] == "mobilenet_v2" and r["method"] == "se":
            note = "paper's SE on MobileNetV2 uses r=8"
        if "error" in c:
            note = (note + "; " if note else "") + "suite count failed: " + c["error"]
        if spec is None:
            note = (note + "; " if note else "") + f"no suite spec for method {r['method']!r}"
        rows.append({
            "backbone": r["backbone"], "method": r["method"], "suite_spec": spec or "",
            "paper_params": float(r["params_paper"]), "paper_params_unit": f"{r['params_unit']} (2^20)",
            "paper_params_1e6": paper_params / 1e6,
            "suite_params_1e6": sp / 1e6, "suite_params_2p20": sp / MIB,
            "suite_params_exact": sp, "suite_params_attention": c.get("params_attention", math.nan),
            "params_diff_pct": (sp / paper_params - 1) * 100 if paper_params else math.nan,
            "paper_flops": float(r["flops_paper"]), "paper_flops_unit": f"{r['flops_unit']} ({_power_text(f_unit)})",
            "paper_flops_1e9": paper_flops / 1e9,
            "suite_macs_1e9": sm / 1e9, "suite_macs_2p30": sm / GIB,
            "suite_macs_exact": sm, "suite_elementwise_flops_1e9": se / 1e9,
            "macs_diff_pct": (sm / paper_flops - 1) * 100 if paper_flops else math.nan,
            "paper_top1": r.get("top1", math.nan), "paper_top5": r.get("top5", math.nan),
            "paper_train_fps": r.get("train_fps", math.nan), "paper_infer_fps": r.get("infer_fps", math.nan),
            "note": note,
        })
    return pd.DataFrame(rows)


def format_comparison(raw: pd.DataFrame) -> pd.DataFrame:
    def f(x, d=2):
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"

    def signed(x, d=2):
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.{d}f}"

    return pd.DataFrame({
        "Backbone": raw["backbone"], "Method": raw["method"], "Suite spec": raw["suite_spec"],
        "Paper params (2^20)": [f(x) for x in raw["paper_params"]],
        "Paper params (10^6)": [f(x) for x in raw["paper_params_1e6"]],
        "Suite params (10^6)": [f(x, 3) for x in raw["suite_params_1e6"]],
        "Suite params (2^20)": [f(x, 3) for x in raw["suite_params_2p20"]],
        "Suite params (exact)": ["–" if math.isnan(x) else f"{int(x):,}" for x in raw["suite_params_exact"]],
        "Params diff %": [signed(x) for x in raw["params_diff_pct"]],
        "Paper FLOPs (as printed)": [f"{x:g} {u.split()[0]}" for x, u in zip(raw["paper_flops"], raw["paper_flops_unit"])],
        "Paper FLOPs (10^9)": [f(x, 3) for x in raw["paper_flops_1e9"]],
        "Suite MACs (10^9)": [f(x, 3) for x in raw["suite_macs_1e9"]],
        "Suite MACs (2^30)": [f(x, 3) for x in raw["suite_macs_2p30"]],
        "Suite elementwise FLOPs (10^9)": [f(x, 3) for x in raw["suite_elementwise_flops_1e9"]],
        "MACs diff %": [signed(x) for x in raw["macs_diff_pct"]],
        "Paper top-1 %": [f(x) for x in raw["paper_top1"]],
        "Paper FPS train/infer": [f"{int(a)}/{int(b)}" if not (math.isnan(a) or math.isnan(b)) else "–"
                                  for a, b in zip(raw["paper_train_fps"].astype(float), raw["paper_infer_fps"].astype(float))],
        "Note": raw["note"],
    })


def reference_pairs(reference: pd.DataFrame) -> list[tuple[str, str]]:
    """The (backbone, suite spec) pairs whose counts the comparison needs, each once."""
    pairs = [(r["backbone"], spec_for(r["backbone"], r["method"])) for _, r in reference.iterrows()]
    pairs += [(b, s) for b, m, s, _ in EXTRA_ROWS
              if ((reference["backbone"] == b) & (reference["method"] == m)).any()]
    return list(dict.fromkeys((b, s) for b, s in pairs if s))


def write_suite_counts(out_path: str | os.PathLike, reference_csv: str | os.PathLike | None = None,
                       config: dict | None = None) -> dict[str, dict]:
    """The workflow's ``paper_counts`` job: count every model the reference table names, write JSON."""
    path = find_reference_csv(reference_csv, config)
    pairs = reference_pairs(load_reference(path)) if path is not None else []
    return suite_counts(pairs, out_path, always_write=True)


def read_suite_counts(path: str | os.PathLike) -> dict[str, dict]:
    return json.loads(Path(path).read_text()).get("counts", {})


def paper_comparison(reference_csv: str | os.PathLike | None = None, config: dict | None = None,
                     counts: dict[str, dict] | None = None) -> dict:
    """{"path": reference or None, "raw": DataFrame | None, "formatted": DataFrame | None, "message": str}.

    ``counts``: the suite's counts by "backbone|spec" (:func:`write_suite_counts`); None leaves the
    suite's columns empty and says so.
    """
    path = find_reference_csv(reference_csv, config)
    if path is None:
        given = reference_csv or ((config or {}).get("report") or {}).get("reference_csv")
        where = f" at {given}" if given else f" (the package's copy, {packaged_reference()}, is missing)"
        return {"path": None, "raw": None, "formatted": None,
                "message": f"The paper's reference table was not found{where}; no comparison is made."}
    try:
        ref = load_reference(path)
    except (OSError, ValueError) as exc:
        return {"path": path, "raw": None, "formatted": None, "message": f"The reference table {path} could not be read: {exc}"}
    message = "" if counts is not None else ("The suite's own counts were not computed for this report "
                                             "(report.paper_comparison is off).")
    raw = comparison_table(ref, counts or {})
    return {"path": path, "raw": raw, "formatted": format_comparison(raw), "message": message}
