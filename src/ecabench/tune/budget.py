"""An exact trial budget shared by any number of workers on one study.

Optuna's ``MaxTrialsCallback`` checks the count after a trial finishes, so two workers can overshoot
the budget by a trial each. Here trials get *slots*: a trial may run only if fewer than ``budget``
live trials precede it (by trial number, which the storage assigns atomically); one that finds no
slot is marked failed (user attribute ``ecabench_surplus``) before it trains, and its worker exits.
For file storages a lock file around "count, then create a trial" means surplus trials never even
appear. A worker exits once finished + pruned + running trials reach the budget, so finished +
pruned == budget when every worker is done, and re-running a worker adds nothing. A trial whose
worker died stays RUNNING: on the same host it is failed by the next worker (its process is gone);
server databases also get Optuna's heartbeat, and there the failed trial is queued again.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping

import optuna
from optuna.trial import TrialState

from ecabench.plan.errors import TuneError
from ecabench.util import is_int

WORKER_ATTR = "ecabench_worker"
SURPLUS_ATTR = "ecabench_surplus"


class ClaimLock:
    """An exclusive ``flock`` on a file (file storages), or nothing (server databases)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._fh = None

    def acquire(self) -> None:
        if self.path is None or self._fh is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a")
        fcntl.flock(fh, fcntl.LOCK_EX)
        self._fh = fh

    def release(self) -> None:
        if self._fh is None:
            return
        fh, self._fh = self._fh, None
        try:
            fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()


class NoSlot(Exception):
    """A trial created after the budget was taken (it is failed before it trains)."""


def _proc_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_identity(worker: int = 0) -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _proc_start(os.getpid()), "worker": worker}


def _alive(ident: Mapping) -> bool:
    """Whether the process behind ``ident`` still runs (the same pid with the same start time)."""
    pid = ident.get("pid")
    if not is_int(pid):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = ident.get("start")
    return start is None or _proc_start(pid) in (None, start)


def _stale_trial_callback(storage):
    """The storage's callback for stale trials (a retry, see ecabench.tune.storage), or None."""
    for name in ("get_heartbeat_stale_trial_callback", "get_failed_trial_callback"):
        getter = getattr(storage, name, None)
        if getter is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return getter()
    return None


def fail_stale_trials(study) -> list[int]:
    """Fail RUNNING trials whose worker is gone: same host, process no longer alive (and, for RDB
    storages, Optuna's heartbeat). Returns the failed trial numbers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    storage = study._storage
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        ident = t.user_attrs.get(WORKER_ATTR)
        if isinstance(ident, Mapping) and ident.get("host") == host and ident.get("pid") != os.getpid() \
                and not _alive(ident):
            try:  # atomic in the storage: of two workers failing the same trial, one wins
                changed = storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                changed = False
            if changed:
                failed.append(t.number)
                retry = _stale_trial_callback(storage)  # as Optuna does for a lost heartbeat
                if retry is not None:
                    retry(study, storage.get_trial(t._trial_id))
    if failed:
        optuna.logging.get_logger("ecabench.tune").warning(
            f"failed trial(s) {failed}: their worker process is gone (killed job)")
    return failed


def count_trials(study) -> dict[str, int]:
    """Trials by state; ``surplus``: failed because the budget was already taken (not real failures)."""
    names = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.RUNNING: "running",
             TrialState.FAIL: "fail"}
    counts = {"complete": 0, "pruned": 0, "running": 0, "fail": 0, "surplus": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        counts["surplus" if t.user_attrs.get(SURPLUS_ATTR) else names.get(t.state, "waiting")] += 1
    counts["finished"] = counts["complete"] + counts["pruned"]
    return counts


def holds_slot(study, number: int, budget: int) -> bool:
    """Whether trial ``number`` may run: fewer than ``budget`` live trials precede it."""
    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    ahead = sum(1 for t in study.get_trials(deepcopy=False)
                if t.number < number and not t.user_attrs.get(SURPLUS_ATTR) and t.state in live)
    return ahead < budget


def _stop_reason(study, budget: int, lock: ClaimLock) -> str:
    """Why this worker should stop now ("" to go on); the lock is held on return when it goes on."""
    lock.acquire()
    try:
        fail_stale_trials(study)
        c = count_trials(study)
    except BaseException:
        lock.release()
        raise
    if c["finished"] >= budget:
        reason = "budget reached"
    elif c["finished"] + c["running"] >= budget:
        reason = "the remaining trials are running in other workers"
    else:
        return ""
    lock.release()
    return reason


def _slotted(objective: Callable, study, budget: int, lock: ClaimLock, ident: dict, current: dict) -> Callable:
    """``objective`` that first checks its trial's slot (and releases the claim lock)."""

    def wrapped(trial):
        try:
            ok = holds_slot(study, trial.number, budget)
        finally:
            lock.release()
        if not ok:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise NoSlot(f"trial {trial.number}: the budget of {budget} trials is taken by other workers")
        trial.set_user_attr(WORKER_ATTR, ident)
        current["number"] = trial.number
        return objective(trial)

    return wrapped


def optimize_with_budget(study, objective: Callable, budget: int, *, lock_path: str | os.PathLike | None = None,
                         worker: int = 0, callbacks: list | None = None, gc_after_trial: bool = True) -> dict:
    """Run ``study.optimize`` one trial at a time until finished + pruned trials reach ``budget``
    (module docstring). ``lock_path``: a lock file for file storages. Returns what this worker did."""
    if not is_int(budget) or budget < 1:
        raise TuneError(f"budget must be a positive integer, got {budget!r}")
    lock, ident = ClaimLock(lock_path), worker_identity(worker)
    ran: list[int] = []
    t0 = time.time()
    while not (reason := _stop_reason(study, budget, lock)):
        current: dict = {}
        try:
            study.optimize(_slotted(objective, study, budget, lock, ident, current), n_trials=1, catch=(),
                           callbacks=callbacks, gc_after_trial=gc_after_trial)
        except NoSlot:
            reason = "the remaining trials are running in other workers"
            break
        finally:
            lock.release()
        if "number" in current:
            ran.append(current["number"])
    return {"worker": worker, "trials_run": ran, "exit_reason": reason, "counts": count_trials(study),
            "budget": budget, "seconds": time.time() - t0}
