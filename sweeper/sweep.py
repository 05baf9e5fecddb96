"""The sweep stage: open (or resume) the space's study and run trials until the budget is met,
in this process or in supervised worker processes; then write the leaderboard.

Everything that can be checked is checked before the storage is touched (the configuration
when it is built, then the data), so bad input never changes an existing study.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweeper.backends.base import build_objective
from sweeper.backends.supervisor import Supervisor
from sweeper.backends.worker import WorkerSpec, pickle_space
from sweeper.config import SweepConfig
from sweeper.errors import SweeperError, UsageError, not_writable
from sweeper.report.leaderboard import write_leaderboard
from sweeper.report.live import progress_for, quiet_optuna
from sweeper.report.view import SweepView
from sweeper.results import ResultsDir
from sweeper.search.head_start import open_source
from sweeper.search.study import open_study
from sweeper.space.data import load_dataset
from sweeper.space.space import Space
from sweeper.storage.journal import storage_damage
from sweeper.storage.record import TrialRecord
from sweeper.storage.recovery import owner_record, recover
from sweeper.storage.storages import open_storage, probe_storage
from sweeper.trials.loop import BudgetGate, MakeObjective, run_trials
from sweeper.trials.observer import SweepObserver
from sweeper.trials.stop import StopFlag
from sweeper.trials.streak import FailureStreak

log = logging.getLogger("sweeper")


@dataclass(frozen=True, repr=False)
class SweepResult(SweepView):
    """What ``run_sweep`` did (and, as a ``SweepView``, the sweep it left)."""

    config: SweepConfig  # resolved against the space
    trials_run: int  # by this call
    wall_time_s: float
    fit_time_s: float  # of the trials run by this call


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
    With ``dask`` set, the workers run on that Dask cluster (``sweeper.backends.dask_cluster``).
    """
    config = sweep_config(space, config, settings)
    space = config.engine_space(space)
    # A bad GPU plan fails here, before any I/O (on Dask, each Dask worker plans its own).
    slots = [] if config.dask else config.placement.slots()
    probe_storage(config.storage)  # an unreachable database: now, not after workers start
    warm_source = open_source(space, config)  # a bad --warm-start too, before any write
    results = config.results(space.name)
    observer = observer or progress_for(
        progress, space.name, space.objective, space.direction, config.epochs
    )
    opened: list[tuple[optuna.Study, logging.Handler]] = []

    def open_and_recover() -> optuna.Study:
        check_journal(space, config)
        try:
            storage = open_storage(config.storage, results.path, config.heartbeat)
            study = open_study(space, storage, config, warm_source, worker=first_worker)
            results.path.mkdir(parents=True, exist_ok=True)  # a database does not create it
            opened.append((study, _log_to(results.log)))
        except OSError as exc:  # a read-only folder: the journal's lock, sweep.log
            raise not_writable(results.path, exc) from exc
        where = "in one process" if not slots else f"workers on {', '.join(s.label for s in slots)}"
        if config.dask:
            where = f"workers on the Dask cluster at {config.dask}"
        log.info("sweep %s: %s, %s", space.name, config.record(), where)
        died, retried = recover(study)
        if died:
            log.warning("trials left running by a dead process, now failed: %s", died)
        if retried:
            log.warning("lost trials queued for a retry: %s", retried)
        return study

    dask = _dask_engine(config)  # an unreachable Dask scheduler: before any write, too
    started = time.monotonic()
    with quiet_optuna(observer), dask or contextlib.nullcontext():
        try:
            if dask is not None:
                finished = dask.run(space, config, open_and_recover, observer, make_objective)
            elif slots:
                spec = WorkerSpec(
                    space=pickle_space(space),
                    space_source=space.source,
                    config=config,
                    slot=slots[0],
                    make_objective=make_objective,
                )
                finished = Supervisor(
                    spec, slots, results, open_and_recover, observer, first_worker
                ).run()
            else:
                finished = _run_here(space, config, open_and_recover, observer, make_objective)
        finally:
            observer.sweep_finished()
            if opened:
                study, handler = opened[0]
                if leaderboard:
                    write_leaderboard(study, results)
                log.removeHandler(handler)
                handler.close()
    fit = sum(TrialRecord.of(t).fit_time_s or 0.0 for t in finished)
    return SweepResult(study, results, config, len(finished), time.monotonic() - started, fit)


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
    config = joined_config(space, storage, **settings)
    return run_sweep(
        space,
        config,
        observer=observer,
        progress=progress,
        leaderboard=False,
        first_worker=joiner_id(),
    )


