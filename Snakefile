# ecabench workflow: studies -> runs -> measurements -> tables -> report.
#
#   snakemake --cores 8                                   # default CPU sweep (config/config.yaml)
#   snakemake --cores 16 --resources gpu=1 --configfile config/paper.yaml
#   snakemake --profile profiles/slurm --configfile config/paper.yaml
#
# All planning happens at parse time in ecabench.plan.build_plan (rules/common.smk), which also
# checks the config against its schema (once) and fills in its defaults: a bad config or study file
# stops here, before any job. The plan names every training run by its config hash and every
# measure job by its backbone and input, so outputs are keyed by what they compute. Re-running a
# finished workflow does nothing; adding a variant runs only its new jobs. docs/workflow.md.

from snakemake.utils import min_version

min_version("8.0")


configfile: f"{workflow.basedir}/config/config.yaml"


report: "captions/workflow.rst"


include: "rules/common.smk"
include: "rules/tune.smk"


wildcard_constraints:
    run_id="[0-9a-f]{16}",
    study="[A-Za-z0-9_.-]+",
    measure_id="[0-9a-f]{16}_[0-9x]+",


localrules:
    all,
    plan,
    precision,
    aggregate,
    report,


# The plan's warnings (plugins that failed to load) were printed at parse time (rules/common.smk).
onstart:
    print(summarize(PLAN, warnings=False), file=sys.stderr)


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
    log:
        f"{LOGS}/plan.log",
    params:
        plan=lambda wildcards: PLAN_TEXT,
    script:
        "runners/plan.py"


# One training run: its normalised config is the param (identical for a given run id by
# construction); device and data location come from the config (how, not what: not tracked).
rule train:
    output:
        record=f"{RESULTS}/runs/{{run_id}}.json",
    log:
        f"{LOGS}/train/{{run_id}}.log",
    threads: train_cores
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu"),
    params:
        config=run_config,
        torch_threads=res("train", "threads"),
    script:
        "runners/train.py"


# Stein's two-stage seed rule (docs/statistics.md): a study with `precision` runs its first n0 seeds,
# then this checkpoint reads their records and decides, per setting, how many seeds the target
# half-width needs (capped); aggregate then asks for exactly those runs, so stage 2 only adds runs.
checkpoint precision:
    input:
        precision_stage1,
    output:
        f"{RESULTS}/precision/{{study}}.json",
    log:
        f"{LOGS}/precision/{{study}}.log",
    params:
        study_rule=precision_rule,
    script:
        "runners/precision.py"


# Params, MACs, elementwise FLOPs and throughput of every architecture on one (backbone, input),
# timed together in alternating rounds (not per seed). threads = all cores: no other job runs
# beside it, so the timings are clean.
rule measure:
    output:
        f"{RESULTS}/measure/{{measure_id}}.json",
    log:
        f"{LOGS}/measure/{{measure_id}}.log",
    threads: all_cores
    resources:
        mem_mb=res("measure", "mem_mb"),
        runtime=res("measure", "runtime"),
        gpu=res("measure", "gpu"),
    params:
        config=measure_config,
        options=lambda wildcards: MEASURE_OPTIONS,
    script:
        "runners/measure.py"


# The suite's own counts of the ImageNet models in the ECA paper's Table 3 (for the report's
# comparison): a job of its own, so it runs beside the training runs.
rule paper_counts:
    output:
        f"{RESULTS}/paper_counts.json",
    log:
        f"{LOGS}/paper_counts.log",
    priority: 10  # start it beside the first training runs, not after the last
    threads: CORES_PER_THREAD
    params:
        torch_threads=1,
    script:
        "runners/paper_counts.py"


rule aggregate:
    input:
        runs=expand(f"{RESULTS}/runs/{{run_id}}.json", run_id=STATIC_RUN_IDS),
        stage2=stage2_runs,
        precision=precision_decisions,
        measure=expand(f"{RESULTS}/measure/{{measure_id}}.json", measure_id=MEASURE_IDS),
        plan=f"{RESULTS}/plan.json",
        tune=TUNE_SUMMARIES,  # tuned variants' test-split runs join the tables (config tuning.studies)
    output:
        parquet=f"{RESULTS}/summary.parquet",
        csv=report(
            f"{RESULTS}/summary.csv",
            caption="captions/summary.rst",
            category="Tables",
            labels={"table": "tidy summary (one row per study, run, metric)"},
        ),
        curves_parquet=f"{RESULTS}/summary_curves.parquet",
        curves_csv=f"{RESULTS}/summary_curves.csv",
        meta=f"{RESULTS}/summary_meta.json",
    log:
        f"{LOGS}/aggregate.log",
    script:
        "runners/aggregate.py"


rule report:
    input:
        summary=f"{RESULTS}/summary.parquet",
        curves=f"{RESULTS}/summary_curves.parquet",
        meta=f"{RESULTS}/summary_meta.json",
        plan=f"{RESULTS}/plan.json",
        paper_counts=PAPER_COUNTS,
        tuning=tuning_fragments,
    output:
        html=report(
            f"{REPORTS}/index.html",
            caption="captions/report.rst",
            category="Report",
            labels={"page": "index.html"},
        ),
        md=f"{REPORTS}/index.md",
        figures=report(
            directory(f"{REPORTS}/figures"),
            patterns=["{name}.png"],
            caption="captions/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
        tables=report(
            directory(f"{REPORTS}/tables"),
            patterns=["{name}.csv"],
            caption="captions/tables.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    log:
        f"{LOGS}/report.log",
    script:
        "runners/report.py"


# Results that heal (docs/troubleshooting.md). Snakemake counts an output as done when its file exists, so a
# damaged run record (a full disk, a copy cut short) would never be trained again. Here, after parsing and
# before Snakemake decides what to run, every run record, measurement and precision decision is checked
# (schema, checksum) and a damaged one is moved to results/quarantine/ with its reason; if anything the
# tables need is then missing, aggregate's outputs are removed, so that this same call recomputes it
# (Snakemake recomputes a missing input only for a job that has to run). Dry runs too: they show the
# retraining. Once, by the main process; about 0.4 ms per record.
if getattr(workflow, "is_main_process", True):
    for _line in heal(RESULTS, PLAN, list(rules.aggregate.output)):
        print(_line, file=sys.stderr)
