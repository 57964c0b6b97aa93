"""Snakemake rule ``paper_counts``: the suite's ImageNet params/MACs for the ECA paper's Table 3 models.

Built and counted once (ecabench.reference.counts.write_suite_counts) in a job of its own, beside the
training runs, so the report only reads them.
"""
import torch

from ecabench.reference.counts import write_suite_counts
from ecabench.runtime import job, torch_threads

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    torch.set_num_threads(torch_threads(snakemake.params.torch_threads))
    write_suite_counts(snakemake.output[0], config=dict(snakemake.config))
