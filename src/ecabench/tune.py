"""Hyper-parameter tuning with Optuna: ECA's γ and b (or k, SE's r, ...) and the training recipe.

A *tuning study* (``ablations/tune_<name>.yaml``, format in docs/tuning.md) names one or more
*variants* (an attention spec plus the spec parameters to search) and a search over the training
recipe shared by every variant (learning rate, weight decay, ...). Each variant is one Optuna study
that maximises the **validation** top-1 of the final epoch (the test split is never looked at
while tuning) with a seeded TPE sampler and a median pruner fed with the per-epoch validation
accuracy. With ``evaluate`` set, every variant's best setting is then trained on the configured
seeds and reported on the test split through :func:`ecabench.experiment.run_experiment` (records
in ``results/runs`` like any run): the *fair comparison* (every variant gets the same trial budget,
the same recipe search and the same evaluation).

Exact trial budget with several workers
    Several processes (Snakemake jobs, possibly on several machines) work on one study. Optuna's
    ``MaxTrialsCallback`` checks the count *after* a trial finishes, so two workers can overshoot
    the budget by one trial each. :func:`optimize_with_budget` instead gives trials *slots*: a
    trial may run only if fewer than ``budget`` non-failed trials precede it (by trial number, which
    the storage assigns atomically); a trial that finds no slot is marked failed (user attribute
    ``ecabench_surplus``) before it trains and the worker exits. For file storages (SQLite, journal)
    a lock file around "count, then create a trial" means surplus trials never even appear. A
    worker exits as soon as finished + pruned + running trials reach the budget, so finished +
    pruned == budget once every worker is done, and re-running a worker adds nothing.
    A trial whose worker died (killed job) stays ``RUNNING``: on the same host it is failed when the
    next worker starts (its process is gone); RDB storages also get Optuna's heartbeat, and there
    the failed trial is queued again with its parameters (Optuna's retry callback) for the next worker.

Storages (workflow config ``tuning.storage``)
    ``auto`` (default): SQLite for one worker, a journal file for several; ``sqlite``, ``journal``
    (one file per tuning study and variant under ``results/tuning``), ``journal:<file>``, any
    SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user:pass@host/db``, ...) for workers on
    many machines. Checked when the workflow is parsed: unknown scheme, missing driver, a SQLite
    file in a folder that does not exist, a database server that does not answer (whose Optuna
    tables are created there and then, before workers could race to create them).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import socket
import statistics
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

__all__ = [
    "TuneError",
    "TRAIN_TUNABLE",
    "best_summary",
    "build_objective",
    "count_trials",
    "evaluate_best",
    "load_tune_study",
    "make_sampler",
    "make_pruner",
    "open_storage",
    "open_study",
    "optimize_with_budget",
    "plan_studies",
    "plan_tuning",
    "resolve_storage",
    "run_worker",
    "summarize",
]

TUNE_KEYS = ("title", "description", "budget", "backbone", "dataset", "seed", "train", "model", "search",
             "variants", "sampler", "pruner", "evaluate")
VARIANT_KEYS = ("spec", "search")
CONFIG_KEYS = ("studies", "storage", "workers")
#: TrainConfig fields a study may search over (epochs is fixed: the pruner's steps are epochs).
TRAIN_TUNABLE = ("lr", "weight_decay", "momentum", "label_smoothing", "warmup_epochs", "batch_size")
DIST_KEYS = ("type", "low", "high", "log", "step", "choices")
SAMPLER_KEYS = ("seed", "n_startup_trials", "multivariate", "constant_liar", "n_ei_candidates")
SAMPLER_DEFAULTS = {"seed": 0, "n_startup_trials": 10, "multivariate": True, "constant_liar": True,
                    "n_ei_candidates": 24}
PRUNER_KEYS = ("type", "n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")
PRUNER_DEFAULTS = {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1,
                   "n_min_trials": 1}
STORAGE_KEYWORDS = ("auto", "sqlite", "journal")
#: Optuna user attributes written on trials.
WORKER_ATTR = "ecabench_worker"
SURPLUS_ATTR = "ecabench_surplus"
#: Optuna heartbeat of RDB storages: a RUNNING trial without a beat for GRACE_S is failed.
HEARTBEAT_S = 60
GRACE_S = 300
#: A trial failed because its worker died (heartbeat lost, or its process gone) is queued again
#: (Optuna's RetryFailedTrialCallback) at most this many times.
STALE_RETRIES = 2
#: Seconds to wait for a database server when the workflow is planned (server storages).
CONNECT_TIMEOUT_S = 10
OBJECTIVE = "val_top1_pct"  # of the final epoch, on the validation split carved from the training set
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class TuneError(ValueError):
    """A tuning study or config that cannot be run; the message names the offending key."""


# ------------------------------------------------------------------------------------------ helpers
def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _fmt(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TuneError(f"{where} must be a mapping, got {_fmt(value)}")
    return dict(value)


def _check_keys(given: Mapping, allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TuneError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _number(value: Any, where: str) -> float | int:
    """A YAML number; numeric text such as ``1e-5`` (YAML 1.1 reads it as a string) is accepted."""
    if _is_num(value):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TuneError(f"{where} must be a number, got {_fmt(value)}")


def _hash(obj: Any, n: int = 12) -> str:
    return hashlib.sha256(_canon(obj).encode()).hexdigest()[:n]


# ------------------------------------------------------------------------------- search space
def parse_distribution(name: str, raw: Any, where: str) -> dict:
    """One search dimension -> ``{"type": "float"|"int"|"categorical", ...}``.

    * a list: categorical choices (``k: [3, 5, 7]``, ``odd: [true, false]``);
    * ``{low, high}`` with optional ``log`` and ``step``: integer when both bounds are integers
      (write ``1.0`` for a continuous range), else float; ``type: int|float`` forces one.
    """
    if isinstance(raw, list):
        raw = {"choices": raw}
    if not isinstance(raw, Mapping):
        raise TuneError(f"{where}: a search dimension is a list of choices or {{low, high[, log, step]}}, got "
                        f"{_fmt(raw)} (fixed values belong in the variant's spec)")
    _check_keys(raw, DIST_KEYS, where)
    if "choices" in raw:
        extra = sorted(set(raw) - {"choices", "type"})
        if extra or raw.get("type", "categorical") != "categorical":
            raise TuneError(f"{where}: give either choices or low/high, not both")
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise TuneError(f"{where}: choices must be a non-empty list, got {_fmt(choices)}")
        for c in choices:
            if c is not None and not isinstance(c, (bool, int, float, str)):
                raise TuneError(f"{where}: choice {_fmt(c)} is not a number, string, boolean or null")
        if len({_canon(c) for c in choices}) != len(choices):
            raise TuneError(f"{where}: choices list a value twice: {_fmt(choices)}")
        return {"type": "categorical", "choices": list(choices)}
    if "low" not in raw or "high" not in raw:
        raise TuneError(f"{where}: a range needs both low and high, got {_fmt(dict(raw))}")
    low = _number(raw["low"], f"{where}.low")
    high = _number(raw["high"], f"{where}.high")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise TuneError(f"{where}.log must be true or false, got {_fmt(log)}")
    step = raw.get("step")
    if step is not None:
        step = _number(step, f"{where}.step")
        if step <= 0:
            raise TuneError(f"{where}.step must be > 0, got {step}")
        if log:
            raise TuneError(f"{where}: step and log cannot be combined")
    kind = raw.get("type")
    if kind is None:
        kind = "int" if _is_int(low) and _is_int(high) and (step is None or _is_int(step)) else "float"
    if kind not in ("int", "float"):
        raise TuneError(f"{where}.type must be int, float or categorical, got {_fmt(kind)}")
    if kind == "int":
        for key, v in (("low", low), ("high", high), ("step", step)):
            if v is not None and (not _is_num(v) or float(v) != int(v)):
                raise TuneError(f"{where}.{key}={v} is not an integer (type: int)")
        low, high = int(low), int(high)
        step = int(step) if step is not None else None
    else:
        low, high = float(low), float(high)
        step = float(step) if step is not None else None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise TuneError(f"{where}: needs finite low <= high, got low={low}, high={high}")
    if log and low <= 0:
        raise TuneError(f"{where}: log=true needs low > 0, got low={low}")
    out = {"type": kind, "low": low, "high": high, "log": log}
    if step is not None:
        out["step"] = step
    return out


def _extremes(dist: dict) -> list:
    return list(dist["choices"]) if dist["type"] == "categorical" else [dist["low"], dist["high"]]


def suggest(trial, name: str, dist: dict) -> Any:
    if dist["type"] == "categorical":
        return trial.suggest_categorical(name, dist["choices"])
    if dist["type"] == "int":
        return trial.suggest_int(name, dist["low"], dist["high"], step=dist.get("step", 1), log=dist["log"])
    return trial.suggest_float(name, dist["low"], dist["high"], step=dist.get("step"), log=dist["log"])


# ------------------------------------------------------------------------------------- storage
def _mask_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url


def resolve_storage(raw: Any, *, workers: int, default_dir: str, workdir: str | os.PathLike = ".",
                    where: str = "config key 'tuning.storage'") -> dict:
    """The storage of one study as a JSON-able description; raises :class:`TuneError` on a bad one.

    Returns ``{"kind": "sqlite"|"journal"|"rdb", "url": ..., "path": ..., "shown": ...,
    "lock": <lock file or None>}`` (``url``/``path`` relative to the working directory when relative).
    """
    raw = "auto" if raw is None else raw
    if not isinstance(raw, str) or not raw.strip():
        raise TuneError(f"{where} must be auto, sqlite, journal, journal:<file> or a database URL, got {_fmt(raw)}")
    raw = raw.strip()
    workdir = Path(workdir)
    if raw == "auto":
        raw = "sqlite" if workers == 1 else "journal"
    if raw == "sqlite":
        if workers > 1:
            raise TuneError(f"{where}: sqlite with workers={workers}: SQLite does not take concurrent writers well; "
                            "use journal (local workers) or a server database URL (postgresql://...)")
        path = f"{default_dir}/study.db"
        return {"kind": "sqlite", "url": f"sqlite:///{path}", "path": path, "shown": f"sqlite:///{path}",
                "lock": f"{path}.claim.lock", "default": True, "shared": False}
    if raw == "journal":
        path = f"{default_dir}/study.journal"
        return {"kind": "journal", "url": None, "path": path, "shown": f"journal:{path}",
                "lock": f"{path}.claim.lock", "default": True, "shared": False}
    if raw.startswith("journal:"):
        path = raw[len("journal:"):]
        if path.startswith("//"):
            path = path[2:]  # journal:///abs/path
        if not path:
            raise TuneError(f"{where}: journal:<file> needs a file name, got {raw!r}")
        folder = (workdir / path).parent
        if not folder.is_dir():
            raise TuneError(f"{where}: the folder of journal file {path!r} does not exist ({folder})")
        return {"kind": "journal", "url": None, "path": path, "shown": f"journal:{path}",
                "lock": f"{path}.claim.lock", "default": False, "shared": True}
    if "://" not in raw:
        raise TuneError(f"{where}: unknown storage {raw!r}; use auto, sqlite, journal, journal:<file> or a "
                        "database URL such as sqlite:///results/tuning.db or postgresql://user:pass@host/db")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = _mask_url(raw)
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise TuneError(f"{where}: {shown!r} is not a database URL ({exc})") from None
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise TuneError(f"{where}: unknown storage URL scheme {url.drivername!r} in {shown!r}; use sqlite:///<file>, "
                        "postgresql://..., mysql://... (any SQLAlchemy URL), journal:<file>, sqlite, journal or auto") \
            from None
    if url.get_backend_name() == "sqlite":
        db = url.database
        if not db or db == ":memory:" or db.startswith("file::memory:"):
            raise TuneError(f"{where}: an in-memory SQLite database cannot be shared by workers; give a file "
                            "(sqlite:///results/tuning.db)")
        folder = (workdir / db).parent
        if not folder.is_dir():
            raise TuneError(f"{where}: the folder of SQLite database {db!r} does not exist ({folder}): create it "
                            "or point the URL elsewhere")
        if workers > 1:
            raise TuneError(f"{where}: SQLite with workers={workers}: SQLite does not take concurrent writers well; "
                            "use storage: journal (local) or a server database URL (postgresql://...)")
        return {"kind": "sqlite", "url": raw, "path": db, "shown": shown, "lock": f"{db}.claim.lock",
                "default": False, "shared": True}
    try:
        dialect.import_dbapi() if hasattr(dialect, "import_dbapi") else dialect.dbapi()
    except ImportError as exc:
        raise TuneError(f"{where}: the {url.get_backend_name()} storage {shown!r} needs a database driver that is "
                        f"not installed ({exc}); install it (e.g. pip install 'ecabench[postgres]' for "
                        "postgresql+psycopg2://...)") from None
    prepare_rdb(raw, where=where)
    return {"kind": "rdb", "url": raw, "path": None, "shown": shown, "lock": None, "default": False,
            "shared": True}


class _RetryStaleTrial:
    """Optuna's retry callback for stale trials (``RetryHeartbeatStaleTrialCallback``, formerly
    ``RetryFailedTrialCallback``): the trial is queued again (``WAITING``, same parameters, system
    attribute ``failed_trial``) for the next worker, without the dead worker's identity, so the retry
    is never taken for a trial of a dead process before its new worker stamps it."""

    def __init__(self, max_retry: int):
        import optuna

        cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
            or optuna.storages.RetryFailedTrialCallback
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry = cls(max_retry=max_retry)

    def __call__(self, study, trial) -> None:
        import copy

        trial = copy.deepcopy(trial)
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != WORKER_ATTR}
        self._retry(study, trial)


def _rdb_storage(url: str, **engine_kwargs):
    """``RDBStorage`` with Optuna's heartbeat and the retry of trials whose worker died."""
    import inspect

    import optuna

    params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    key = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs or None, heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S, **{key: _RetryStaleTrial(STALE_RETRIES)})


