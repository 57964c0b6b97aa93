"""Snakemake rule ``plan``: the plan made at parse time -> ``results/plan.json`` (ecabench.plan).

The plan's JSON text is the rule's param, so the file is rewritten only when the plan changes.
"""
from ecabench.plan import write_plan
from ecabench.runtime import job

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    write_plan(snakemake.output[0], snakemake.params.plan)
    print(f"wrote {snakemake.output[0]}")