def joiner_id() -> int:
    """A first worker id for a process joining a sweep, apart from every other's (ids seed
    the samplers: two machines joining at the same study size must not draw alike)."""
    import os
    import socket

    return 1000 * (1 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 10**6)


def joined_config(space: Space, storage: str, **settings: Any) -> SweepConfig:
    """The configuration workers join a sweep with: the settings its study recorded (budget,
    sampler, pruner, epochs...), with this machine's placement and folders."""
    from sweeper.storage.storages import load_existing_study

    results_dir = settings.get("results_dir", "results")
    study = load_existing_study(space.name, storage, ResultsDir.of(results_dir, space.name).path)
    recorded = study.user_attrs
    if recorded.get("engine", "optuna") != "optuna":
        raise UsageError(
            f"study {space.name!r} is swept by a KerasTuner oracle, which lives in the one "
            "process that trains; workers cannot join it (use the Optuna engine for that)"
        )
    joined = {key: recorded[key] for key in JOINED_SETTINGS if recorded.get(key) is not None}
    config = SweepConfig.of(**joined, storage=storage, starting_points=False, **settings)
    return config.resolve(space)


def sweep_config(space: Space, config: SweepConfig | None, settings: dict[str, Any]) -> SweepConfig:
    """The sweep's settings, given as a ``SweepConfig`` or as keywords, resolved against the
    space; a space without a name is refused here, before anything is written."""
    if not space.name:
        raise UsageError(
            "this search space has no name, and its study and results folder are named "
            'after it; give it one: Space(..., name="my_space")'
        )
    if config is not None and settings:
        raise UsageError("pass settings either as a SweepConfig or as keywords, not both")
    return (config or SweepConfig.of(**settings)).resolve(space)


def _dask_engine(config: SweepConfig):
    """The connection to the Dask cluster that runs the sweep's workers, if it has one."""
    if config.dask is None:
        return None
    from sweeper.backends.dask_cluster import DaskEngine

    return DaskEngine(config.dask)


def check_journal(space: Space, config: SweepConfig) -> None:
    """Refuse to add trials to a damaged journal: the next record would glue onto the cut one."""
    damage = storage_damage(config.storage, config.results(space.name).path)
    if damage is not None:
        raise SweeperError(
            f"{damage.describe()}, so no trial can be added to it; run `python -m sweeper "
            f"repair {space.source or space.name}` to keep every intact record and set the "
            "damaged file aside"
        )


def _run_here(
    space: Space,
    config: SweepConfig,
    open_and_recover,
    observer: SweepObserver,
    make_objective: MakeObjective | None,
) -> list[FrozenTrial]:
    """The sweep in this process: the data and the objective (Keras loads, the model is
    checked against the data), then the study opens and the trial loop runs. Bad data or a
    model that cannot take it stops the sweep before the study is touched."""
    data = load_dataset(space, config.data_dir)
    flag = StopFlag(escalate=True)
    objective = build_objective(make_objective, space, data, config, observer, flag)
    study = open_and_recover()
    with flag:
        observer.sweep_started(study.get_trials(deepcopy=False), config.budget)
        if config.timeout is not None:  # the clock starts with the first trial
            flag.deadline = time.time() + config.timeout
        return run_trials(
            study,
            objective,
            BudgetGate(study, config.budget, flag),
            flag=flag,
            observer=observer,
            owner=owner_record(0, "this process"),
            streak=FailureStreak(config.max_consecutive_failures),
            budget=config.budget,
        )


def _log_to(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler
