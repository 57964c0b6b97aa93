"""Snakemake checkpoint ``precision``: a study's stage-1 run records -> the seeds each setting keeps.

Stein's two-stage rule (ecabench.analysis.two_stage); the plan's rule for the study is the param, so raising
the target or the cap re-decides without recomputing any run. It decides only on a complete stage 1: a
record that fails its checks is set aside into results/quarantine/ (the next `snakemake` trains it again)
and the job stops with one line naming the runs, on the console and in its log.
"""
import json
import sys

from ecabench.aggregate import load_records
from ecabench.analysis.two_stage import IncompleteStageError, decide
from ecabench.integrity import quarantine_dir
from ecabench.runtime import job
from ecabench.util import atomic_write_json

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
rule = json.loads(snakemake.params.study_rule)
try:
    with job(snakemake):
        quarantine = quarantine_dir(snakemake.config.get("results_dir", "results"))
        records = load_records(list(snakemake.input), quarantine=quarantine)
        try:
            decision = decide(rule, records)
        except IncompleteStageError as exc:
            print(f"precision checkpoint: {exc}", file=sys.stderr)  # into the log
            raise
        for s in decision["settings"]:
            print(f"{decision['study']} {s['backbone']}/{s['dataset']}: largest stage-1 paired sd {s['sd_max']:.3f} "
                  f"-> {s['n_required']} seeds needed, {s['n']} kept" + (" (cap reached)" if s["cap_reached"] else ""))
        atomic_write_json(snakemake.output[0], decision)
except IncompleteStageError as exc:  # one line on the console, no traceback
    sys.exit(f"precision checkpoint: {exc}. Run snakemake again: it trains the runs set aside or missing "
             "(results/quarantine/ says why), then decides.")
