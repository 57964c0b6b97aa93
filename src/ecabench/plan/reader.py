"""Reading a written plan (results/plan.json) back: what aggregation and the report know of the studies."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

DEFAULT_STUDY = "all"


class PlanWarning(UserWarning):
    """The plan file is missing: every record is put into one study."""


def load_plan(plan_path: Any) -> dict:
    """The plan's studies, normalised: {name: {title, description, kind, baseline, runs: [...], ...}}.

    ``None`` or a missing file gives an empty plan (the caller then puts every record in one study).
    Accepts the studies as a mapping or as a list of ``{"name": ...}`` objects, runs as a list or a
    mapping run_id -> entry. A study's ``baseline`` defaults to ``none``; an explicit null means the
    study has no baseline (no differences are computed).
    """
    if plan_path is None:
        return {"studies": {}, "config": {}}
    if isinstance(plan_path, dict):
        plan = plan_path
    else:
        path = Path(plan_path)
        if not path.exists():
            warnings.warn(f"plan {path} does not exist; every record goes into study {DEFAULT_STUDY!r}",
                          PlanWarning, stacklevel=2)
            return {"studies": {}, "config": {}}
        plan = json.loads(path.read_text())
    studies = plan.get("studies", {}) or {}
    if isinstance(studies, list):
        studies = {s.get("name") or s.get("study") or f"study{i}": s for i, s in enumerate(studies)}
    return {**plan, "studies": {name: _study(name, s) for name, s in studies.items()},
            "config": plan.get("config", {}) or {}}


def _study(name: str, s: Any) -> dict:
    s = dict(s or {})
    runs = s.get("runs", [])
    if isinstance(runs, dict):  # {run_id: {...}}
        runs = [{"run_id": rid, **(r or {})} for rid, r in runs.items()]
    s["runs"] = [r if isinstance(r, dict) else {"run_id": str(r)} for r in runs]
    for key, default in (("title", name), ("description", ""), ("kind", "other"), ("baseline", "none")):
        s.setdefault(key, default)
    return s
