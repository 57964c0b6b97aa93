"""The analysis layer: every statistic the report shows, as tidy tables (report/ only formats them).

Data flow: tidy table (:mod:`ecabench.aggregate`) -> analysis -> report. Nothing here imports the report.

* :mod:`~ecabench.analysis.paired`        - summaries over seeds, paired differences (t, or Stein's for a
  two-stage design), power and minimum detectable effects, Holm, Pareto fronts;
* :mod:`~ecabench.analysis.variant_table` - one study's per-variant table per setting (accuracy, paired Δ,
  power, costs, the two-stage precision columns);
* :mod:`~ecabench.analysis.two_stage`     - Stein's two-stage seed rule: stage-1 records -> seeds per setting;
* :mod:`~ecabench.analysis.pooling`       - the average over the settings run and what to expect on a new one;
* :mod:`~ecabench.analysis.across`        - the verdict across settings, every pair of variants, in words;
* :mod:`~ecabench.analysis.wins`          - win / tie / loss counts with Clopper-Pearson intervals;
* :mod:`~ecabench.analysis.ranks`, :mod:`~ecabench.analysis.bayes`, :mod:`~ecabench.analysis.omnibus` -
  Friedman / Wilcoxon / Nemenyi ranks, the Bayesian signed-rank test, "does the factor matter at all?".

Every interval printed as 95% is checked by ``benchmarks/calibration.py`` (docs/calibration.md).
"""
