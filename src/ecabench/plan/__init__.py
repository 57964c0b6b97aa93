"""Planning: workflow config + study files -> studies -> runs -> measure jobs (and tuning studies).

``build_plan`` is a pure function of the config and the study files; ``load_plan`` reads a written
plan back for the steps downstream. The names below load from their modules on first use (PEP 562),
so the steps downstream read a plan (:mod:`.reader`) without importing the planner and its model builder.
"""
from __future__ import annotations

from ecabench.util.lazy import lazy_exports

_EXPORTS = {
    "PLAN_VERSION": "build", "build_plan": "build", "plan_json": "build", "plan_warnings": "build",
    "summarize": "build", "write_plan": "build",
    "dataset_identity_options": "config", "job_resources": "config", "load_config": "config",
    "PlanError": "errors",
    "REFERENCE_SPEC": "measurements", "measure_job_config": "measurements",
    "DEFAULT_STUDY": "reader", "load_plan": "reader",
    "expand_grid": "studies", "expand_study": "studies", "load_study": "studies", "resolve_study_path": "studies",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
