"""The sweep stage: the sweep planned once (its configuration resolved against the space, the
space as its engine sweeps it), then handed to its backend, which opens (or resumes) the
space's study and runs trials until the budget is met; then the leaderboard is written.

Everything that can be checked is checked before the storage is touched (the configuration
when it is built, the backend's plan, the storage and the warm start, then the data), so bad
input never changes an existing study.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from sweeper.backends.base import SweepRun
from sweeper.config import SweepConfig
from sweeper.errors import SweeperError, UsageError
from sweeper.registry import BACKENDS, ENGINES
from sweeper.report.leaderboard import write_leaderboard
from sweeper.report.live import progress_for, quiet_optuna
from sweeper.report.view import SweepView
from sweeper.results import ResultsDir
from sweeper.search.head_start import open_source
from sweeper.search.study import StudyOpener
from sweeper.space.space import Space
from sweeper.storage.outage import StorageUnavailable
from sweeper.storage.record import TrialRecord, counted
from sweeper.storage.standing import OBJECTIVES, StudyGoals
from sweeper.storage.storages import load_existing_study, probe_storage
from sweeper.trials.loop import MakeObjective
from sweeper.trials.observer import SweepObserver

log = logging.getLogger("sweeper")


@dataclass(frozen=True, repr=False)
class SweepResult(SweepView):
    """What ``run_sweep`` did (and, as a ``SweepView``, the sweep it left)."""

    config: SweepConfig  # resolved against the space
    trials_run: int  # by this call
    wall_time_s: float
    fit_time_s: float  # of the trials run by this call


@dataclass(frozen=True)
class SweepPlan:
    """A sweep resolved once, at the top, and handed down whole: the space as its engine
    sweeps it, and the configuration with the space's defaults filled in."""

    space: Space
    config: SweepConfig


def plan_sweep(
    space: Space, config: SweepConfig | None = None, settings: dict[str, Any] | None = None
) -> SweepPlan:
    """The sweep's plan, its settings given as a ``SweepConfig`` or as keywords; a space
    without a name is refused here, before anything is written."""
    if not space.name:
        raise UsageError(
            "this search space has no name, and its study and results folder are named "
            'after it; give it one: Space(..., name="my_space")'
        )
    if config is not None and settings:
        raise UsageError("pass settings either as a SweepConfig or as keywords, not both")
    config = (config or SweepConfig.of(**(settings or {}))).resolve(space)
    return SweepPlan(config.engine_space(space), config)


def run_sweep(
    space: Space,
    config: SweepConfig | None = None,
    *,
    observer: SweepObserver | None = None,
    progress: bool | None = None,
    make_objective: MakeObjective | None = None,
    leaderboard: bool = True,
    first_worker: int = 0,
    **settings: Any,
) -> SweepResult:
    """Run (or resume) the space's study until it holds the budget's trials in total.

    Settings come as a ``SweepConfig``, or as its field names (``n_trials=20, workers=2``).
    ``observer`` hears the loop's events; without one, ``progress`` says whether the live view
    shows (None: in a Jupyter notebook only, see ``progress_for``).
    ``make_objective(space, data, config, observer, stop_flag)`` gives the callable that
    trains one trial (default: ``KerasObjective.for_sweep``); it must be picklable by
    reference for workers. Tests pass a fake one, to check the loop's rules without Keras.
    Failed trials count against the budget (trials lost to a dead or stopped worker do not:
    they are retried); after ``max_consecutive_failures`` failures in a row the sweep stops,
    since something is wrong with every configuration. ``leaderboard=False``: write none at
    the end (workers that joined from elsewhere leave it to whoever reports).
    ``first_worker``: the id of the first worker process; sweeps that share a study from
    several places at once number theirs apart, so their samplers are seeded apart.
    With ``dask`` set, the workers run on that Dask cluster.
    """
    return sweep(
        plan_sweep(space, config, settings),
        observer=observer,
        progress=progress,
        make_objective=make_objective,
        leaderboard=leaderboard,
        first_worker=first_worker,
    )


