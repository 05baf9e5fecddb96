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
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import FatalTrialError, TrialFailed
from sweeper.progress import SweepObserver, log_trial
from sweeper.record import FAIL_REASON, INTERRUPTED, OWNER
from sweeper.study import FailureStreak, count_finished

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
        from sweeper.objective import KerasObjective

        make_objective = KerasObjective.for_sweep
    return make_objective(space, data, config, observer, flag)


class Gate(Protocol):
    def may_start(self) -> bool:
        """Whether another trial may start now."""
        ...


class BudgetGate:
    """Another trial while the study holds fewer than ``budget`` counted trials and the
    ``flag``'s deadline (if any) has not come."""

    def __init__(self, study: optuna.Study, budget: int, flag: StopFlag | None = None) -> None:
        self.study, self.budget, self.flag = study, budget, flag

    def may_start(self) -> bool:
        if self.flag is not None and self.flag.time_is_up():
            log.info("the sweep's time is up")
            return False
        return count_finished(self.study) < self.budget


def run_trials(
    study: optuna.Study,
    objective: Objective,
    gate: Gate,
    *,
    flag: StopFlag,
    observer: SweepObserver,
    owner: dict,
    streak: FailureStreak | None = None,
) -> list[FrozenTrial]:
    """Trials until the gate says no; returns those run here.

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
            frozen = run_trial(study, objective, observer, owner)
            finished.append(frozen)
            error = streak.add(frozen) if streak is not None else None
            if error is not None:
                raise error
    finally:
        gc.unfreeze()
    if flag.requested:
        raise KeyboardInterrupt
    return finished


def run_trial(
    study: optuna.Study, objective: Objective, observer: SweepObserver, owner: dict
) -> FrozenTrial:
    """Ask, train, tell: one trial, whatever its outcome, ends recorded in the study."""
    trial = study.ask()
    trial.set_user_attr(OWNER, owner)  # so a dead owner's trial can be found and retried
    observer.trial_started(trial.number)
    try:
        frozen = study.tell(trial, objective(trial))
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


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> FrozenTrial:
    trial.set_user_attr(FAIL_REASON, reason)
    return study.tell(trial, state=TrialState.FAIL)
