# The Python of rules/tune.smk: the tuning plan (made and checked at parse time) and the helpers its
# rules use. Globals are prefixed TUNE_/_tune_ so the file can be included beside the main workflow.

import os as _tune_os
from pathlib import Path as _TunePath

from snakemake.exceptions import WorkflowError as _TuneWorkflowError

from ecabench.plan.errors import TuneError as _TuneError
from ecabench.plan.tuning import plan_tuning as _plan_tuning
from ecabench.util import canonical_json as _tune_canonical

_TUNE_BASE = _TunePath(
    workflow.current_basedir.get_path_or_uri(secret_free=True)
).parent
_TUNE_LOGS = f"{config.get('results_dir', 'results').rstrip('/')}/logs/tune"

try:
    TUNE_PLAN = _plan_tuning(config, workdir=_tune_os.getcwd(), basedir=str(_TUNE_BASE))
except _TuneError as _exc:
    raise _TuneWorkflowError(f"invalid tuning config: {_exc}") from None

TUNE_RESULTS = TUNE_PLAN["results"]
TUNE_REPORTS = TUNE_PLAN["reports"]
TUNE_WORKERS = list(range(TUNE_PLAN["workers"]))


def _tune_cores_per_thread():
    """As the Snakefile's CORES_PER_THREAD (this file may be included on its own)."""
    from ecabench.runtime import cores_per_thread

    try:
        return cores_per_thread(workflow.cores)
    except _TuneWorkflowError:  # a remote executor: each job has its own allocation
        return 1


_TUNE_CORES_PER_THREAD = _tune_cores_per_thread()


def _tune_res(key):
    """resources.tune.<key> (the schema holds the defaults)."""
    return TUNE_PLAN["resources"][key]


def _tune_task(wildcards):
    return _tune_canonical(
        TUNE_PLAN["studies"][wildcards.tune]["variants"][wildcards.variant]
    )


def _tune_workers(wildcards):
    return expand(
        f"{TUNE_RESULTS}/{wildcards.tune}/{wildcards.variant}/worker{{w}}.json",
        w=TUNE_WORKERS,
    )


def _tune_summary_inputs(wildcards):
    study = TUNE_PLAN["studies"][wildcards.tune]
    best = [f"{TUNE_RESULTS}/{wildcards.tune}/{v}/best.json" for v in study["variants"]]
    evals, reference = (
        [
            f"{TUNE_RESULTS}/{wildcards.tune}/{v}/{kind}/seed{s}.json"
            for v in study["variants"]
            for s in (study["evaluate_seeds"] or [])
        ]
        for kind in ("evaluate", "reference")
    )
    return {"best": best, "evaluate": evals, "reference": reference}


# For the Snakefile: `rule all` may list TUNE_TARGETS; aggregate may take TUNE_SUMMARIES (docs/tuning.md).
TUNE_SUMMARIES = [f"{TUNE_RESULTS}/{t}/summary.json" for t in TUNE_PLAN["studies"]]
TUNE_TARGETS = TUNE_SUMMARIES + [
    f"{TUNE_REPORTS}/{t}.{ext}" for t in TUNE_PLAN["studies"] for ext in ("md", "html")
]
