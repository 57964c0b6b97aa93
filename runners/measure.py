"""Snakemake rule ``measure``: every architecture of one (backbone, input) -> ``results/measure/<id>.json``.

Params, MACs, elementwise FLOPs and throughput timed in alternating rounds
(ecabench.measure.group.measure_group). The rule holds every core, so nothing else runs beside it, and
times with as many torch threads as the machine has CPUs (at most what the rule was granted); the
file records that count. A failure is written as a failed measurement instead of stopping the sweep.
"""
import json

from ecabench.measure.group import measure_group_safely
from ecabench.runtime import job, torch_threads

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    measure_group_safely(
        json.loads(snakemake.params.config),
        out_path=snakemake.output[0],
        num_threads=torch_threads(snakemake.threads),
        **json.loads(snakemake.params.options),
    )
