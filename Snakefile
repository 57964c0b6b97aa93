# ecabench workflow: studies -> runs -> measurements -> tables -> report.
#
#   snakemake --cores 8                                   # default CPU sweep (config/config.yaml)
#   snakemake --cores 16 --resources gpu=1 --configfile config/paper.yaml
#   snakemake --profile profiles/slurm --configfile config/paper.yaml
#
# All planning happens at parse time in ecabench.plan.build_plan, which also checks the config
# against its schema (once) and fills in its defaults: a bad config or study file stops here,
# before any job. The plan names every training run by its config hash and every measure job by
# its backbone and input, so outputs are keyed by what they compute. Re-running a finished workflow
# does nothing; adding a variant runs only its new jobs. Format and mechanics: docs/workflow.md.

import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("8.0")

BASE = Path(workflow.basedir)


configfile: str(BASE / "config" / "config.yaml")


from ecabench.plan import (
    PlanError,
    build_plan,
    job_resources,
    measure_job_config,
    plan_json,
    summarize,
    write_plan,
)
from ecabench.runtime import cores_per_thread, measure_options, plugin_path_env
from ecabench.util import canonical_json

try:
    PLAN = build_plan(config, workdir=os.getcwd(), basedir=str(BASE))
except PlanError as exc:
    raise WorkflowError(f"invalid workflow config: {exc}") from None
config.update(PLAN["config"])  # the checked config, with the schema's defaults

# Job processes (script jobs here, SLURM jobs anywhere) load the same plugin folders as the plan.
os.environ["ECABENCH_PLUGIN_PATH"] = plugin_path_env(PLAN)

RESULTS = config["results_dir"].rstrip("/")
REPORTS = config["reports_dir"].rstrip("/")
RUN_IDS = sorted(PLAN["runs"])
MEASURE_IDS = sorted(PLAN["measurements"])
PLAN_TEXT = plan_json(PLAN)


def res(rule_name, key):
    """resources.<rule>.<key> (the schema holds the defaults)."""
    return job_resources(config, rule_name)[key]


def local_cores():
    """--cores of a local run; None under a remote executor (SLURM), where each job has its own allocation."""
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
    return canonical_json(measure_job_config(PLAN["measurements"][wildcards.measure_id]))


MEASURE_OPTIONS = canonical_json(measure_options(config))


wildcard_constraints:
    run_id="[0-9a-f]{16}",
    measure_id="[0-9a-f]{16}_[0-9x]+",


localrules:
    all,
    plan,
    aggregate,
    report,


onstart:
    print(summarize(PLAN), file=sys.stderr)


include: "rules/tune.smk"


rule all:
    input:
        f"{REPORTS}/index.html",
        f"{REPORTS}/index.md",
        f"{RESULTS}/summary.csv",
        TUNE_TARGETS,


# The plan (studies -> runs, aliases, dropped pairs) for aggregate and report. It is a param, so it
# is rewritten only when the plan itself changes (Snakemake's params rerun trigger); train and
# measure jobs never read it, so a new study or variant does not touch their outputs.
rule plan:
    output:
        f"{RESULTS}/plan.json",
    params:
        plan=lambda wildcards: PLAN_TEXT,
    run:
        write_plan(output[0], params.plan)


# One training run: its normalised config is the param (identical for a given run id by
# construction), device and data location come from the config (how, not what: not tracked).
rule train:
    output:
        record=f"{RESULTS}/runs/{{run_id}}.json",
    params:
        config=run_config,
        torch_threads=res("train", "threads"),
    threads: train_cores
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu"),
    script:
        "runners/train.py"


# Params, MACs, elementwise FLOPs and throughput of every architecture on one (backbone, input),
# timed together in alternating rounds (not per seed). threads = all cores: no other job runs
# beside it, so the timings are clean.
rule measure:
    output:
        f"{RESULTS}/measure/{{measure_id}}.json",
    params:
        config=measure_config,
        options=lambda wildcards: MEASURE_OPTIONS,
    threads: all_cores
    resources:
        mem_mb=res("measure", "mem_mb"),
        runtime=res("measure", "runtime"),
        gpu=res("measure", "gpu"),
    script:
        "runners/measure.py"


rule aggregate:
    input:
        runs=expand(f"{RESULTS}/runs/{{run_id}}.json", run_id=RUN_IDS),
        measure=expand(f"{RESULTS}/measure/{{measure_id}}.json", measure_id=MEASURE_IDS),
        plan=f"{RESULTS}/plan.json",
        tune=TUNE_SUMMARIES,  # tuned variants' test-split runs join the tables (config tuning.studies)
    output:
        parquet=f"{RESULTS}/summary.parquet",
        csv=f"{RESULTS}/summary.csv",
        curves_parquet=f"{RESULTS}/summary_curves.parquet",
        curves_csv=f"{RESULTS}/summary_curves.csv",
        meta=f"{RESULTS}/summary_meta.json",
    script:
        "runners/aggregate.py"


# The suite's own counts of the ImageNet models in the ECA paper's Table 3 (for the report's
# comparison): a job of its own, so it runs beside the training runs.
rule paper_counts:
    output:
        f"{RESULTS}/paper_counts.json",
    params:
        torch_threads=1,
        reference=lambda wildcards: str((config.get("report") or {}).get("reference_csv")),
    threads: CORES_PER_THREAD
    priority: 10  # start it beside the first training runs, not after the last
    script:
        "runners/paper_counts.py"


PAPER_COUNTS = (
    [f"{RESULTS}/paper_counts.json"]
    if (config.get("report") or {}).get("paper_comparison", True)
    else []
)


rule report:
    input:
        summary=f"{RESULTS}/summary.parquet",
        curves=f"{RESULTS}/summary_curves.parquet",
        meta=f"{RESULTS}/summary_meta.json",
        plan=f"{RESULTS}/plan.json",
        paper_counts=PAPER_COUNTS,
        tuning=[f"{TUNE_REPORTS}/{t}.{ext}" for t in TUNE_PLAN["studies"] for ext in ("md", "html")],
    output:
        html=f"{REPORTS}/index.html",
        md=f"{REPORTS}/index.md",
    script:
        "runners/report.py"
