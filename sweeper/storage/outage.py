"""Riding out a database outage: a restart or a failover should not end a sweep.

Every call a sweep makes on a database storage goes through ``RidingOut``: when the server
cannot be reached (a refused or broken connection), the call is tried again with backoff for
up to a window (``SweepConfig.storage_retry``, a minute by default), saying so once through
``notify`` (the live view, sweep.log) and again when the database is back. Past the window,
the call raises ``StorageUnavailable``: one line naming the database, its password hidden;
the running trials are failed as lost when the same command runs again (``recovery``), and
it resumes the sweep. After that, calls fail at once instead of waiting again.

A minute stays inside the heartbeat grace (two heartbeats, 120 s by default), so a trial that
kept training through the outage is not taken for dead once the database is back. Optuna's
RDBStorage retries nothing itself: a failed commit surfaces as "invalid data in the commit".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat

from sweeper.errors import SweeperError
from sweeper.urls import hide_password

log = logging.getLogger("sweeper")

FIRST_WAIT_S, LONGEST_WAIT_S = 0.5, 8.0  # the backoff between tries


class StorageUnavailable(SweeperError):
    """The database stayed out of reach for longer than the sweep rides out."""


def _ignore(message: str | None) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(frozen=True)
class RideOut:
    """How long a database outage is ridden out (seconds; 0: not at all), whom to tell
    (``notify(message)``, then ``notify(None)`` once it is back), and what cuts the wait
    short (a stop request)."""

    seconds: float = 60.0
    notify: Callable[[str | None], None] = field(default=_ignore, compare=False)
    stop_requested: Callable[[], bool] = field(default=_never, compare=False)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the server could not be reached, as opposed
    to a query it refused: SQLAlchemy's OperationalError and InterfaceError, or a connection
    it found invalidated."""
    from sqlalchemy import exc as sa

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.OperationalError | sa.InterfaceError):
            return True
        if isinstance(seen, sa.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    seen: BaseException = exc
    while seen.__cause__ is not None:  # the driver's words, not Optuna's "invalid data"
        seen = seen.__cause__
    lines = str(getattr(seen, "orig", None) or seen).strip().splitlines()
    return hide_password(lines[0]) if lines else type(seen).__name__


def give_up(study: Any) -> None:
    """Stop waiting on ``study``'s database: another process of the sweep has waited out the
    window already. (A no-op on storages that do not ride out outages.)"""
    storage = getattr(study, "_storage", None)
    if isinstance(storage, RidingOut):
        storage.down = True


class RidingOut(BaseStorage, BaseHeartbeat):
    """An Optuna storage (Optuna's cached RDBStorage) whose calls ride out an outage."""

    def __init__(self, inner: Any, url: str, ride_out: RideOut) -> None:
        self._inner, self._shown, self.ride_out = inner, hide_password(url), ride_out
        self.down = False  # gave up once (here or elsewhere): later calls try once, no wait

    @property
    def _backend(self) -> Any:
        """The RDBStorage underneath (its engine: the study's PostgreSQL lock takes it)."""
        return getattr(self._inner, "_backend", self._inner)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._inner, name)
        deadline = time.monotonic() + (0.0 if self.down else self.ride_out.seconds)
        wait, told = FIRST_WAIT_S, False
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                if time.monotonic() + wait > deadline or self.ride_out.stop_requested():
                    self.down = True
                    if self.ride_out.stop_requested():
                        raise KeyboardInterrupt from exc
                    raise self._unavailable(exc) from exc
                if not told:
                    told = True
                    message = (
                        f"database {self._shown} unreachable ({_reason(exc)}); retrying for up "
                        f"to {self.ride_out.seconds:.0f} s"
                    )
                    log.warning(message)
                    self.ride_out.notify(message)
                time.sleep(wait)
                wait = min(2 * wait, LONGEST_WAIT_S)
                continue
            if told or self.down:
                log.info("database %s is back", self._shown)
                self.ride_out.notify(None)
                self.down = False
            return result

    def _unavailable(self, exc: BaseException) -> StorageUnavailable:
        waited = f"for {self.ride_out.seconds:.0f} s " if self.ride_out.seconds else ""
        return StorageUnavailable(
            f"lost the database {self._shown} {waited}({_reason(exc)}); once it is back, "
            "run the same command again: it fails the trials left running as lost, retries "
            f"them, and resumes the sweep (ride out longer outages with {{storage_retry}})"
        )

    # Heartbeats go straight through: the beat after a missed one is the retry, and the
    # heartbeat thread must not wait (nor tell the live view from its thread).
    def record_heartbeat(self, trial_id: int) -> None:
        self._inner.record_heartbeat(trial_id)

    def get_heartbeat_interval(self) -> int | None:
        return self._inner.get_heartbeat_interval()

    def get_heartbeat_stale_trial_callback(self) -> Any:
        return self._inner.get_heartbeat_stale_trial_callback()

    def get_failed_trial_callback(self) -> Any:
        return self._inner.get_failed_trial_callback()

    def remove_session(self) -> None:
        self._inner.remove_session()


def _riding_out(name: str) -> Callable[..., Any]:
    def method(self: RidingOut, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


# Every other storage call, read or write, rides out an outage. (Set here rather than
# written out one by one: each is the same call through _call.)
_CALLS = {name for name in dir(BaseStorage) if not name.startswith("_")}
for _name in sorted(_CALLS | {"_get_stale_trial_ids"}):
    if _name not in RidingOut.__dict__:
        setattr(RidingOut, _name, _riding_out(_name))
RidingOut.__abstractmethods__ = frozenset()
