"""What a database storage needs of an ask/tell loop that ``study.optimize`` does by itself:
a running trial's heartbeat, the failing of trials whose heartbeat stopped, and (on
PostgreSQL) a lock that lets one process at a time take a place in the budget.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from sweeper.storage.record import FAIL_REASON, NO_HEARTBEAT

log = logging.getLogger("sweeper")


def fail_stale_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Fail the trials whose heartbeat stopped (database storages with one), each with its
    reason, and queue their retries; returns them. What ``study.optimize`` does before each
    trial, which an ask/tell loop must do itself. Optuna's own (``optuna.storages.
    fail_stale_trials``) records no reason, and a finished trial takes no attribute after,
    so this one sets the reason while the trial still runs. A no-op on other storages."""
    storage: Any = study._storage
    if heartbeat_interval(study) is None:
        return []
    failed = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        try:
            storage.set_trial_user_attr(trial_id, FAIL_REASON, NO_HEARTBEAT)
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(storage.get_trial(trial_id))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process failed it first
    callback = storage.get_heartbeat_stale_trial_callback()
    for trial in failed if callback is not None else []:
        callback(study, copy.deepcopy(trial))
    return failed


@contextlib.contextmanager
def study_lock(study: optuna.Study) -> Iterator[None]:
    """The study's PostgreSQL advisory lock, held for one transaction (on other storages,
    nothing): while one process reads the budget and asks for a trial, no other does, so
    machines that share a study never overshoot its budget."""
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna caches RDBStorage
    engine = getattr(storage, "engine", None)
    if not isinstance(storage, RDBStorage) or engine is None or engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    key = zlib.crc32(f"sweeper:{study.study_name}".encode())  # one lock per study
    with engine.begin() as connection:  # the lock ends with the transaction
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield


def heartbeat_interval(study: optuna.Study) -> int | None:
    """Seconds between a running trial's heartbeats, or None: the storage keeps none."""
    storage: Any = study._storage  # the study's storage object: Optuna exposes no other way
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    return int(interval) if interval else None


class Heartbeat:
    """Records the trial's heartbeat every interval while it trains, from a thread, as
    ``study.optimize`` does and an ask/tell loop does not (on storages with heartbeats)."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        storage: Any = study._storage
        self._interval = heartbeat_interval(study)
        self._beat: Callable[[], None] | None = None
        if self._interval is not None:
            self._beat = lambda: storage.record_heartbeat(trial._trial_id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._beat is not None:
            self._beat()  # at once: the trial counts as alive from its first second
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self._beat is not None and self._interval is not None
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - a lost connection: the next beat retries
                log.warning("could not record the heartbeat", exc_info=True)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
