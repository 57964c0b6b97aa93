"""Results that heal: what a result file must hold, setting damaged ones aside, and ``ecabench verify``.

Snakemake knows only that a file exists. :mod:`.checks` says what a run record, measurement file or
precision decision must contain; :mod:`.quarantine` moves a file that fails to ``results/quarantine/``
(with its reason); :mod:`.heal` is the workflow's parse-time step, which also makes Snakemake recompute
what is missing; :mod:`.verify` reports damaged, missing and orphaned files against the plan. Light to
import: the workflow runs it at parse time.
"""
from ecabench.integrity.checks import DamagedFile, problem, read_checked
from ecabench.integrity.heal import expire, heal, needed_paths, needed_runs
from ecabench.integrity.quarantine import quarantine_dir, quarantined, set_aside, sweep, sweep_message
from ecabench.integrity.verify import Finding, verify, verify_lines

__all__ = ["DamagedFile", "Finding", "expire", "heal", "needed_paths", "needed_runs", "problem", "quarantine_dir",
           "quarantined", "read_checked", "set_aside", "sweep", "sweep_message", "verify", "verify_lines"]
