"""Snakemake rule ``aggregate``: run records + measurements + plan -> results/summary.{parquet,csv}.

Tidy long form, one row per (study, run, metric): see ecabench.aggregate. Tuning studies'
evaluation runs (input ``tune``: their summary.json files) join as studies of their own.
"""
from ecabench.aggregate import aggregate
from ecabench.runtime import job

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    aggregate(
        list(snakemake.input.runs) + list(snakemake.input.stage2),
        list(snakemake.input.measure),
        snakemake.input.plan,
        snakemake.output.parquet,
        snakemake.output.csv,
        curves_parquet=snakemake.output.curves_parquet,
        curves_csv=snakemake.output.curves_csv,
        meta_json=snakemake.output.meta,
        tune_summaries=list(snakemake.input.get("tune", [])),
        precision=list(snakemake.input.get("precision", [])),
    )