def _stale_trial_callback(storage):
    """The storage's callback for stale trials (see :class:`_RetryStaleTrial`), or None."""
    for name in ("get_heartbeat_stale_trial_callback", "get_failed_trial_callback"):
        getter = getattr(storage, name, None)
        if getter is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return getter()
    return None


def open_storage(storage: Mapping):
    """The Optuna storage object for a description from :func:`resolve_storage`."""
    if storage["kind"] == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(storage["path"]).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(storage["path"])))
    if storage["kind"] == "sqlite":
        Path(storage["path"]).parent.mkdir(parents=True, exist_ok=True)
        return _rdb_storage(storage["url"], connect_args={"timeout": 60})
    return _rdb_storage(storage["url"])


_PREPARED_RDB: set[str] = set()


def prepare_rdb(raw_url: str, *, where: str = "config key 'tuning.storage'") -> None:
    """Connect to a server database once and create Optuna's tables there; raises :class:`TuneError`.

    Called when the workflow is planned, so an unreachable server fails before any job with one
    message (the URL shown with its password masked), and the schema exists before parallel workers
    start: on an empty PostgreSQL database, workers creating the tables at the same time race
    (``IntegrityError`` on ``pg_type_typname_nsp_index``). Done once per process and URL.
    """
    if raw_url in _PREPARED_RDB:
        return
    import sqlalchemy
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(raw_url)
    shown = _mask_url(raw_url)

    def reason(exc: BaseException) -> str:
        text = " ".join(str(getattr(exc, "orig", None) or exc).split())
        if url.password:
            text = text.replace(str(url.password), "***")
        return text[:500]

    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() in ("postgresql", "mysql") else {}
    engine = sqlalchemy.create_engine(url, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error: one message
        raise TuneError(f"{where}: cannot connect to the tuning storage {shown}: {reason(exc)}") from None
    finally:
        engine.dispose()
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            created = optuna.storages.RDBStorage(raw_url, engine_kwargs={"connect_args": connect_args,
                                                                          "poolclass": NullPool})
        created.engine.dispose()
    except Exception as exc:  # noqa: BLE001
        raise TuneError(f"{where}: cannot set up Optuna's tables in {shown}: {reason(exc)}") from None
    _PREPARED_RDB.add(raw_url)


def real_storage(task_storage: Mapping, config: Mapping | None) -> dict:
    """The task's storage with the real URL: tasks (Snakemake params) carry the masked URL only."""
    storage = dict(task_storage)
    if storage["kind"] == "rdb" or (storage["kind"] == "sqlite" and not storage.get("default")):
        raw = ((config or {}).get("tuning") or {}).get("storage")
        if isinstance(raw, str) and _mask_url(raw) == storage["shown"]:
            storage["url"] = raw
    return storage


# ------------------------------------------------------------------------------- study files
def _dataset_entries(config: Mapping) -> list[dict]:
    out = []
    for i, entry in enumerate(config.get("datasets") or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            entry = dict(entry)
            out.append({"index": i, "name": entry.pop("name"), "train": dict(entry.pop("train", None) or {}),
                        "runtime": {k: entry.pop(k) for k in ("root", "download") if k in entry},
                        "options": entry})
    return out


def _backbone_train(config: Mapping, name: str) -> dict:
    for entry in config.get("backbones") or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return dict(entry.get("train") or {})
    return {}


def _first_backbone(config: Mapping) -> str | None:
    for entry in config.get("backbones") or []:
        return entry if isinstance(entry, str) else (entry.get("name") if isinstance(entry, Mapping) else None)
    return None


def _check_seeds(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(_is_int(s) and s >= 0 for s in value):
        raise TuneError(f"{where} must be a non-empty list of integers >= 0, got {_fmt(value)}")
    if len(set(value)) != len(value):
        raise TuneError(f"{where} lists a seed twice: {_fmt(value)}")
    return list(value)


def _sampler_options(raw: Any, where: str) -> dict:
    raw = _mapping(raw, where)
    _check_keys(raw, SAMPLER_KEYS, where)
    opts = {**SAMPLER_DEFAULTS, **raw}
    for key in ("seed", "n_startup_trials", "n_ei_candidates"):
        if not _is_int(opts[key]) or opts[key] < (1 if key == "n_ei_candidates" else 0):
            raise TuneError(f"{where}.{key} must be an integer >= {1 if key == 'n_ei_candidates' else 0}, "
                            f"got {_fmt(opts[key])}")
    for key in ("multivariate", "constant_liar"):
        if not isinstance(opts[key], bool):
            raise TuneError(f"{where}.{key} must be true or false, got {_fmt(opts[key])}")
    return opts


def _pruner_options(raw: Any, where: str) -> dict | None:
    if raw is None or raw is False or raw == "none" or (isinstance(raw, Mapping) and raw.get("type") == "none"):
        return None
    raw = _mapping(raw, where)
    _check_keys(raw, PRUNER_KEYS, where)
    opts = {**PRUNER_DEFAULTS, **raw}
    if opts["type"] != "median":
        raise TuneError(f"{where}.type must be median or none, got {_fmt(opts['type'])}")
    for key in ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"):
        low = 1 if key in ("interval_steps", "n_min_trials") else 0
        if not _is_int(opts[key]) or opts[key] < low:
            raise TuneError(f"{where}.{key} must be an integer >= {low}, got {_fmt(opts[key])}")
    return opts


def load_tune_study(ref: str, *, config: Mapping, index: int = 0, workdir: str | os.PathLike = ".",
                    basedir: str | os.PathLike | None = None, storage: Any = "auto", workers: int = 1,
                    results_dir: str = "results") -> dict:
    """Read, check and expand one tuning study file into a worker task per variant.

    Everything is checked here (keys, search dimensions against the variant's spec and the
    training recipe, backbone, dataset, storage) so a bad study fails before any job starts.
    """
    from ecabench.experiment import make_run_config
    from ecabench.models import describe
    from ecabench.specs import parse_spec
    from ecabench.workflow import resolve_study_path

    path, tried = resolve_study_path(ref, study_dir=config.get("study_dir", "ablations"), workdir=workdir,
                                     basedir=basedir)
    if path is None:
        raise TuneError(f"config key 'tuning.studies[{index}]': tuning study file for {ref!r} not found (looked for "
                        + ", ".join(str(p) for p in tried) + ")")
    name = path.stem
    where = f"tuning study {name!r} ({path})"
    if not set(name) <= _NAME_OK:
        raise TuneError(f"{where}: the file name must use letters, digits, '_' and '-' only")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TuneError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise TuneError(f"{where}: a tuning study is a mapping with budget and variants, got {_fmt(raw)}")
    _check_keys(raw, TUNE_KEYS, where)

    budget = raw.get("budget")
    if not _is_int(budget) or budget < 1:
        raise TuneError(f"{where}: budget (finished + pruned trials per variant) must be a positive integer, "
                        f"got {_fmt(budget)}")

    # -- backbone, dataset, recipe: the same resolution as the workflow's runs
    from ecabench.registry import BACKBONES

    backbone = raw.get("backbone", _first_backbone(config))
    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise TuneError(f"{where}: backbone {_fmt(backbone)} is not a known backbone; known: "
                        + ", ".join(BACKBONES.names()))
    entries = _dataset_entries(config)
    ds_raw = raw.get("dataset")
    if ds_raw is None:
        if not entries:
            raise TuneError(f"{where}: no dataset given and the config lists none")
        ds = entries[0]
    elif isinstance(ds_raw, str):
        match = [e for e in entries if e["name"] == ds_raw]
        ds = match[0] if match else {"index": None, "name": ds_raw, "train": {}, "runtime": {}, "options": {}}
    elif isinstance(ds_raw, Mapping) and isinstance(ds_raw.get("name"), str):
        d = dict(ds_raw)
        ds = {"index": None, "name": d.pop("name"), "train": dict(d.pop("train", None) or {}),
              "runtime": {k: d.pop(k) for k in ("root", "download") if k in d}, "options": d}
    else:
        raise TuneError(f"{where}: dataset must be a dataset name or a mapping with 'name', got {_fmt(ds_raw)}")
    seeds_cfg = config.get("seeds") or [0]
    seed = raw.get("seed", seeds_cfg[0] if isinstance(seeds_cfg, list) and seeds_cfg else 0)
    if not _is_int(seed) or seed < 0:
        raise TuneError(f"{where}: seed must be an integer >= 0, got {_fmt(seed)}")
    study_train = _mapping(raw.get("train"), f"{where}: train")
    recipe = {**_mapping(config.get("train"), "config key 'train'"), **ds["train"],
              **_backbone_train(config, backbone), **study_train}
    model = {**_mapping(config.get("model"), "config key 'model'"), **_mapping(raw.get("model"), f"{where}: model")}
    from ecabench.workflow import dataset_identity_options

    run_kwargs = {"backbone": backbone, "dataset": ds["name"], "dataset_options": dataset_identity_options(ds), "train": recipe,
                  "model": model, "seed": seed}
    try:
        base = make_run_config(attention="none", **run_kwargs)
    except ValueError as exc:
        raise TuneError(f"{where}: {exc}") from None
    if not base["dataset"]["val_size"]:
        raise TuneError(f"{where}: tuning needs a validation split but dataset {ds['name']!r} has val_size=0 "
                        "(the test split is never used for tuning)")
    nc = base["dataset"]["num_classes"] or 1000
    ic = base["dataset"]["in_channels"]

    # -- shared (recipe) search
    from ecabench.train import TrainConfig

    shared = {}
    for key, dist_raw in _mapping(raw.get("search"), f"{where}: search").items():
        dwhere = f"{where}: search.{key}"
        if key not in TRAIN_TUNABLE:
            raise TuneError(f"{dwhere}: unknown training parameter {key!r}; tunable: {', '.join(TRAIN_TUNABLE)} "
                            "(attention parameters go under variants.<name>.search)")
        dist = parse_distribution(key, dist_raw, dwhere)
        for value in _extremes(dist):
            try:
                TrainConfig.from_dict({**{k: v for k, v in base["train"].items()}, key: value})
            except (ValueError, TypeError) as exc:
                raise TuneError(f"{dwhere}: value {_fmt(value)} is not a valid training setting: {exc}") from None
        shared[key] = {"target": "train", **dist}

    # -- variants
    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, Mapping) or not variants_raw:
        raise TuneError(f"{where}: variants must be a non-empty mapping of label -> {{spec, search}}, "
                        f"e.g. {{eca: {{spec: eca, search: {{gamma: {{low: 1.0, high: 4.0}}}}}}}}")
    sampler = _sampler_options(raw.get("sampler"), f"{where}: sampler")
    pruner = _pruner_options(raw.get("pruner", {}), f"{where}: pruner")
    evaluate = raw.get("evaluate")
    if evaluate is None or evaluate is False:
        eval_seeds = None
    elif evaluate is True:
        eval_seeds = _check_seeds(config.get("seeds"), "config key 'seeds'")
    elif isinstance(evaluate, Mapping):
        _check_keys(evaluate, ("seeds",), f"{where}: evaluate")
        eval_seeds = (_check_seeds(evaluate["seeds"], f"{where}: evaluate.seeds") if "seeds" in evaluate
                      else _check_seeds(config.get("seeds"), "config key 'seeds'"))
    else:
        raise TuneError(f"{where}: evaluate must be true, false or {{seeds: [...]}}, got {_fmt(evaluate)}")

    variants = {}
    for label, vraw in variants_raw.items():
        vwhere = f"{where}: variants.{label}"
        if not isinstance(label, str) or not label or not set(label) <= _NAME_OK:
            raise TuneError(f"{vwhere}: a variant label uses letters, digits, '_' and '-' only")
        if isinstance(vraw, str):
            vraw = {"spec": vraw}
        vraw = _mapping(vraw, vwhere)
        _check_keys(vraw, VARIANT_KEYS, vwhere)
        try:
            spec = parse_spec(vraw.get("spec", label))
        except ValueError as exc:
            raise TuneError(f"{vwhere}.spec: {exc}") from None
        accepted = [k for k in spec.kwargs]
        search = {}
        for key, dist_raw in _mapping(vraw.get("search"), f"{vwhere}.search").items():
            dwhere = f"{vwhere}.search.{key}"
            if key not in accepted:
                hint = f" (training parameters go under the study's search: {key})" if key in TRAIN_TUNABLE else ""
                raise TuneError(f"{dwhere}: unknown parameter {key!r} for {spec.name}{hint}; "
                                f"its parameters: {', '.join(accepted) or 'none'}")
            if key in shared:
                raise TuneError(f"{dwhere}: {key!r} is also a training parameter searched by the study")
            dist = parse_distribution(key, dist_raw, dwhere)
            for value in _extremes(dist):
                try:
                    s = parse_spec({**spec.to_dict(), key: value})
                    describe(base["backbone"], s, num_classes=nc, in_channels=ic, **base["model"])
                except ValueError as exc:
                    raise TuneError(f"{dwhere}: value {_fmt(value)} gives no valid {spec.name} spec: {exc}") from None
            search[key] = {"target": "attention", **dist}
        search.update(shared)
        if not search:
            raise TuneError(f"{vwhere}: empty search space: give the variant a search (e.g. gamma: {{low: 1.0, "
                            "high: 4.0}}) or the study a recipe search (e.g. lr: {low: 0.01, high: 0.5, log: true})")
        identity = {"spec": spec.to_dict(), "search": search, "run": run_kwargs, "base_config": base,
                    "sampler": sampler, "pruner": pruner, "objective": OBJECTIVE}
        digest = _hash(identity)
        default_dir = f"{results_dir}/tuning/{name}/{label}"
        try:
            st = resolve_storage(storage, workers=workers, default_dir=default_dir, workdir=workdir)
        except TuneError as exc:
            raise TuneError(f"{exc} (tuning study {name!r})") from None
        variants[label] = {
            "tune": name, "variant": label, "title": raw.get("title") or name,
            "study_name": f"ecabench/{name}/{label}/{digest}",
            "storage": {**st, "url": _mask_url(st["url"]) if st["url"] else None},  # no password in params
            "budget": budget, "spec": spec.to_dict(), "spec_str": str(spec), "search": search,
            "run": run_kwargs, "sampler": sampler, "pruner": pruner, "evaluate_seeds": eval_seeds,
            "direction": "maximize", "objective": OBJECTIVE, "results_dir": results_dir,
        }
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise TuneError(f"{where}: {key} must be a string")
    try:
        shown = str(path.resolve().relative_to(Path(workdir).resolve()))
    except ValueError:
        shown = str(path)
    return {"name": name, "file": shown, "title": raw.get("title") or name,
            "description": (raw.get("description") or "").strip(), "budget": budget,
            "evaluate_seeds": eval_seeds, "fair": eval_seeds is not None and len(variants) > 1,
            "variants": variants}


def plan_tuning(config: Mapping, *, workdir: str | os.PathLike = ".", basedir: str | os.PathLike | None = None) -> dict:
    """Every tuning study of a workflow config (its ``tuning`` section); raises :class:`TuneError`.

    ``{"workers": n, "storage": ..., "results": "<results>/tuning", "reports": "<reports>/tuning",
    "studies": {name: study}}``; no ``tuning`` section (or no studies): no studies.
    """
    section = _mapping(config.get("tuning"), "config key 'tuning'")
    _check_keys(section, CONFIG_KEYS, "config key 'tuning'")
    workers = section.get("workers", 1)
    if not _is_int(workers) or workers < 1:
        raise TuneError(f"config key 'tuning.workers' must be a positive integer, got {_fmt(workers)}")
    refs = section.get("studies") or []
    if not isinstance(refs, list):
        raise TuneError(f"config key 'tuning.studies' must be a list of tuning study names, got {_fmt(refs)}")
    results_dir = str(config.get("results_dir", "results")).rstrip("/")
    reports_dir = str(config.get("reports_dir", "reports")).rstrip("/")
    storage = section.get("storage", "auto")
    if refs:  # check the storage once, before the studies, for one clear message
        resolve_storage(storage, workers=workers, default_dir=f"{results_dir}/tuning", workdir=workdir)
        from ecabench import registry

        dirs = []
        for folder in config.get("plugins") or []:
            for cand in (Path(workdir) / folder, Path(basedir or workdir) / folder):
                if cand.is_dir():
                    dirs.append(str(cand.resolve()))
                    break
        if dirs:
            registry.discover(dirs)
    studies = {}
    for i, ref in enumerate(refs):
        if not isinstance(ref, str):
            raise TuneError(f"config key 'tuning.studies[{i}]' must be a tuning study name or file, got {_fmt(ref)}")
        study = load_tune_study(ref, config=config, index=i, workdir=workdir, basedir=basedir, storage=storage,
                                workers=workers, results_dir=results_dir)
        if study["name"] in studies:
            raise TuneError(f"config key 'tuning.studies[{i}]': tuning study {study['name']!r} is listed twice")
        studies[study["name"]] = study
    return {"workers": workers, "storage": storage if isinstance(storage, str) else "auto",
            "results": f"{results_dir}/tuning", "reports": f"{reports_dir}/tuning", "studies": studies}


# ------------------------------------------------------------------------------ optuna objects
def make_sampler(options: Mapping, *, worker: int = 0):
    """The study's TPE sampler; worker ``w`` uses seed ``seed + w`` (identical seeds would make
    parallel workers propose identical start-up trials)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=options["seed"] + worker,
            n_startup_trials=options["n_startup_trials"],
            multivariate=options["multivariate"],
            constant_liar=options["constant_liar"],
            n_ei_candidates=options["n_ei_candidates"],
        )


def make_pruner(options: Mapping | None):
    import optuna

    if options is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=options["n_startup_trials"], n_warmup_steps=options["n_warmup_steps"],
        interval_steps=options["interval_steps"], n_min_trials=options["n_min_trials"])


def open_study(task: Mapping, *, worker: int = 0, config: Mapping | None = None, load_only: bool = False):
    """Create (or load) the variant's Optuna study in its storage."""
    import optuna

    storage = open_storage(real_storage(task["storage"], config))
    if load_only:
        return optuna.load_study(study_name=task["study_name"], storage=storage,
                                 sampler=make_sampler(task["sampler"], worker=worker),
                                 pruner=make_pruner(task["pruner"]))
    study = optuna.create_study(study_name=task["study_name"], storage=storage, direction="maximize",
                                sampler=make_sampler(task["sampler"], worker=worker),
                                pruner=make_pruner(task["pruner"]), load_if_exists=True)
    attrs = study.user_attrs
    info = {"tune": task["tune"], "variant": task["variant"], "spec": task["spec_str"], "budget": task["budget"],
            "search": task["search"], "objective": task["objective"]}
    if attrs.get("ecabench") != info:
        study.set_user_attr("ecabench", info)
    return study


# ------------------------------------------------------------------------- exact trial budget
class _ClaimLock:
    """An exclusive ``flock`` on a file (file storages), or nothing (server databases)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._fh = None

    def acquire(self) -> None:
        if self.path is None or self._fh is not None:
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a")
        fcntl.flock(fh, fcntl.LOCK_EX)
        self._fh = fh

    def release(self) -> None:
        if self._fh is None:
            return
        import fcntl

        fh, self._fh = self._fh, None
        try:
            fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()


class _NoSlot(Exception):
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
    pid = ident.get("pid")
    if not _is_int(pid):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = ident.get("start")
    return start is None or _proc_start(pid) in (None, start)


def fail_stale_trials(study) -> list[int]:
    """Fail RUNNING trials whose worker is gone: same host, process no longer alive (and, for RDB
    storages, Optuna's heartbeat). Returns the failed trial numbers."""
    import optuna
    from optuna.trial import TrialState

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
    from optuna.trial import TrialState

    counts = {"complete": 0, "pruned": 0, "running": 0, "fail": 0, "surplus": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(SURPLUS_ATTR):
            counts["surplus"] += 1
        elif t.state == TrialState.COMPLETE:
            counts["complete"] += 1
        elif t.state == TrialState.PRUNED:
            counts["pruned"] += 1
        elif t.state == TrialState.RUNNING:
            counts["running"] += 1
        elif t.state == TrialState.FAIL:
            counts["fail"] += 1
        else:
            counts["waiting"] += 1
    counts["finished"] = counts["complete"] + counts["pruned"]
    return counts


def _holds_slot(study, number: int, budget: int) -> bool:
    """Whether trial ``number`` may run: fewer than ``budget`` live trials precede it."""
    from optuna.trial import TrialState

    ahead = 0
    for t in study.get_trials(deepcopy=False):
        if t.number >= number or t.user_attrs.get(SURPLUS_ATTR):
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
            ahead += 1
    return ahead < budget


def optimize_with_budget(study, objective: Callable, budget: int, *, lock_path: str | os.PathLike | None = None,
                         worker: int = 0, callbacks: list | None = None, gc_after_trial: bool = True) -> dict:
    """Run ``study.optimize`` one trial at a time until finished + pruned trials reach ``budget``.

    Safe with any number of concurrent workers on one storage (see the module docstring): the total
    of finished and pruned trials never exceeds ``budget``, and reaches it once all workers are done
    (unless a trial raised, which stops its worker with the exception). ``lock_path``: a lock file
    for file storages (no surplus trials at all). Returns what this worker did.
    """
    if not _is_int(budget) or budget < 1:
        raise TuneError(f"budget must be a positive integer, got {budget!r}")
    lock = _ClaimLock(lock_path)
    ident = worker_identity(worker)
    ran: list[int] = []
    t0 = time.time()
    reason = ""
    while True:
        lock.acquire()
        try:
            fail_stale_trials(study)
            c = count_trials(study)
            if c["finished"] >= budget:
                reason = "budget reached"
            elif c["finished"] + c["running"] >= budget:
                reason = "the remaining trials are running in other workers"
        except BaseException:
            lock.release()
            raise
        if reason:
            lock.release()
            break
        current: dict = {}

        def wrapped(trial):
            try:
                ok = _holds_slot(study, trial.number, budget)
            finally:
                lock.release()
            if not ok:
                trial.set_user_attr(SURPLUS_ATTR, True)
                raise _NoSlot(f"trial {trial.number}: the budget of {budget} trials is taken by other workers")
            trial.set_user_attr(WORKER_ATTR, ident)
            current["number"] = trial.number
            return objective(trial)

        try:
            study.optimize(wrapped, n_trials=1, catch=(), callbacks=callbacks, gc_after_trial=gc_after_trial)
        except _NoSlot:
            reason = "the remaining trials are running in other workers"
            break
        finally:
            lock.release()
        if "number" in current:
            ran.append(current["number"])
    return {"worker": worker, "trials_run": ran, "exit_reason": reason, "counts": count_trials(study),
            "budget": budget, "seconds": time.time() - t0}


# ------------------------------------------------------------------------------ the objective
def trial_settings(task: Mapping, params: Mapping) -> tuple[dict, dict]:
    """(attention spec mapping, training recipe) for a trial's (or the best) parameters."""
    spec = dict(task["spec"])
    recipe = dict(task["run"]["train"])
    for key, dist in task["search"].items():
        if key not in params:
            continue
        if dist["target"] == "attention":
            spec[key] = params[key]
        else:
            recipe[key] = params[key]
    return spec, recipe


def run_config_for(task: Mapping, params: Mapping, seed: int | None = None) -> dict:
    """The normalised run config (``make_run_config``) of a setting: the same as the workflow's runs."""
    from ecabench.experiment import make_run_config

    spec, recipe = trial_settings(task, params)
    run = task["run"]
    return make_run_config(backbone=run["backbone"], attention=spec, dataset=run["dataset"],
                           dataset_options=run["dataset_options"], train=recipe, model=run["model"],
                           seed=run["seed"] if seed is None else seed)


def k_per_stage(config: Mapping) -> list | None:
    """The kernel size ECA resolves to on each stage of the run config's backbone (None: no k)."""
    from ecabench.models import describe, stage_values

    ds = config["dataset"]
    d = describe(config["backbone"], config["attention"], num_classes=ds["num_classes"] or 1000,
                 in_channels=ds["in_channels"], **config["model"])
    ks = stage_values(d, "k")
    return ks if any(k != [] for k in ks) else None


def build_objective(task: Mapping, bundle, *, device: str = "auto", num_threads: int | None = None,
                    reuse: bool = True) -> Callable:
    """``objective(trial)``: train the trial's setting, report validation top-1 after every epoch.

    Built from ``make_run_config`` exactly like a workflow run (a trial with the tuning seed trains
    what the evaluation run with that seed trains). No checkpoint is written; pruning raises
    ``optuna.TrialPruned`` from ``train``'s ``on_epoch_end`` callback (``train`` restores torch's
    global state on the way out). A diverged setting completes with value 0.0 (user attribute
    ``status: diverged``) so the sampler learns to avoid it. ``reuse``: a trial whose run config
    equals a completed trial's (same run id: e.g. γ, b giving the same k on every stage) takes that
    trial's curve and value instead of training again (training is deterministic; user attribute
    ``reused_from``).
    """
    import optuna

    from ecabench.models import build_model
    from ecabench.records import run_id
    from ecabench.train import TrainConfig, seed_everything, train

    from optuna.trial import TrialState

    def objective(trial) -> float:
        params = {key: suggest(trial, key, dist) for key, dist in task["search"].items()}
        config = run_config_for(task, params)
        rid = run_id(config)
        trial.set_user_attr("run_id", rid)
        ks = k_per_stage(config)
        if ks is not None:
            trial.set_user_attr("k_per_stage", ks)
        if reuse:
            for done in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                curve = done.user_attrs.get("val_top1_curve")
                if done.user_attrs.get("run_id") == rid and done.user_attrs.get("status") == "ok" and curve:
                    # the same run config (e.g. gamma/b settings giving the same k on every stage) trains
                    # to the same result: reuse it instead of training again
                    for epoch, value in enumerate(curve, start=1):
                        trial.report(value, epoch)
                    trial.set_user_attr("val_top1_curve", curve)
                    trial.set_user_attr("status", "ok")
                    trial.set_user_attr("reused_from", done.number)
                    return done.value
        cfg = TrainConfig.from_dict({**config["train"], "seed": config["seed"], "device": device,
                                     "num_threads": num_threads})
        seed_everything(config["seed"])
        model = build_model(config["backbone"], config["attention"], num_classes=bundle.num_classes,
                            in_channels=config["dataset"]["in_channels"], seed=config["seed"], **config["model"])
        curve: list[float] = []

        def on_epoch_end(record: dict) -> None:
            value = record.get("val_top1")
            if value is None:
                raise TuneError("no validation split: tuning needs one (val_size > 0)")
            curve.append(float(value))
            trial.report(float(value), record["epoch"])
            if record["epoch"] < cfg.epochs and trial.should_prune():
                trial.set_user_attr("val_top1_curve", curve)
                raise optuna.TrialPruned(f"validation top-1 {value:.2f}% after epoch {record['epoch']}")

        try:
            result = train(model, bundle, cfg, checkpoint_path=None, progress=False, on_epoch_end=on_epoch_end)
        finally:
            del model
        trial.set_user_attr("val_top1_curve", curve)
        trial.set_user_attr("train_time_s", result.train_time_s)
        trial.set_user_attr("status", result.status)
        if result.status != "ok":
            trial.set_user_attr("error", (result.error or "")[:500])
            return 0.0
        return curve[-1]

    return objective


def _load_bundle(task: Mapping, *, device: str, data_root, download: bool):
    from ecabench.data import load_dataset
    from ecabench.train import resolve_device

    base = run_config_for(task, {})
    ds = base["dataset"]
    return load_dataset(ds["name"], root=data_root, download=download, val_size=ds["val_size"],
                        subset=ds["subset"], seed=base["seed"], device=resolve_device(device),
                        image_size=ds.get("image_size"))


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a cancelled Snakemake/SLURM job) -> KeyboardInterrupt, which Optuna records as a
    failed trial instead of leaving it RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def runtime_for(run_config: Mapping, config: Mapping | None) -> dict:
    """``device``/``data_root``/``download`` for a run config from the workflow config (how a run is
    executed, not part of any id): the same lookup as the workflow's train jobs."""
    from ecabench.workflow import dataset_runtime

    config = config or {}
    out = {"device": config.get("device", "auto"), "data_root": None, "download": False}
    if config.get("datasets"):
        out.update(dataset_runtime(config, run_config))
    return out


def run_worker(task: Mapping, *, worker: int = 0, out_path: str | os.PathLike | None = None,
               config: Mapping | None = None, device: str | None = None, data_root: str | None = None,
               download: bool | None = None, num_threads: int | None = None,
               objective: Callable | None = None) -> dict:
    """One worker on a variant's study: trains trials until the study's budget is reached.

    Exits immediately (loading no data) when the budget is already reached. ``out_path``: the
    worker's done-marker and summary JSON, written atomically at the end. ``objective``: replaces
    the training objective (tests).
    """
    import optuna

    from ecabench.records import atomic_write_text

    rt = runtime_for(run_config_for(task, {}), config)
    device = device or rt["device"]
    data_root = data_root if data_root is not None else rt["data_root"]
    download = rt["download"] if download is None else download
    study = open_study(task, worker=worker, config=config)
    counts = count_trials(study)
    if objective is None and counts["finished"] + counts["running"] < task["budget"]:
        bundle = _load_bundle(task, device=device, data_root=data_root, download=download)
        objective = build_objective(task, bundle, device=device, num_threads=num_threads)
    if objective is None:  # nothing to do; optimize_with_budget only checks the counts
        def objective(trial):  # pragma: no cover - never called
            raise AssertionError("no trial should run")
    lock = task["storage"].get("lock")
    with _sigterm_as_interrupt():
        result = optimize_with_budget(study, objective, task["budget"], lock_path=lock, worker=worker)
    best = None
    with contextlib.suppress(ValueError):
        bt = study.best_trial
        best = {"number": bt.number, "value": bt.value, "params": bt.params}
    summary = {"tune": task["tune"], "variant": task["variant"], "study_name": task["study_name"],
               "storage": task["storage"]["shown"], **result, "best_so_far": best,
               "host": socket.gethostname(), "pid": os.getpid(),
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(summary, indent=2, default=str) + "\n")
    optuna.logging.get_logger("ecabench.tune").info(
        f"worker {worker} of {task['study_name']}: ran {len(result['trials_run'])} trial(s); "
        f"{result['counts']['finished']}/{task['budget']} finished ({result['exit_reason']})")
    return summary


# ------------------------------------------------------------------------- best and evaluation
def best_summary(task: Mapping, *, config: Mapping | None = None, out_path: str | os.PathLike | None = None) -> dict:
    """The variant's best trial (validation top-1), its spec, k per stage and evaluation run configs."""
    from ecabench.records import atomic_write_text, run_id
    from ecabench.specs import parse_spec

    study = open_study(task, config=config, load_only=True)
    counts = count_trials(study)
    try:
        bt = study.best_trial
    except ValueError:
        raise TuneError(f"study {task['study_name']}: no completed trial, so no best setting "
                        f"(trials: {counts})") from None
    spec, recipe = trial_settings(task, bt.params)
    config0 = run_config_for(task, bt.params)
    tuned_train = {k: v for k, v in bt.params.items() if task["search"][k]["target"] == "train"}
    seeds = task.get("evaluate_seeds") or []
    runs = []
    for seed in seeds:
        cfg = run_config_for(task, bt.params, seed=seed)
        runs.append({"seed": seed, "run_id": run_id(cfg), "config": cfg})
    out = {
        "tune": task["tune"], "variant": task["variant"], "study_name": task["study_name"],
        "storage": task["storage"]["shown"], "budget": task["budget"], "trials": counts,
        "best": {"number": bt.number, "value": bt.value, "objective": task["objective"], "params": bt.params,
                 "spec": str(parse_spec(spec)), "spec_id": parse_spec(spec).id, "attention": config0["attention"],
                 "train": tuned_train, "recipe": config0["train"], "k_per_stage": k_per_stage(config0),
                 "val_top1_curve": bt.user_attrs.get("val_top1_curve"), "run_id": run_id(config0)},
        "search": task["search"], "evaluate": runs,
    }
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(out, indent=2, default=str) + "\n")
    return out


def evaluate_best(best: Mapping, *, seed: int, results_dir: str | os.PathLike = "results",
                  out_path: str | os.PathLike | None = None, config: Mapping | None = None,
                  device: str | None = None, num_threads: int | None = None) -> dict:
    """Train the best setting with ``seed`` and report it on the test split: a normal run record
    (``<results_dir>/runs/<run_id>.json``, via ``run_experiment``); an existing ``ok`` record of the
    same config is reused. ``out_path``: a small pointer JSON (run id, status, test/val top-1)."""
    import torch

    from ecabench.experiment import run_experiment
    from ecabench.records import atomic_write_text, read_record

    entry = next((r for r in best["evaluate"] if r["seed"] == seed), None)
    if entry is None:
        raise TuneError(f"{best['tune']}/{best['variant']}: seed {seed} is not among the evaluation seeds "
                        f"{[r['seed'] for r in best['evaluate']]}")
    runs_dir = Path(results_dir) / "runs"
    path = runs_dir / f"{entry['run_id']}.json"
    record = None
    if path.exists():
        with contextlib.suppress(Exception):
            record = read_record(path)
            if record.get("status") != "ok":
                record = None
    reused = record is not None
    if record is None:
        rt = runtime_for(entry["config"], config)
        threads = torch.get_num_threads()
        if num_threads:
            torch.set_num_threads(num_threads)
        try:
            record = run_experiment(entry["config"], out_dir=runs_dir, device=device or rt["device"],
                                    data_root=rt["data_root"], download=rt["download"], progress=False)
        finally:
            torch.set_num_threads(threads)
    metrics = record.get("metrics") or {}
    out = {"tune": best["tune"], "variant": best["variant"], "seed": seed, "run_id": entry["run_id"],
           "record": str(path), "reused": reused, "status": record.get("status"), "spec": record.get("spec"),
           "test_top1_pct": metrics.get("test_top1_pct"), "val_top1_pct": metrics.get("val_top1_pct"),
           "error": record.get("error")}
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(out, indent=2, default=str) + "\n")
    return out


def summarize(study: Mapping, best_paths: Iterable[str | os.PathLike], eval_paths: Iterable[str | os.PathLike] = (),
              *, out_path: str | os.PathLike | None = None) -> dict:
    """One tuning study's summary: per variant the best setting, trial counts and the test-split
    evaluation (mean ± std over seeds)."""
    from ecabench.records import atomic_write_text

    bests = {}
    for p in best_paths:
        b = json.loads(Path(p).read_text())
        bests[b["variant"]] = b
    evals: dict[str, list] = {}
    for p in eval_paths:
        e = json.loads(Path(p).read_text())
        evals.setdefault(e["variant"], []).append(e)
    variants = {}
    for label, task in study["variants"].items():
        b = bests.get(label)
        ev = sorted(evals.get(label, []), key=lambda e: e["seed"])
        tops = [e["test_top1_pct"] for e in ev if e.get("status") == "ok" and e.get("test_top1_pct") is not None]
        variants[label] = {
            "study_name": task["study_name"], "storage": task["storage"]["shown"], "spec": task["spec_str"],
            "search": task["search"], "trials": b["trials"] if b else None, "best": b["best"] if b else None,
            "evaluation": ev,
            "test_top1_mean": statistics.fmean(tops) if tops else None,
            "test_top1_std": statistics.stdev(tops) if len(tops) > 1 else None,
            "n": len(tops),
        }
    out = {"tune": study["name"], "title": study["title"], "description": study["description"],
           "file": study["file"], "budget": study["budget"], "fair": study["fair"],
           "evaluate_seeds": study["evaluate_seeds"], "objective": OBJECTIVE, "variants": variants,
           "tasks": study["variants"]}
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(out, indent=2, default=str) + "\n")
    return out


