"""Study storages: opening them, checking them, and reading a sweep's study back.

The default storage is Optuna's journal file under ``results/<space>/``: several processes on
one box can share it (SQLite locks under parallel writers). ``--storage`` takes a database URL
(PostgreSQL for many machines) or a journal file path.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from sweeper.errors import SweeperError, not_writable
from sweeper.results import ResultsDir
from sweeper.storage.outage import RideOut, RidingOut
from sweeper.storage.recovery import retry_lost
from sweeper.urls import check_storage_url, hide_password


def journal_path(url: str | None, folder: Path) -> Path | None:
    """The journal file a storage setting names (the default one in the space's results
    ``folder`` when there is none), or None for a database."""
    if url is None or check_storage_url(url) == "journal":
        return Path(url) if url else ResultsDir(folder).journal
    return None


# Connections each process keeps open to a database: a worker uses one at a time (its trial
# loop, or the heartbeat beside it), and PostgreSQL allows 100 in all by default.
POOL_SIZE, POOL_OVERFLOW = 2, 2
# Optuna 4.9 renamed RDBStorage's failed_trial_callback; take whichever this one has.
STALE_CALLBACK = (
    "heartbeat_stale_trial_callback"
    if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage).parameters
    else "failed_trial_callback"
)


def with_driver(url: str) -> str:
    """``postgresql://`` names SQLAlchemy's default driver, psycopg2; the ``postgres`` extra
    installs psycopg 3. Use it when psycopg2 is absent, so the plain URL works."""
    scheme = next((s for s in ("postgresql://", "postgres://") if url.startswith(s)), None)
    if scheme is None or importlib.util.find_spec("psycopg2") is not None:
        return url
    if importlib.util.find_spec("psycopg") is None:
        return url  # neither: opening it says which driver to install
    return "postgresql+psycopg://" + url[len(scheme) :]


def shown_storage(url: str | None, folder: Path) -> str:
    """A storage as messages show it: the journal file's path, or the URL without password."""
    path = journal_path(url, folder)
    if path is not None:
        return str(path)
    return hide_password(url or "")


def open_storage(
    url: str | None,
    folder: Path,
    heartbeat: int | None = None,
    ride_out: RideOut | None = None,
) -> BaseStorage:
    """The study storage: the default journal file in the space's results ``folder``, a
    journal path, or a database URL. On a database, a RUNNING trial records a heartbeat every
    ``heartbeat`` seconds; one silent for two of them is failed (by any process of the sweep,
    as it asks for its next trial) and retried once (``recovery.retry_lost``); and every call
    rides out an outage as ``ride_out`` says (``outage``; by default, for a minute)."""
    path = journal_path(url, folder)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:  # a read-only file system, a folder not ours
            raise not_writable(path.parent, exc) from exc
    assert url is not None
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not url.startswith("sqlite"):
        engine_kwargs |= {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    with _database_errors(url), warnings.catch_warnings():
        # Optuna flags heartbeats experimental since 2.9; nothing for our users to act on.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        database = RDBStorage(
            with_driver(url),
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            **{STALE_CALLBACK: retry_lost if heartbeat else None},  # type: ignore[arg-type]
        )
    # Optuna's read cache around it, as optuna.create_study would add; then the ride-out.
    cached = optuna.storages.get_storage(database)
    return RidingOut(cached, url, ride_out or RideOut())  # type: ignore[abstract]  # see outage


def probe_storage(url: str | None) -> None:
    """Connect to a database storage and leave at once, writing nothing: an unreachable
    server fails the run in a second, before workers start. (Journal files and SQLite are
    local: opening them is the check.)"""
    if url is None or check_storage_url(url) == "journal" or url.startswith("sqlite"):
        return
    with _database_errors(url):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(with_driver(url), poolclass=NullPool)
        try:
            engine.connect().close()
        finally:
            engine.dispose()


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be opened, as one line naming it (without its password)."""
    shown = hide_password(url)
    try:
        yield
    except ImportError as exc:  # Optuna re-raises the driver's ModuleNotFoundError like this
        raise SweeperError(
            f"storage {shown} needs a database driver that is not installed; "
            "pip install 'sweeper[postgres]' for PostgreSQL, or the driver the URL names"
        ) from exc
    except Exception as exc:  # connection refused, bad credentials, unknown dialect...
        reason = (
            hide_password(str(exc).strip().splitlines()[0])
            if str(exc).strip()
            else type(exc).__name__
        )
        fix = "check the URL and server"
        if "too many clients" in reason or "remaining connection slots" in reason:
            fix = (
                "the server's max_connections is reached; stop some workers, raise it, or put "
                "PgBouncer in front (docs: many machines)"
            )
        raise SweeperError(f"cannot open storage {shown}: {reason}; {fix}") from exc


def load_existing_study(
    name: str, storage: str | None, results_dir: Path, ref: str | None = None
) -> optuna.Study:
    """The study a sweep left, for reading (report, retrain): a missing one is an error and
    is never created, so a typo in a name or path leaves no empty study behind. ``ref`` is
    the space as the user named it (a path keeps its .py), for the hint."""

    def missing(where: str) -> SweeperError:
        return SweeperError(
            f"no study {name!r} in {where}; run `python -m sweeper run {ref or name}` first, "
            "or pass the {storage} / {results_dir} it ran with"
        )

    path = journal_path(storage, results_dir)
    if path is not None:
        if not path.is_file():
            raise missing(str(path))
        shown = str(path)
    else:
        from sqlalchemy.engine import make_url

        assert storage is not None
        url = make_url(storage)
        shown = hide_password(storage)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            raise missing(shown)  # SQLAlchemy would create an empty database file
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage, results_dir))
    except KeyError:  # Optuna's "study not found"
        raise missing(shown) from None
