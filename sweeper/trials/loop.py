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

import gc
import logging
import time
import warnings
from collections.abc import Callable
from typing import Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import FatalTrialError, TrialDiverged, TrialFailed
from sweeper.storage.heartbeat import Heartbeat, fail_stale_trials, heartbeat_interval, study_lock
from sweeper.storage.record import (
    DEFAULT_ENGINE,
    DIVERGED,
    ENGINE,
    FAIL_REASON,
    INTERRUPTED,
    OWNER,
    STOPPED_BY,
    counted,
)
from sweeper.trials.observer import SweepObserver, log_trial
from sweeper.trials.stop import StopFlag
from sweeper.trials.streak import FailureStreak

log = logging.getLogger("sweeper")

Objective = Callable[[optuna.Trial], float | list[float]]  # several: one value per objective
# (space, data, config, observer, stop flag) -> the objective that trains one trial.
MakeObjective = Callable[..., Objective]


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

    def __init__(
        self,
        study: optuna.Study,
        budget: int,
        flag: StopFlag | None = None,
        observer: SweepObserver | None = None,
    ) -> None:
        self.study, self.budget, self.flag = study, budget, flag
        self.observer = observer or SweepObserver()

    def may_start(self) -> bool:
        while True:
            if self.flag is not None and self.flag.time_is_up():
                log.info("the sweep's time is up")
                return False
            if self.flag is not None and self.flag.requested:
                return False
            fail_stale(self.study, self.observer)
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
    engine: str = DEFAULT_ENGINE,
) -> list[FrozenTrial]:
    """Trials until the gate says no; returns those run here. ``budget``: checked again,
    under the study's lock, as each trial is asked for (``admit``), for sweeps that other
    machines join. ``engine``: what chooses the values, as each trial records it.

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
            trial = admit(study, budget, owner, engine, observer)
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


def admit(
    study: optuna.Study,
    budget: int | None,
    owner: dict,
    engine: str = DEFAULT_ENGINE,
    observer: SweepObserver | None = None,
) -> optuna.Trial | None:
    """The next trial, asked for while holding the study's lock (``study_lock``): trials of
    machines whose heartbeat stopped are failed and queued for a retry first, then, with a
    ``budget``, a trial is asked for only if it still has a place. None: it has none."""
    with study_lock(study):
        fail_stale(study, observer)  # so a vanished machine's trial is retried by this ask
        if budget is not None and in_use(study.get_trials(deepcopy=False)) >= budget:
            return None
        with warnings.catch_warnings():
            # Optuna's heartbeat is "supposed to be used with Study.optimize": Heartbeat,
            # below, records it for an ask/tell loop instead.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
    trial.set_user_attr(OWNER, owner)  # so a dead owner's trial can be found and retried
    if engine != DEFAULT_ENGINE:
        trial.set_user_attr(ENGINE, engine)  # the engine that chose its values
    return trial


def fail_stale(study: optuna.Study, observer: SweepObserver | None) -> None:
    """Fail the trials of machines whose heartbeat stopped, each said in sweep.log and to
    the observer (the live view prints a line for it)."""
    for trial in fail_stale_trials(study):
        log_trial(trial)
        if observer is not None:
            observer.trial_lost(trial)


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
    except TrialDiverged as exc:
        frozen = prune_diverged(study, trial, str(exc))
    except TrialFailed as exc:
        frozen = _fail(study, trial, str(exc))
    except (FatalTrialError, KeyboardInterrupt) as exc:
        _fail(study, trial, INTERRUPTED if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    log_trial(frozen)
    observer.trial_finished(frozen)
    return frozen


def prune_diverged(study: optuna.Study, trial: optuna.Trial, reason: str) -> FrozenTrial:
    """A diverged trial ends pruned at its last finite epoch (the pruning callback never saw
    the epoch whose loss became NaN), not failed: Optuna's samplers skip failed trials, so TPE
    would keep drawing rates that diverge; a pruned trial ranks after every complete one, in
    TPE's bad group. The reason stays on it as for a failed trial, for the leaderboard."""
    trial.set_user_attr(STOPPED_BY, DIVERGED)
    trial.set_user_attr(FAIL_REASON, reason)
    return study.tell(trial, state=TrialState.PRUNED)


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> FrozenTrial:
    trial.set_user_attr(FAIL_REASON, reason)
    return study.tell(trial, state=TrialState.FAIL)
