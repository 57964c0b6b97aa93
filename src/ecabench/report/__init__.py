"""The report: one section per study, tables (CSV/Markdown/LaTeX/HTML), figures (PNG/SVG), paper comparison.

``build_report(summary_path, plan_path, out_dir)`` reads the tidy table written by
:func:`ecabench.aggregate.aggregate` (plus its ``_curves`` and ``_meta`` siblings) and the plan, and writes::

    <out_dir>/index.html                 self-contained (figures embedded as base64 PNG), opens from disk
    <out_dir>/index.md                   the same content in Markdown, figures linked
    <out_dir>/tables/<study>__variants.{csv,md,tex,html}      per-variant statistics (CSV: raw numbers)
    <out_dir>/tables/<study>__incomplete.{csv,md,tex,html}    runs that are not ok (possibly empty)
    <out_dir>/tables/<study>__odd_even.{csv,md,tex,html}      odd-rule studies only
    <out_dir>/tables/<study>__{across_settings,pairwise,omnibus}.{csv,md,tex,html}   the verdict across settings
    <out_dir>/tables/paper_comparison.{csv,md,tex,html}       when the paper's Table 3 is found
    <out_dir>/figures/<study>__<kind>.{png,svg}                see ecabench.report.figures
    <out_dir>/figures/<study>__{forest,cd_diagram}.{png,svg}  see ecabench.report.verdict_figures
    <out_dir>/paper_suite_counts.json                         the suite's ImageNet counts, when counted here

The data flows one way: the report reads tables and job outputs (the summary, the plan, the
``paper_counts`` job's JSON) and never builds a model or opens a tuning study; every statistic it
shows comes from the analysis layer (:mod:`ecabench.analysis`), which it asks once per study and
whose tables it only formats. Modules:

* :mod:`~ecabench.report.layout`      file names, known from the plan alone (light, for Snakefile parse time);
* :mod:`~ecabench.report.verdicts`    the verdict across settings, formatted (tables, sentences) and its figures;
* :mod:`~ecabench.report.formatting`  the same tables as strings for people;
* :mod:`~ecabench.report.writers`     Markdown / LaTeX / HTML table files (pandas' writers);
* :mod:`~ecabench.report.prose`       the sentences beside the tables;
* :mod:`~ecabench.report.figures`     the figures;
* :mod:`~ecabench.report.paper`       the paper's Table 3 beside the suite's counts;
* :mod:`~ecabench.report.sections`    one function per section, plain data for the templates;
* :mod:`~ecabench.report.render`      the Jinja2 templates (``templates/``) to HTML and Markdown;
* :mod:`~ecabench.report.build`       ``build_report``: inputs, sections, pages.

For ``snakemake --report``: :func:`figure_paths` lists every figure file for a plan (known at parse
time; placeholders are written for figures without data), or mark the whole folder with
``report(directory("reports/figures"), patterns=["{name}.png"], category="Figures")``.

Importing this package is light (no pandas/matplotlib); ``build_report`` loads the heavy parts.
"""
from __future__ import annotations

from ecabench.plan.reader import load_plan
from ecabench.report.layout import figure_kinds, figure_paths, report_paths, table_paths

__all__ = ["build_report", "figure_paths", "figure_kinds", "table_paths", "report_paths", "load_plan"]


def __getattr__(name: str):
    """``build_report`` is loaded on first use (it needs pandas, matplotlib and seaborn)."""
    if name == "build_report":
        from ecabench.report.build import build_report  # lazy export (PEP 562): the report builder is heavy

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
