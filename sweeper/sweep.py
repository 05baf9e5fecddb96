"""The sweep loop: ask the study for a trial, train it, tell the study how it went.

Everything that can be checked is checked before the storage is touched (sampler and pruner
names, storage URL, the data), so bad input never changes an existing study.
"""

from __future__ import annotations

import gc
import logging
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.data import Dataset
from sweeper.devices import detect_gpus, plan_workers
from sweeper.errors import (DataError, FatalTrialError, SweeperError, TrialFailed, UsageError,
                            describe_failure)
from sweeper.progress import SweepObserver, log_trial
from sweeper.recovery import INTERRUPTED, OWNER, owner_record, recover
from sweeper.report import write_leaderboard
from sweeper.space import Space
from sweeper.study import (JOURNAL_NAME, FailureStreak, PrunerLike, SamplerLike, check_storage_url,
                           count_finished, make_pruner, make_sampler, open_storage, open_study)
from sweeper.supervisor import Supervisor
from sweeper.worker import DEFAULT_MEMORY_GROWTH, WorkerSpec

LOG_NAME = "sweep.log"
log = logging.getLogger("sweeper")


@dataclass(frozen=True)
class SweepResult:
    study: optuna.Study
    results_dir: Path
    leaderboard: Path
    trials_run: int  # by this call
    wall_time_s: float
    fit_time_s: float  # of the trials run by this call

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial | None:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self.study.best_trial if complete else None


