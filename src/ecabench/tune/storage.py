"""Opening a tuning study's storage from the description the planner made (ecabench.plan.storage).

Tasks travel as Snakemake params with the database password masked, so workers take the real URL
from the workflow config. Server databases get Optuna's heartbeat, so a trial whose worker died is
failed and retried.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ecabench.plan.storage import mask_url

HEARTBEAT_S = 60
GRACE_S = 300


def open_storage(storage: Mapping):
    """The Optuna storage object for a description from :func:`ecabench.plan.storage.resolve_storage`."""
    import optuna

    if storage["kind"] == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(storage["path"]).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(storage["path"])))
    if storage["kind"] == "sqlite":
        Path(storage["path"]).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(storage["url"], engine_kwargs={"connect_args": {"timeout": 60}},
                                          heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    return optuna.storages.RDBStorage(storage["url"], heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)


def real_storage(task_storage: Mapping, config: Mapping | None) -> dict:
    """The task's storage with the real URL: tasks (Snakemake params) carry the masked URL only."""
    storage = dict(task_storage)
    if storage["kind"] == "rdb" or (storage["kind"] == "sqlite" and not storage.get("default")):
        raw = ((config or {}).get("tuning") or {}).get("storage")
        if isinstance(raw, str) and mask_url(raw) == storage["shown"]:
            storage["url"] = raw
    return storage
