# Optuna tuning studies (ecabench.tune; format: docs/tuning.md). Include from the Snakefile:
#
#     include: "rules/tune.smk"
#
# and list the tuning studies in the config's `tuning` section:
#
#     tuning:
#       studies: [tune_eca_gamma_b, tune_fair]   # ablations/<name>.yaml
#       workers: 2           # worker jobs per study variant, all on one shared storage
#       storage: auto        # auto | sqlite | journal | journal:<file> | postgresql://... (any SQLAlchemy URL)
#
# Jobs, per tuning study <tune> and variant <variant> (outputs under <results>/tuning and <reports>/tuning):
#   tune_worker    -> <results>/tuning/<tune>/<variant>/worker<w>.json   (done-marker; runs trials until
#                     finished + pruned == budget; the study itself lives in the storage, NOT an output)
#   tune_best      -> <results>/tuning/<tune>/<variant>/best.json        (best validation setting)
#   tune_evaluate  -> <results>/tuning/<tune>/<variant>/evaluate/seed<s>.json  (+ <results>/runs/<run_id>.json)
#   tune_summary   -> <results>/tuning/<tune>/summary.json
#   tune_report    -> <reports>/tuning/<tune>.md / .html (+ PNGs in <reports>/tuning/<tune>/)
#   tune_all       everything above
# Everything is checked here, at parse time: a bad tuning study or storage stops the workflow
# before any job starts.

import os as _tune_os
from pathlib import Path as _TunePath

from snakemake.exceptions import WorkflowError as _TuneWorkflowError

from ecabench.plan.errors import TuneError as _TuneError
from ecabench.plan.tuning import plan_tuning as _plan_tuning
from ecabench.util import canonical_json as _tune_canonical

_TUNE_BASE = _TunePath(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent

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
    return _tune_canonical(TUNE_PLAN["studies"][wildcards.tune]["variants"][wildcards.variant])


def _tune_workers(wildcards):
    return expand(f"{TUNE_RESULTS}/{wildcards.tune}/{wildcards.variant}/worker{{w}}.json", w=TUNE_WORKERS)


def _tune_summary_inputs(wildcards):
    study = TUNE_PLAN["studies"][wildcards.tune]
    best = [f"{TUNE_RESULTS}/{wildcards.tune}/{v}/best.json" for v in study["variants"]]
    evals = [f"{TUNE_RESULTS}/{wildcards.tune}/{v}/evaluate/seed{s}.json"
             for v in study["variants"] for s in (study["evaluate_seeds"] or [])]
    return {"best": best, "evaluate": evals}


# For the Snakefile: `rule all` may list TUNE_TARGETS; aggregate may take TUNE_SUMMARIES (docs/tuning.md).
TUNE_SUMMARIES = [f"{TUNE_RESULTS}/{t}/summary.json" for t in TUNE_PLAN["studies"]]
TUNE_TARGETS = TUNE_SUMMARIES + [f"{TUNE_REPORTS}/{t}.{ext}" for t in TUNE_PLAN["studies"] for ext in ("md", "html")]


# One worker on one variant's study. The task (search space, budget, recipe, storage with its
# password masked) is the param: a changed budget reruns the workers, which add the missing trials;
# a changed search space is a new Optuna study (its name carries a hash of what is tuned).
rule tune_worker:
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/worker{{worker}}.json",
    params:
        task=_tune_task,
        torch_threads=_tune_res("threads"),
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
        worker="[0-9]+",
    threads: _tune_res("threads") * _TUNE_CORES_PER_THREAD
    resources:
        mem_mb=_tune_res("mem_mb"),
        runtime=_tune_res("runtime"),
        gpu=_tune_res("gpu"),
    script:
        "../runners/tune.py"


rule tune_best:
    input:
        _tune_workers,
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/best.json",
    params:
        task=_tune_task,
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
    localrule: True
    script:
        "../runners/tune.py"


# The best setting trained with one evaluation seed and reported on the test split: a normal run
# record in <results>/runs (not declared: the run id is known only after tuning).
rule tune_evaluate:
    input:
        best=f"{TUNE_RESULTS}/{{tune}}/{{variant}}/best.json",
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/evaluate/seed{{seed}}.json",
    params:
        results=config.get("results_dir", "results").rstrip("/"),
        torch_threads=_tune_res("threads"),
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
        seed="[0-9]+",
    threads: _tune_res("threads") * _TUNE_CORES_PER_THREAD
    resources:
        mem_mb=_tune_res("mem_mb"),
        runtime=_tune_res("runtime"),
        gpu=_tune_res("gpu"),
    script:
        "../runners/tune.py"


rule tune_summary:
    input:
        unpack(_tune_summary_inputs),
    output:
        f"{TUNE_RESULTS}/{{tune}}/summary.json",
    params:
        study=lambda wildcards: _tune_canonical(TUNE_PLAN["studies"][wildcards.tune]),
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
    localrule: True
    script:
        "../runners/tune.py"


rule tune_report:
    input:
        summary=f"{TUNE_RESULTS}/{{tune}}/summary.json",
    output:
        md=f"{TUNE_REPORTS}/{{tune}}.md",
        html=f"{TUNE_REPORTS}/{{tune}}.html",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
    localrule: True
    script:
        "../runners/tune.py"


rule tune_all:
    input:
        TUNE_TARGETS,
    localrule: True