def _log_to(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def run_sweep(
    space: Space,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    sampler: SamplerLike = "tpe",
    pruner: PrunerLike = "hyperband",
    seed: int = 0,
    max_epochs: int | None = None,
    storage: str | None = None,
    results_dir: str | Path = "results",
    data_dir: str | Path | None = None,
    observer: SweepObserver | None = None,
    max_consecutive_failures: int = 5,
    workers: int | str | None = None,
    gpus: Sequence[str] | None = None,
    trials_per_gpu: int | None = None,
    trials_per_process: int | None = None,
    memory_growth: float | None = DEFAULT_MEMORY_GROWTH,
) -> SweepResult:
    """Run (or resume) the space's study until ``n_trials`` trials have finished in total.

    ``sampler`` and ``pruner`` are registry names or Optuna objects. Failed trials count
    against the budget (trials lost to a dead or stopped worker do not: they are retried);
    after ``max_consecutive_failures`` failures in a row the sweep stops, since something is
    wrong with every configuration.

    ``workers=None`` trains in this process. A number, or "auto", runs supervised worker
    processes instead: ``gpus`` (default: those detected) are shared out, at most
    ``trials_per_gpu`` workers on one; dead workers are replaced and their trials retried; a
    worker restarts, giving its memory back, once its resident memory has grown by
    ``memory_growth`` (a fraction) over its size after its first trial, or after
    ``trials_per_process`` trials (1: every trial in a fresh process).
    """
    n_trials = n_trials or space.n_trials
    max_epochs = max_epochs or space.max_epochs
    for name, value in (("trials", n_trials), ("max-epochs", max_epochs)):
        if value < 1:
            raise UsageError(f"--{name} must be at least 1, but got {value}")
    make_sampler(sampler, seed)  # unknown names fail here, before any I/O
    make_pruner(pruner, max_epochs)
    if storage is not None:
        check_storage_url(storage)
    slots = None
    if workers is not None:
        slots = plan_workers(workers, gpus=detect_gpus() if gpus is None else gpus,
                             trials_per_gpu=trials_per_gpu)
    out_dir = Path(results_dir) / space.name
    observer = observer or SweepObserver()
    opened: list = []  # (study, log handler) once the study is open

    def open_and_recover() -> optuna.Study:
        study = open_study(space, open_storage(storage, out_dir), sampler=sampler,
                           pruner=pruner, seed=seed, max_epochs=max_epochs)
        out_dir.mkdir(parents=True, exist_ok=True)  # a database storage does not create it
        opened.append((study, _log_to(out_dir / LOG_NAME)))
        log.info("sweep %s: budget %d trials, sampler %s, pruner %s, seed %d, max %d epochs, "
                 "%s", space.name, n_trials, study.user_attrs["sampler"],
                 study.user_attrs["pruner"], seed, max_epochs,
                 "in one process" if slots is None else
                 f"workers on {', '.join(s.label for s in slots)}")
        died, retried = recover(study)
        if died or retried:
            log.warning("trials left running by a dead process, now failed: %s; "
                        "lost trials queued for a retry: %s", died, retried)
        return study

    started = time.monotonic()
    try:
        if slots is None:
            finished = _run_here(space, data_dir, open_and_recover, observer, seed=seed,
                                 max_epochs=max_epochs, n_trials=n_trials, timeout=timeout,
                                 max_consecutive_failures=max_consecutive_failures)
        else:
            spec = WorkerSpec(
                space=_pickled(space), space_source=space.source,
                storage=storage or str(out_dir / JOURNAL_NAME), sampler=sampler,
                pruner=pruner, seed=seed, max_epochs=max_epochs,
                data_dir=None if data_dir is None else str(data_dir), slot=slots[0],
                worker_id=0, trials_per_process=trials_per_process,
                memory_growth=memory_growth,
            )
            finished = Supervisor(spec, slots, open_and_recover, budget=n_trials,
                                  timeout=timeout,
                                  max_consecutive_failures=max_consecutive_failures,
                                  observer=observer).run()
    finally:
        observer.sweep_finished()
        if opened:
            study, handler = opened[0]
            leaderboard = write_leaderboard(study, out_dir)
            log.removeHandler(handler)
            handler.close()
    return SweepResult(study, out_dir, leaderboard, len(finished),
                       time.monotonic() - started,
                       sum(t.user_attrs.get("fit_time_s") or 0.0 for t in finished))


def _run_here(space, data_dir, open_and_recover, observer, *, seed, max_epochs, n_trials,
              timeout, max_consecutive_failures) -> list[FrozenTrial]:
    """The sweep in this process: load the data, open the study, run trials one by one."""
    data = load_dataset(space, data_dir)  # before the study opens: bad data changes nothing
    study = open_and_recover()
    # Keras (and TensorFlow) load only now, once the input is known to be good.
    from sweeper.objective import KerasObjective

    objective = KerasObjective(space, data, max_epochs=max_epochs, seed=seed,
                               on_epoch=observer.epoch_ended)
    observer.sweep_started(study.get_trials(deepcopy=False), n_trials)
    owner = owner_record(0, "this process")
    # What is alive now (TensorFlow's modules, the data) lives as long as the sweep. Freezing
    # it spares the full gc pass that clear_session() runs before every trial from rescanning
    # it: ~230 ms down to ~10 ms a trial (benchmarks/sweep_time.py).
    gc.freeze()
    try:
        return _run_until_budget(study, objective, observer, owner, n_trials, timeout,
                                 max_consecutive_failures)
    finally:
        gc.unfreeze()


def _pickled(space: Space) -> bytes:
    """The space as worker processes receive it."""
    try:
        return pickle.dumps(space)
    except Exception as exc:
        raise UsageError(
            f"search space {space.name!r} was built in code and cannot be sent to worker "
            f"processes ({exc}); put it in a module and load it with load_space(), or run "
            "with workers=None"
        ) from exc


def _run_until_budget(study, objective, observer, owner, n_trials, timeout,
                      max_consecutive_failures):
    """Trials until the study holds ``n_trials`` finished ones; returns those run here."""
    started = time.monotonic()
    finished, streak = [], FailureStreak(max_consecutive_failures)
    while count_finished(study) < n_trials:
        frozen = run_trial(study, objective, observer, owner)
        finished.append(frozen)
        error = streak.add(frozen)
        if error is not None:
            raise error
        if timeout is not None and time.monotonic() - started >= timeout:
            log.info("timeout of %ss reached", timeout)  # checked after a trial, as Optuna
            break
    return finished


def load_dataset(space: Space, data_dir: str | Path | None) -> Dataset:
    """The space's data, once per process; a failing loader is one clear error."""
    try:
        data = space.load_data(data_dir)
    except SweeperError:
        raise
    except Exception as exc:  # the space's own code: say whose it is and what broke
        raise DataError(
            f"search space {space.name!r} could not load its data ({describe_failure(exc)}); "
            "fix its load_data or pass --data-dir"
        ) from exc
    if not isinstance(data, Dataset):
        raise DataError(
            f"search space {space.name!r}: load_data returned {type(data).__name__}, "
            "not a sweeper.Dataset; return Dataset(x_train, y_train, x_val, y_val, ...)"
        )
    return data


def run_trial(study: optuna.Study, objective, observer: SweepObserver, owner: dict):
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


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str):
    trial.set_user_attr("fail_reason", reason)
    return study.tell(trial, state=TrialState.FAIL)