def plan_studies(summaries: Iterable[str | os.PathLike | Mapping]) -> dict:
    """Study entries in the plan's format (``results/plan.json``: ``studies``) for the evaluation runs
    of tuning summaries, so ``ecabench.aggregate`` can put them in the normal tables and report:
    ``plan["studies"].update(plan_studies(summary_paths))``."""
    out = {}
    for s in summaries:
        if not isinstance(s, Mapping):
            s = json.loads(Path(s).read_text())
        runs = []
        baseline = None
        for label, v in s["variants"].items():
            best = v.get("best") or {}
            if (best.get("attention") or {}).get("name") == "none":
                baseline = best.get("spec")
            for e in v.get("evaluation") or []:
                runs.append({"run_id": e["run_id"], "spec": best.get("spec") or e.get("spec"),
                             "spec_id": best.get("spec_id"), "variant": (best.get("attention") or {}).get("name"),
                             "params": {k: val for k, val in (best.get("attention") or {}).items() if k != "name"},
                             "seed": e["seed"], "k_per_stage": best.get("k_per_stage"), "aliases": [],
                             "tuned_label": label, "tuned_params": best.get("params")})
        if runs:
            out[s["tune"]] = {"name": s["tune"], "title": s.get("title") or s["tune"],
                              "description": s.get("description", ""), "kind": "zoo" if s.get("fair") else "other",
                              "file": s.get("file"), "baseline": baseline, "tuned": True, "runs": runs}
    return out
