"""The one trial loop: ask, train, tell, for as long as a gate lets another trial start.

Every place that trains trials runs ``run_trials``: a sweep in this process, each supervised
worker, and workers that join a study from elsewhere. They differ only in their gate: the
study's own count against the budget (``BudgetGate``), or the supervisor's answer, which keeps
the budget exact across workers (``worker.SupervisorGate``).

Signals never land at an arbitrary point: SIGINT and SIGTERM set a ``StopFlag``, read by a
Keras callback between batches (``objective.StopOnRequest``: the running trial ends as
"interrupted") and by the loop between trials, so a study write is never cut in half.

The same flag carries the sweep's deadline (``--timeout``): at it, the running trial stops
at the next batch and is recorded with what it reached (``stopped_by`` "timeout"), so a
sweep ends near its budget, not a whole trial later.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import FatalTrialError, TrialFailed
from sweeper.report.live import SweepObserver, log_trial
from sweeper.search.study import FailureStreak
from sweeper.storage.record import FAIL_REASON, INTERRUPTED, OWNER, counted

log = logging.getLogger("sweeper")

Objective = Callable[[optuna.Trial], float]
# (space, data, config, observer, stop flag) -> the objective that trains one trial.
MakeObjective = Callable[..., Objective]


class StopFlag:
    """Set by SIGINT or SIGTERM, read at safe points. With ``escalate``, a second signal
    raises KeyboardInterrupt at once: the way out of a sweep in this process that hangs."""

    def __init__(self, escalate: bool = False, deadline: float | None = None) -> None:
        self.escalate, self.count = escalate, 0
        self.deadline = deadline  # time.time() at which the sweep's time is up, if it has one
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    def time_is_up(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def request(self) -> None:
        self.count += 1

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum, frame) -> None:
        self.request()
        if self.escalate and self.count > 1:
            raise KeyboardInterrupt


def build_objective(
    make_objective: MakeObjective | None,
    space,
    data,
    config,
    observer: SweepObserver,
    flag: StopFlag,
) -> Objective:
    """The objective a sweep runs: Keras' (imported only now), unless another is given."""
    if make_objective is None:
        from sweeper.training.objective import KerasObjective

        make_objective = KerasObjective.for_sweep
    return make_objective(space, data, config, observer, flag)


class Gate(Protocol):
    def may_start(self) -> bool:
        """Whether another trial may start now."""
        ...

    def declined(self) -> None:
        """The trial it let start found no place in the budget after all (``admit``)."""
        ...


class BudgetGate:
    """Another trial while the study's counted trials and those running (in other processes:
    other machines on a database) stay under ``budget``, and the ``flag``'s deadline (if any)
    has not come. While the budget is full only of trials running elsewhere, it waits (on a
    storage with heartbeats): one of them may yet be lost, and its retry is this gate's."""

    POLL_S = 1.0

    def __init__(self, study: optuna.Study, budget: int, flag: StopFlag | None = None) -> None:
        self.study, self.budget, self.flag = study, budget, flag

    def may_start(self) -> bool:
        while True:
            if self.flag is not None and self.flag.time_is_up():
                log.info("the sweep's time is up")
                return False
            if self.flag is not None and self.flag.requested:
                return False
            fail_stale_trials(self.study)
            trials = self.study.get_trials(deepcopy=False)
            if counted(trials) >= self.budget:
                return False
            if in_use(trials) < self.budget:
                return True
            if heartbeat_interval(self.study) is None:  # nothing would end them: leave
                return False
            time.sleep(self.POLL_S)

    def declined(self) -> None:
        pass  # may_start reads the study again


def run_trials(
    study: optuna.Study,
    objective: Objective,
    gate: Gate,
    *,
    flag: StopFlag,
    observer: SweepObserver,
    owner: dict,
    streak: FailureStreak | None = None,
    budget: int | None = None,
) -> list[FrozenTrial]:
    """Trials until the gate says no; returns those run here. ``budget``: checked again,
    under the study's lock, as each trial is asked for (``admit``), for sweeps that other
    machines join.

    Raises KeyboardInterrupt once a stop was requested (the trial it cut short is recorded as
    interrupted), and the streak's error once too many trials failed in a row.
    """
    finished: list[FrozenTrial] = []
    # What is alive now (TensorFlow's modules, the data) lives as long as the loop. Freezing
    # it spares the full gc pass that clear_session() runs before every trial from rescanning
    # it: ~230 ms down to ~10 ms a trial (benchmarks/sweep_time.py).
    gc.freeze()
    try:
        while not flag.requested and gate.may_start():
            trial = admit(study, budget, owner)
            if trial is None:  # another machine took the budget's last place meanwhile
                gate.declined()
                continue
            frozen = run_trial(study, trial, objective, observer)
            finished.append(frozen)
            error = streak.add(frozen) if streak is not None else None
            if error is not None:
                raise error
    finally:
        gc.unfreeze()
    if flag.requested:
        raise KeyboardInterrupt
    return finished


def in_use(trials: list[FrozenTrial]) -> int:
    """The budget's places taken: trials counted, and those running anywhere."""
    return counted(trials) + sum(t.state == TrialState.RUNNING for t in trials)


def admit(study: optuna.Study, budget: int | None, owner: dict) -> optuna.Trial | None:
    """The next trial, asked for while holding the study's lock (``study_lock``): trials of
    machines whose heartbeat stopped are failed and queued for a retry first, then, with a
    ``budget``, a trial is asked for only if it still has a place. None: it has none."""
    with study_lock(study):
        fail_stale_trials(study)  # so a vanished machine's trial is retried by this ask
        if budget is not None and in_use(study.get_trials(deepcopy=False)) >= budget:
            return None
        with warnings.catch_warnings():
            # Optuna's heartbeat is "supposed to be used with Study.optimize": Heartbeat,
            # below, records it for an ask/tell loop instead.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
    trial.set_user_attr(OWNER, owner)  # so a dead owner's trial can be found and retried
    return trial


def run_trial(
    study: optuna.Study, trial: optuna.Trial, objective: Objective, observer: SweepObserver
) -> FrozenTrial:
    """Train and tell: one trial, whatever its outcome, ends recorded in the study."""
    observer.trial_started(trial.number)
    try:
        with Heartbeat(study, trial):
            value = objective(trial)
        frozen = study.tell(trial, value)
    except optuna.TrialPruned:
        frozen = study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed as exc:
        frozen = _fail(study, trial, str(exc))
    except (FatalTrialError, KeyboardInterrupt) as exc:
        _fail(study, trial, INTERRUPTED if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    log_trial(frozen)
    observer.trial_finished(frozen)
    return frozen


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the trials whose heartbeat stopped (database storages with one), and queue their
    retries: what ``study.optimize`` does before each trial, which an ask/tell loop must do
    itself. A no-op on other storages."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


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


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> FrozenTrial:
    trial.set_user_attr(FAIL_REASON, reason)
    return study.tell(trial, state=TrialState.FAIL)
