"""Snakemake rule ``measure``: one architecture at one input size -> ``results/measure/<id>.json``.

Params, MACs, elementwise FLOPs and throughput (ecabench.experiment.measure_architecture). The rule
holds every core, so nothing else runs beside it. A variant that cannot be measured is written as
a failed measurement instead of stopping the sweep (ecabench.workflow.measure_safely).
"""
import json

from ecabench.workflow import measure_safely, torch_threads

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
measure_safely(
    json.loads(snakemake.params.config),
    out_path=snakemake.output[0],
    num_threads=torch_threads(snakemake.threads),
    **json.loads(snakemake.params.options),
)