def sweep(
    plan: SweepPlan,
    *,
    observer: SweepObserver | None = None,
    progress: bool | None = None,
    make_objective: MakeObjective | None = None,
    leaderboard: bool = True,
    first_worker: int = 0,
) -> SweepResult:
    """``run_sweep`` of a plan made already (``plan_sweep``), on the backend it names."""
    space, config = plan.space, plan.config
    results = config.results(space.name)
    # A GPU plan that does not fit, or a Dask scheduler that does not answer: before any I/O.
    with BACKENDS.load(config.backend)(config) as backend:
        probe_storage(config.storage)  # an unreachable database: now, not after workers start
        done = finished_study(space, config)
        if done is not None:  # nothing to train: no worker need start
            if leaderboard:
                write_leaderboard(done, results)
            return SweepResult(done, results, config, 0, 0.0, 0.0)
        warm_source = open_source(space, config)  # a bad warm start too, before any write
        observer = observer or progress_for(
            progress, space.name, space.objective, space.direction, config.epochs
        )
        opener = StudyOpener(
            space,
            config,
            warm_source=warm_source,
            worker=first_worker,
            where=backend.describe(),
            notify=observer.storage_notice,
        )
        started = time.monotonic()
        with quiet_optuna(observer):
            try:
                finished = backend.run(
                    SweepRun(space, config, opener, observer, make_objective, first_worker)
                )
            finally:
                observer.sweep_finished()
                if opener.study is not None and leaderboard:
                    _write_leaderboard(opener.study, results, stopping=sys.exc_info()[1])
                opener.close()
    assert opener.study is not None  # a backend opens the study before it runs a trial
    fit = sum(TrialRecord.of(t).fit_time_s or 0.0 for t in finished)
    return SweepResult(
        opener.study, results, config, len(finished), time.monotonic() - started, fit
    )


def finished_study(space: Space, config: SweepConfig) -> optuna.Study | None:
    """The space's study when it holds its whole budget already, with no trial running or
    waiting to (a lost trial's retry): a finished sweep, which a re-run need not start."""
    try:
        study = load_existing_study(space.name, config.storage, config.results(space.name).path)
    except SweeperError:  # no study yet
        return None
    trials = study.get_trials(deepcopy=False)
    unfinished = any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
    return None if unfinished or counted(trials) < config.budget else study


def _write_leaderboard(study, results: ResultsDir, stopping: BaseException | None) -> None:
    """The leaderboard, at the sweep's end; but a sweep that stops because its database is
    gone writes none (the error it stops with says so, and ``report`` writes it later)."""
    try:
        write_leaderboard(study, results)
    except StorageUnavailable:
        if stopping is None:
            raise
        log.warning("no leaderboard: the database is out of reach")


# What workers that join a sweep take from its study, as the `run` that created it recorded.
JOINED_SETTINGS = (
    "n_trials",
    "sampler",
    "pruner",
    "seed",
    "max_epochs",
    "patience",
    "max_consecutive_failures",
    "tensorboard",
    "heartbeat",
)


def join_sweep(
    space: Space,
    storage: str,
    *,
    observer: SweepObserver | None = None,
    progress: bool | None = None,
    **settings: Any,
) -> SweepResult:
    """More workers for a sweep that ``run`` started on a shared ``storage`` (a database):
    they train until its budget is met, and write no leaderboard. ``settings``: where they
    run (``workers``, ``gpus``...), ``results_dir``, ``data_dir``, ``timeout``."""
    return sweep(
        joined_plan(space, storage, **settings),
        observer=observer,
        progress=progress,
        leaderboard=False,
        first_worker=joiner_id(),
    )


def joiner_id() -> int:
    """A first worker id for a process joining a sweep, apart from every other's (ids seed
    the samplers: two machines joining at the same study size must not draw alike)."""
    return 1000 * (1 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 10**6)


def joined_plan(space: Space, storage: str, **settings: Any) -> SweepPlan:
    """The plan workers join a sweep with: the engine and settings its study recorded
    (budget, sampler, pruner, epochs...), with this machine's placement and folders."""
    results_dir = settings.get("results_dir", "results")
    study = load_existing_study(space.name, storage, ResultsDir.of(results_dir, space.name).path)
    recorded = study.user_attrs
    engine = engine_name(recorded.get("engine", "optuna"))
    single = ENGINES.load(engine).single_process
    if single:
        raise UsageError(
            f"study {space.name!r} is swept by {single}; workers cannot join it (sweep with an "
            "engine that processes can share, such as optuna, for that)"
        )
    joined = {key: recorded[key] for key in JOINED_SETTINGS if recorded.get(key) is not None}
    if recorded.get(OBJECTIVES):  # what it optimizes and picks by, as it was created
        goals = StudyGoals.of(study)
        joined["objectives"] = tuple(str(goal) for goal in goals.goals)
        joined["constraints"] = tuple(str(constraint) for constraint in goals.constraints)
        joined["winner"] = None if goals.rule is None else str(goals.rule)
    config = SweepConfig.of(
        **joined, engine=engine, storage=storage, starting_points=False, **settings
    ).resolve(space)
    return SweepPlan(config.engine_space(space), config)


def engine_name(label: str) -> str:
    """The registry name of the engine a study records as ``label`` ("kerastuner-hyperband"
    is the kerastuner engine's, with its algorithm)."""
    return label if label in ENGINES.names() else label.split("-", 1)[0]
