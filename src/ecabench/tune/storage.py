"""Opening a tuning study's storage from the description the planner made (ecabench.plan.storage).

Tasks travel as Snakemake params with the database password masked, so workers take the real URL
from the workflow config. Server databases get Optuna's heartbeat, so a trial whose worker died is
failed, and Optuna's retry callback queues it again with the same parameters for the next worker.
"""
from __future__ import annotations

import copy
import inspect
import warnings
from pathlib import Path
from typing import Mapping

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

from ecabench.plan.storage import mask_url
from ecabench.tune.budget import WORKER_ATTR

#: Optuna heartbeat of RDB storages: a RUNNING trial without a beat for GRACE_S is failed.
HEARTBEAT_S = 60
GRACE_S = 300
#: How often a trial whose worker died is queued again.
STALE_RETRIES = 2


class RetryStaleTrial:
    """Optuna's retry callback for stale trials, queueing the trial again without the dead worker's
    identity, so the retry is never mistaken for a trial of a dead process before its new worker
    stamps it. (``RetryHeartbeatStaleTrialCallback`` in new Optuna, ``RetryFailedTrialCallback`` before.)"""

    def __init__(self, max_retry: int):
        cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
            or optuna.storages.RetryFailedTrialCallback
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry = cls(max_retry=max_retry)

    def __call__(self, study, trial) -> None:
        trial = copy.deepcopy(trial)
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != WORKER_ATTR}
        self._retry(study, trial)


def _rdb_storage(url: str, **engine_kwargs):
    params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    key = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs or None, heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S, **{key: RetryStaleTrial(STALE_RETRIES)})


def open_storage(storage: Mapping):
    """The Optuna storage object for a description from :func:`ecabench.plan.storage.resolve_storage`."""
    if storage["kind"] == "journal":
        Path(storage["path"]).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(storage["path"])))
    if storage["kind"] == "sqlite":
        Path(storage["path"]).parent.mkdir(parents=True, exist_ok=True)
        return _rdb_storage(storage["url"], connect_args={"timeout": 60})
    return _rdb_storage(storage["url"])


def real_storage(task_storage: Mapping, config: Mapping | None) -> dict:
    """The task's storage with the real URL: tasks (Snakemake params) carry the masked URL only."""
    storage = dict(task_storage)
    if storage["kind"] == "rdb" or (storage["kind"] == "sqlite" and not storage.get("default")):
        raw = ((config or {}).get("tuning") or {}).get("storage")
        if isinstance(raw, str) and mask_url(raw) == storage["shown"]:
            storage["url"] = raw
    return storage
