"""Where a tuning study's trials live: the config's ``tuning.storage`` resolved to a description.

``auto`` is SQLite for one worker and a journal file for several (SQLite does not take concurrent
writers well); any SQLAlchemy URL (PostgreSQL for workers on many machines) is accepted when its
driver is installed and its server answers (its Optuna tables are created then, before parallel
workers could race to create them). The description is JSON (it travels in Snakemake params) and shows the URL
with its password masked; workers look the real URL up in the config.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ecabench.plan.errors import TuneError
from ecabench.schemas import show

STORAGE_KEYWORDS = ("auto", "sqlite", "journal")
#: Seconds to wait for a database server when the workflow is planned.
CONNECT_TIMEOUT_S = 10
_PREPARED_RDB: set[str] = set()


def mask_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url  # sqlalchemy: only a database URL needs it (optional storage)

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url


def _too_many_writers(where: str, workers: int, what: str = "sqlite") -> TuneError:
    return TuneError(f"{where}: {what} with workers={workers}: SQLite does not take concurrent writers well; "
                     "use storage: journal (local workers) or a server database URL (postgresql://...)")


def _local(kind: str, path: str, *, url: str | None = None, shown: str | None = None, default: bool) -> dict:
    return {"kind": kind, "url": url, "path": path, "shown": shown or f"{kind}:{path}",
            "lock": f"{path}.claim.lock", "default": default, "shared": not default}


def _journal_file(raw: str, where: str, workdir: Path) -> dict:
    path = raw[len("journal:"):]
    path = path[2:] if path.startswith("//") else path  # journal:///abs/path
    if not path:
        raise TuneError(f"{where}: journal:<file> needs a file name, got {raw!r}")
    folder = (workdir / path).parent
    if not folder.is_dir():
        raise TuneError(f"{where}: the folder of journal file {path!r} does not exist ({folder})")
    return _local("journal", path, default=False)


def _sqlite_url(raw: str, url, shown: str, where: str, workers: int, workdir: Path) -> dict:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file::memory:"):
        raise TuneError(f"{where}: an in-memory SQLite database cannot be shared by workers; give a file "
                        "(sqlite:///results/tuning.db)")
    folder = (workdir / db).parent
    if not folder.is_dir():
        raise TuneError(f"{where}: the folder of SQLite database {db!r} does not exist ({folder}): create it "
                        "or point the URL elsewhere")
    if workers > 1:
        raise _too_many_writers(where, workers, "SQLite")
    return _local("sqlite", db, url=raw, shown=shown, default=False)


def _database_url(raw: str, where: str, workers: int, workdir: Path) -> dict:
    # sqlalchemy: only a database URL needs it (optional storage)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError  # as above

    shown = mask_url(raw)
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
        return _sqlite_url(raw, url, shown, where, workers, workdir)
    try:
        dialect.import_dbapi() if hasattr(dialect, "import_dbapi") else dialect.dbapi()
    except ImportError as exc:
        raise TuneError(f"{where}: the {url.get_backend_name()} storage {shown!r} needs a database driver that is "
                        f"not installed ({exc}); install it (e.g. pip install 'ecabench[postgres]')") from None
    prepare_rdb(raw, where=where)
    return {"kind": "rdb", "url": raw, "path": None, "shown": shown, "lock": None, "default": False, "shared": True}


def _driver_error(exc: BaseException, password: str | None) -> str:
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return (text.replace(password, "***") if password else text)[:500]


def prepare_rdb(raw_url: str, *, where: str = "config key 'tuning.storage'") -> None:
    """Connect to a server database once per process and create Optuna's tables there.

    An unreachable server then fails before any job, with one message (password masked); and the
    schema exists before workers start: on an empty PostgreSQL, workers creating the tables at once
    race (``IntegrityError`` on ``pg_type_typname_nsp_index``).
    """
    if raw_url in _PREPARED_RDB:
        return
    # optuna and sqlalchemy (~1 s together): only a database storage is prepared here
    import optuna  # as above
    import sqlalchemy  # as above
    from sqlalchemy.engine import make_url  # as above
    from sqlalchemy.pool import NullPool  # as above

    url, shown = make_url(raw_url), mask_url(raw_url)
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() in ("postgresql", "mysql") else {}
    engine = sqlalchemy.create_engine(url, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error: one message
        raise TuneError(f"{where}: cannot connect to the tuning storage {shown}: "
                        f"{_driver_error(exc, url.password)}") from None
    finally:
        engine.dispose()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            created = optuna.storages.RDBStorage(raw_url, engine_kwargs={"connect_args": connect_args,
                                                                          "poolclass": NullPool})
        created.engine.dispose()
    except Exception as exc:  # noqa: BLE001
        raise TuneError(f"{where}: cannot set up Optuna's tables in {shown}: "
                        f"{_driver_error(exc, url.password)}") from None
    _PREPARED_RDB.add(raw_url)


def resolve_storage(raw: Any, *, workers: int, default_dir: str, workdir: str | os.PathLike = ".",
                    where: str = "config key 'tuning.storage'") -> dict:
    """The storage of one study as a JSON-able description; raises :class:`TuneError` on a bad one.

    ``{"kind": "sqlite"|"journal"|"rdb", "url", "path", "shown", "lock": <lock file or None>, "default",
    "shared"}`` (``url``/``path`` relative to the working directory when relative).
    """
    raw = "auto" if raw is None else raw
    if not isinstance(raw, str) or not raw.strip():
        raise TuneError(f"{where} must be auto, sqlite, journal, journal:<file> or a database URL, got {show(raw)}")
    raw = raw.strip()
    if raw == "auto":
        raw = "sqlite" if workers == 1 else "journal"
    if raw == "sqlite":
        if workers > 1:
            raise _too_many_writers(where, workers)
        path = f"{default_dir}/study.db"
        return _local("sqlite", path, url=f"sqlite:///{path}", shown=f"sqlite:///{path}", default=True)
    if raw == "journal":
        return _local("journal", f"{default_dir}/study.journal", default=True)
    if raw.startswith("journal:"):
        return _journal_file(raw, where, Path(workdir))
    if "://" not in raw:
        raise TuneError(f"{where}: unknown storage {raw!r}; use auto, sqlite, journal, journal:<file> or a "
                        "database URL such as sqlite:///results/tuning.db or postgresql://user:pass@host/db")
    return _database_url(raw, where, workers, Path(workdir))
