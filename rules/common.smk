# The workflow's Python: the plan (made and checked at parse time) and the helpers the rules use.
# Included first by the Snakefile; rules live in the Snakefile and rules/tune.smk.

import json
import os
import sys

from snakemake.exceptions import WorkflowError

from ecabench.integrity import heal
from ecabench.plan import (
    PlanError,
    build_plan,
    job_resources,
    measure_job_config,
    plan_json,
    plan_warnings,
    summarize,
)
from ecabench.plan.precision import chosen_run_ids, stage1_run_ids
from ecabench.runtime import cores_per_thread, measure_options
from ecabench.util import canonical_json

try:
    PLAN = build_plan(config, workdir=os.getcwd(), basedir=workflow.basedir)
except PlanError as exc:
    raise WorkflowError(f"invalid workflow config: {exc}") from None
config.update(PLAN["config"])  # the checked config, with the schema's defaults

# Plugins that failed to load are reported at parse time, so `snakemake -n` shows them too (onstart,
# which prints the plan's summary, does not run on a dry run); once, by the main process, not again
# by every job a remote executor starts.
if getattr(workflow, "is_main_process", True):
    for _warning in plan_warnings(PLAN):
        print(_warning, file=sys.stderr)

RESULTS = config["results_dir"].rstrip("/")
REPORTS = config["reports_dir"].rstrip("/")
LOGS = f"{RESULTS}/logs"
RUN_IDS = sorted(
    PLAN["runs"]
)  # every run the plan may need (stage 2 of a precision study included)
STATIC_RUN_IDS = PLAN["static_runs"]  # needed whatever the precision checkpoints decide
PRECISION_STUDIES = sorted(PLAN["precision"])
MEASURE_IDS = sorted(PLAN["measurements"])
PLAN_TEXT = plan_json(PLAN)
MEASURE_OPTIONS = canonical_json(measure_options(config))
PAPER_COUNTS = (
    [f"{RESULTS}/paper_counts.json"]
    if config["report"].get("paper_comparison", True)
    else []
)


def res(rule_name, key):
    """resources.<rule>.<key> (the schema holds the defaults)."""
    return job_resources(config, rule_name)[key]


def local_cores():
    """--cores of a local run; None under a remote executor (SLURM): each job has its own allocation."""
    try:
        return workflow.cores
    except WorkflowError:
        return None


# Snakemake cores a job claims per torch thread: with --cores 8 on a 2-CPU machine each busy thread
# claims 4, so no more busy threads run than the machine has CPUs (ecabench.runtime.cores_per_thread).
CORES_PER_THREAD = cores_per_thread(local_cores())


def train_cores(wildcards):
    return res("train", "threads") * CORES_PER_THREAD


def all_cores(wildcards):
    """Every core this Snakemake instance may use: a measure job never shares the machine.

    Locally, a job's threads count against --cores, so a job holding all of them runs alone.
    Under a remote executor (SLURM) each job gets its own allocation instead; the slurm profile
    adds `--exclusive` for measure jobs, and the thread count comes from the config.
    """
    return local_cores() or res("measure", "threads")


def run_config(wildcards):
    return canonical_json(PLAN["runs"][wildcards.run_id]["config"])


def measure_config(wildcards):
    return canonical_json(
        measure_job_config(PLAN["measurements"][wildcards.measure_id])
    )


def tuning_fragments(wildcards):
    return [
        f"{TUNE_REPORTS}/{t}.{ext}"
        for t in TUNE_PLAN["studies"]
        for ext in ("md", "html")
    ]


def precision_stage1(wildcards):
    """The stage-1 run records of a precision study (its first n0 seeds)."""
    return [
        f"{RESULTS}/runs/{rid}.json"
        for rid in stage1_run_ids(PLAN["precision"][wildcards.study])
    ]


def precision_rule(wildcards):
    return canonical_json(PLAN["precision"][wildcards.study])


def precision_decisions(wildcards):
    return [f"{RESULTS}/precision/{study}.json" for study in PRECISION_STUDIES]


def stage2_runs(wildcards):
    """Each precision study's runs beyond stage 1, as its checkpoint decided (evaluated once the
    checkpoint has run; the static runs are a separate input, so they are scheduled from the start).
    """
    ids = set()
    for study in PRECISION_STUDIES:
        with open(checkpoints.precision.get(study=study).output[0]) as fh:
            ids.update(chosen_run_ids(PLAN["precision"][study], json.load(fh)))
    return [f"{RESULTS}/runs/{rid}.json" for rid in sorted(ids - set(STATIC_RUN_IDS))]
