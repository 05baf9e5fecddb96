"""The sweep loop: ask the study for a trial, train it, tell the study how it went.

Everything that can be checked is checked before the storage is touched (sampler and pruner
names, storage URL, the data), so bad input never changes an existing study.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from sweeper.data import Dataset
from sweeper.errors import (DataError, FatalTrialError, SweeperError, TrialFailed, UsageError,
                            describe_failure)
from sweeper.progress import SweepObserver
from sweeper.report import write_leaderboard
from sweeper.space import Space
from sweeper.study import (PrunerLike, SamplerLike, check_storage_url, count_finished,
                           make_pruner, make_sampler, open_storage, open_study)

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
) -> SweepResult:
    """Run (or resume) the space's study until ``n_trials`` trials have finished in total.

    ``sampler`` and ``pruner`` are registry names or Optuna objects. Failed trials count
    against the budget; after ``max_consecutive_failures`` failures in a row the sweep stops,
    since something is wrong with every configuration.
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
    data = load_dataset(space, data_dir)
    out_dir = Path(results_dir) / space.name
    study = open_study(space, open_storage(storage, out_dir), sampler=sampler, pruner=pruner,
                       seed=seed, max_epochs=max_epochs)
    out_dir.mkdir(parents=True, exist_ok=True)  # a database storage does not create it

    # Keras (and TensorFlow) load only now, once the input is known to be good.
    from sweeper.objective import KerasObjective

    observer = observer or SweepObserver()
    handler = _log_to(out_dir / LOG_NAME)
    objective = KerasObjective(space, data, max_epochs=max_epochs, seed=seed,
                               on_epoch=observer.epoch_ended)
    log.info("sweep %s: budget %d trials, sampler %s, pruner %s, seed %d, max %d epochs",
             space.name, n_trials, study.user_attrs["sampler"], study.user_attrs["pruner"],
             seed, max_epochs)
    started = time.monotonic()
    observer.sweep_started(study.get_trials(deepcopy=False), n_trials)
    # What is alive now (TensorFlow's modules, the data) lives as long as the sweep. Freezing
    # it spares the full gc pass that clear_session() runs before every trial from rescanning
    # it: ~230 ms down to ~10 ms a trial (benchmarks/sweep_time.py).
    gc.freeze()
    try:
        finished = _run_until_budget(study, objective, observer, n_trials, timeout,
                                     max_consecutive_failures)
    finally:
        gc.unfreeze()
        observer.sweep_finished()
        leaderboard = write_leaderboard(study, out_dir)
        log.removeHandler(handler)
        handler.close()
    return SweepResult(study, out_dir, leaderboard, len(finished),
                       time.monotonic() - started,
                       sum(t.user_attrs.get("fit_time_s") or 0.0 for t in finished))


def _run_until_budget(study, objective, observer, n_trials, timeout, max_consecutive_failures):
    """Trials until the study holds ``n_trials`` finished ones; returns those run here."""
    started = time.monotonic()
    finished, failures_in_a_row = [], 0
    while count_finished(study) < n_trials:
        frozen = _run_trial(study, objective, observer)
        finished.append(frozen)
        failures_in_a_row = failures_in_a_row + 1 if frozen.state == TrialState.FAIL else 0
        if failures_in_a_row >= max_consecutive_failures:
            raise SweeperError(
                f"{failures_in_a_row} trials failed in a row (last: "
                f"{frozen.user_attrs.get('fail_reason')}); fix the space and re-run to resume"
            )
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


def _run_trial(study: optuna.Study, objective, observer: SweepObserver):
    """Ask, train, tell: one trial, whatever its outcome, ends recorded in the study."""
    trial = study.ask()
    observer.trial_started(trial.number)
    try:
        frozen = study.tell(trial, objective(trial))
    except optuna.TrialPruned:
        frozen = study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed as exc:
        frozen = _fail(study, trial, str(exc))
    except (FatalTrialError, KeyboardInterrupt) as exc:
        _fail(study, trial, "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    log.info("trial %d %s value=%s params=%s%s", frozen.number, frozen.state.name.lower(),
             frozen.value, frozen.params,
             f" reason={frozen.user_attrs['fail_reason']}" if "fail_reason" in frozen.user_attrs
             else "")
    observer.trial_finished(frozen)
    return frozen


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str):
    trial.set_user_attr("fail_reason", reason)
    return study.tell(trial, state=TrialState.FAIL)
