"""Snakemake rule ``train``: one run -> ``results/runs/<run_id>.json`` (ecabench.experiment.run_experiment).

The run's normalised config is the rule's param; device and data location come from the workflow
config (they are how a run is executed, not part of its id). A run that fails or diverges still
writes its record (status ``failed``/``diverged``), so the sweep and the report complete.
"""
import json
from pathlib import Path

import torch

from ecabench.experiment import run_experiment
from ecabench.runtime import dataset_runtime, job, torch_threads

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
with job(snakemake):  # logs to the rule's log file, loads the config's plugins
    run_config = json.loads(snakemake.params.config)
    torch.set_num_threads(torch_threads(snakemake.params.torch_threads))
    run_experiment(
        run_config,
        out_dir=Path(snakemake.output.record).parent,
        device=snakemake.config.get("device", "auto"),
        progress=False,
        **dataset_runtime(snakemake.config, run_config),
    )
