"""Snakemake checkpoint ``precision``: a study's stage-1 run records -> the seeds each setting keeps.

Stein's two-stage rule (ecabench.analysis.two_stage); the plan's rule for the study is the param, so raising
the target or the cap re-decides without recomputing any run.
"""
import json

from ecabench.aggregate import load_records
from ecabench.analysis.two_stage import decide
from ecabench.runtime import job
from ecabench.util import atomic_write_json

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):
    rule = json.loads(snakemake.params.study_rule)
    decision = decide(rule, load_records(list(snakemake.input)))
    for s in decision["settings"]:
        print(f"{decision['study']} {s['backbone']}/{s['dataset']}: largest stage-1 paired sd {s['sd_max']:.3f} "
              f"-> {s['n_required']} seeds needed, {s['n']} kept" + (" (cap reached)" if s["cap_reached"] else ""))
    atomic_write_json(snakemake.output[0], decision)
