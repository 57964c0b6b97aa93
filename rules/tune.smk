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
#   tune_reference -> <results>/tuning/<tune>/<variant>/reference/seed<s>.json (the untuned self, same seeds)
#   tune_summary   -> <results>/tuning/<tune>/summary.json
#   tune_report    -> <reports>/tuning/<tune>.md / .html (+ PNGs in <reports>/tuning/<tune>/)
#   tune_all       everything above
# Everything is checked here, at parse time: a bad tuning study or storage stops the workflow
# before any job starts.


include: "tune_common.smk"


# One worker on one variant's study. The task (search space, budget, recipe, storage with its
# password masked) is the param: a changed budget reruns the workers, which add the missing trials;
# a changed search space is a new Optuna study (its name carries a hash of what is tuned).
rule tune_worker:
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/worker{{worker}}.json",
    log:
        f"{_TUNE_LOGS}/{{tune}}/{{variant}}/worker{{worker}}.log",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
        worker="[0-9]+",
    threads: _tune_res("threads") * _TUNE_CORES_PER_THREAD
    resources:
        mem_mb=_tune_res("mem_mb"),
        runtime=_tune_res("runtime"),
        gpu=_tune_res("gpu"),
    params:
        task=_tune_task,
        torch_threads=_tune_res("threads"),
    script:
        "../runners/tune.py"


rule tune_best:
    input:
        _tune_workers,
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/best.json",
    log:
        f"{_TUNE_LOGS}/{{tune}}/{{variant}}/best.log",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
    localrule: True
    params:
        task=_tune_task,
    script:
        "../runners/tune.py"


# The best setting trained with one evaluation seed and reported on the test split: a normal run
# record in <results>/runs (not declared: the run id is known only after tuning).
rule tune_evaluate:
    input:
        best=f"{TUNE_RESULTS}/{{tune}}/{{variant}}/best.json",
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/evaluate/seed{{seed}}.json",
    log:
        f"{_TUNE_LOGS}/{{tune}}/{{variant}}/evaluate{{seed}}.log",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
        seed="[0-9]+",
    threads: _tune_res("threads") * _TUNE_CORES_PER_THREAD
    resources:
        mem_mb=_tune_res("mem_mb"),
        runtime=_tune_res("runtime"),
        gpu=_tune_res("gpu"),
    params:
        torch_threads=_tune_res("threads"),
    script:
        "../runners/tune.py"


# The variant's untuned self (its spec and the study's recipe as written: for ECA gamma = 2, b = 1)
# with the same evaluation seeds: the reference the tuned setting is compared with, paired by seed.
rule tune_reference:
    input:
        best=f"{TUNE_RESULTS}/{{tune}}/{{variant}}/best.json",
    output:
        f"{TUNE_RESULTS}/{{tune}}/{{variant}}/reference/seed{{seed}}.json",
    log:
        f"{_TUNE_LOGS}/{{tune}}/{{variant}}/reference{{seed}}.log",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
        variant="[A-Za-z0-9_-]+",
        seed="[0-9]+",
    threads: _tune_res("threads") * _TUNE_CORES_PER_THREAD
    resources:
        mem_mb=_tune_res("mem_mb"),
        runtime=_tune_res("runtime"),
        gpu=_tune_res("gpu"),
    params:
        torch_threads=_tune_res("threads"),
    script:
        "../runners/tune.py"


rule tune_summary:
    input:
        unpack(_tune_summary_inputs),
    output:
        f"{TUNE_RESULTS}/{{tune}}/summary.json",
    log:
        f"{_TUNE_LOGS}/{{tune}}/summary.log",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
    localrule: True
    params:
        study=lambda wildcards: _tune_canonical(TUNE_PLAN["studies"][wildcards.tune]),
    script:
        "../runners/tune.py"


rule tune_report:
    input:
        summary=f"{TUNE_RESULTS}/{{tune}}/summary.json",
    output:
        md=f"{TUNE_REPORTS}/{{tune}}.md",
        html=f"{TUNE_REPORTS}/{{tune}}.html",
    log:
        f"{_TUNE_LOGS}/{{tune}}/report.log",
    wildcard_constraints:
        tune="[A-Za-z0-9_-]+",
    localrule: True
    script:
        "../runners/tune.py"


rule tune_all:
    input:
        TUNE_TARGETS,
    localrule: True
