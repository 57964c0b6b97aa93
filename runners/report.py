"""Snakemake rule ``report``: summary tables + plan -> reports/index.html and reports/index.md.

Tables, figures and the paper comparison (the suite's counts from the ``paper_counts`` job): see
ecabench.report.build_report. Options come from the config's ``report`` section (reference_csv,
paper_comparison, metric, title).
"""
from pathlib import Path

from ecabench.report import build_report
from ecabench.runtime import job

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    build_report(
        snakemake.input.summary,
        snakemake.input.plan,
        out_dir=str(Path(snakemake.output.html).parent),
        config=dict(snakemake.config),
        curves_path=snakemake.input.curves,
        meta_path=snakemake.input.meta,
        paper_counts=snakemake.input.paper_counts[0] if snakemake.input.paper_counts else None,
        **(snakemake.config.get("report") or {}),
    )
