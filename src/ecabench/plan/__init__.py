"""Planning: workflow config + study files -> studies -> runs -> measure jobs (and tuning studies).

``build_plan`` is a pure function of the config and the study files; ``load_plan`` reads a written
plan back for the steps downstream.
"""
from ecabench.plan.build import PLAN_VERSION, build_plan, plan_json, plan_warnings, summarize, write_plan
from ecabench.plan.config import dataset_identity_options, job_resources, load_config
from ecabench.plan.errors import PlanError
from ecabench.plan.measurements import REFERENCE_SPEC, measure_job_config
from ecabench.plan.reader import DEFAULT_STUDY, load_plan
from ecabench.plan.studies import expand_grid, expand_study, load_study, resolve_study_path

__all__ = ["DEFAULT_STUDY", "PLAN_VERSION", "REFERENCE_SPEC", "PlanError", "build_plan", "dataset_identity_options",
           "expand_grid", "expand_study", "job_resources", "load_config", "load_plan", "load_study",
           "measure_job_config", "plan_json", "plan_warnings", "resolve_study_path", "summarize", "write_plan"]
