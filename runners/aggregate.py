"""Snakemake rule ``aggregate``: run records + measurements + plan -> results/summary.{parquet,csv}.

Tidy long form, one row per (study, run, metric): see ecabench.aggregate. Tuning studies'
evaluation runs (input ``tune``: their summary.json files) join as studies of their own. A damaged
record or measurement is skipped and set aside into results/quarantine/; every file set aside there is
named in summary_meta.json's ``skipped`` list, which the report shows.
"""
from ecabench.aggregate import aggregate
from ecabench.integrity import quarantine_dir
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
        quarantine=quarantine_dir(snakemake.config.get("results_dir", "results")),
    )
