"""Snakemake rules of rules/tune.smk (``tune_worker``, ``tune_best``, ``tune_evaluate``, ``tune_reference``,
``tune_summary``, ``tune_report``): each one call into ecabench.tune (jobs, report).

The task param carries the storage with its password masked; the real URL is taken from the
workflow config (``tuning.storage``). Device and data location come from the config too (how a
job runs, not what it computes).
"""
import json

from ecabench import tune
from ecabench.runtime import job, torch_threads

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    config = dict(snakemake.config)
    rule = snakemake.rule

    if rule == "tune_worker":
        tune.run_worker(json.loads(snakemake.params.task), worker=int(snakemake.wildcards.worker),
                        out_path=snakemake.output[0], config=config,
                        num_threads=torch_threads(snakemake.params.torch_threads))
    elif rule == "tune_best":
        tune.best_summary(json.loads(snakemake.params.task), config=config, out_path=snakemake.output[0])
    elif rule in ("tune_evaluate", "tune_reference"):
        with open(snakemake.input.best) as fh:
            best = json.load(fh)
        tune.evaluate_best(best, seed=int(snakemake.wildcards.seed), results_dir=config["results_dir"],
                           out_path=snakemake.output[0], config=config, untuned=rule == "tune_reference",
                           num_threads=torch_threads(snakemake.params.torch_threads))
    elif rule == "tune_summary":
        tune.summarize(json.loads(snakemake.params.study), list(snakemake.input.best),
                       list(getattr(snakemake.input, "evaluate", None) or []),
                       list(getattr(snakemake.input, "reference", None) or []), out_path=snakemake.output[0])
    elif rule == "tune_report":
        from ecabench.tune.report import build_tuning_report

        build_tuning_report(snakemake.input.summary, out_md=snakemake.output.md, out_html=snakemake.output.html,
                            config=config)
    else:  # pragma: no cover
        raise RuntimeError(f"runners/tune.py does not handle rule {rule!r}")
