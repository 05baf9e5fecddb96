"""KerasTuner as the search engine: its oracle (Hyperband, Bayesian optimization or random
search) chooses each trial's values, in the place of Optuna's sampler and pruner.

The oracle sits behind Optuna's sampler interface (``KerasTunerSampler``), so everything
else is sweeper's own, as with any sampler: the one trial loop, the worker and its recovery,
the trial record, the leaderboard and the winner. The space's parameters become KerasTuner
hyperparameters (``to_hyperparameters``; conditions become conditional scopes), and the
shared training parameters are built by the same library code as under Optuna.

Hyperband tells each trial how many epochs it may train (``tuner/epochs``). KerasTuner's
own tuner continues a promoted trial from its parent's checkpoint; sweeper trains it from
scratch for its whole budget, so that every trial's record replays as it is (the winner's
re-training trains its best epochs from scratch too). That costs more epochs per promotion.

The oracle keeps its state in ``results/<space>-kerastuner-<algorithm>/kerastuner/`` and
reloads it when the sweep resumes or its worker is replaced. KerasTuner loads only in the
process that trains: the supervisor never builds the oracle. The oracle lives in that one
process, so the engine runs one worker, which no other process may join.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import SettingError, SpaceError, UsageError
from sweeper.search.engine import Engine
from sweeper.space.params import Categorical, Float, Int, Param
from sweeper.storage.record import EPOCH_BUDGET

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space

ALGORITHMS = ("hyperband", "bayesian", "random")
TUNER_ID = "sweeper"  # the one "tuner" that asks this process' oracle for trials
HYPERBAND_FACTOR = 3  # KerasTuner's default


def to_hyperparameters(space: Space):
    """The space's declared parameters as KerasTuner hyperparameters, each condition a
    (nested) conditional scope on its parent."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for param in space.all_params:
        with contextlib.ExitStack() as scopes:
            for parent, values in (param.when or {}).items():
                scopes.enter_context(hp.conditional_scope(parent, list(values)))
            _declare(hp, param)
    return hp


def _declare(hp, param: Param) -> None:
    sampling = "log" if getattr(param, "log", False) else "linear"
    try:
        if isinstance(param, Categorical):
            hp.Choice(param.name, list(param.choices))
        elif isinstance(param, Int):  # KerasTuner's step on a log scale multiplies: none
            step = None if param.log else param.step
            hp.Int(param.name, param.low, param.high, step=step, sampling=sampling)
        elif isinstance(param, Float):
            hp.Float(param.name, param.low, param.high, step=param.step, sampling=sampling)
        else:
            raise TypeError(f"a {type(param).__name__} has no KerasTuner counterpart")
    except (TypeError, ValueError) as exc:
        raise SpaceError(
            f"parameter {param.name!r} cannot be declared to KerasTuner ({exc}); use the "
            "Optuna engine for this space"
        ) from exc


class KerasTunerSampler(optuna.samplers.BaseSampler):
    """Optuna's sampler interface over a KerasTuner oracle: ``before_trial`` asks the oracle
    for a trial, each ``suggest_*`` gets its value, ``after_trial`` reports the outcome.
    A value the oracle did not give (a configuration enqueued by hand) is drawn at random."""

    def __init__(self, space: Space, algorithm: str, max_epochs: int, seed: int, directory: Path):
        self.space, self.algorithm, self.max_epochs, self.seed = space, algorithm, max_epochs, seed
        self.directory = directory
        self._oracle: Any = None  # built on first use, in the process that trains
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        self._running: dict[int, Any] = {}  # Optuna trial number -> KerasTuner trial

    @property
    def oracle(self):
        if self._oracle is None:
            self._oracle = self._open_oracle()
        return self._oracle

    def _open_oracle(self):
        import keras_tuner as kt

        objective = kt.Objective(
            self.space.objective, direction="max" if self.space.direction == "maximize" else "min"
        )
        common = {
            "objective": objective,
            "hyperparameters": to_hyperparameters(self.space),
            "seed": self.seed,
            "tune_new_entries": False,
            "allow_new_entries": False,
            "max_retries_per_trial": 0,  # sweeper retries lost trials itself
            "max_consecutive_failed_trials": 10**6,  # and stops after failures in a row
        }
        if self.algorithm == "hyperband":
            oracle = kt.oracles.HyperbandOracle(
                max_epochs=self.max_epochs,
                factor=HYPERBAND_FACTOR,
                hyperband_iterations=10**6,  # the sweep's budget ends it, not the oracle
                **common,
            )
        elif self.algorithm == "bayesian":
            oracle = kt.oracles.BayesianOptimizationOracle(max_trials=None, **common)
        else:
            oracle = kt.oracles.RandomSearchOracle(max_trials=None, **common)
        oracle.verbose = 0  # its trial tables would go to the terminal or the worker's log
        oracle._set_project_dir(str(self.directory), "oracle")
        if (self.directory / "oracle" / "oracle.json").is_file():
            oracle.reload()  # a resumed sweep, or a fresh worker: the oracle goes on
            # reload() queues every trial it had marked ongoing for a retry, ended ones too:
            # KerasTuner's "repeated trials after a resume". sweeper retries lost trials
            # itself, so the oracle retries none.
            oracle._retry_queue = []
        return oracle

    # --- Optuna's sampler interface -------------------------------------------------------

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        chosen = self.oracle.create_trial(TUNER_ID)
        if chosen.status != "RUNNING":  # the oracle has nothing left to try: draw at random
            return
        self._running[trial.number] = chosen
        epochs = chosen.hyperparameters.values.get("tuner/epochs")
        if epochs is not None:  # Hyperband's: how long this trial may train
            study._storage.set_trial_user_attr(trial._trial_id, EPOCH_BUDGET, int(epochs))
            trial.user_attrs[EPOCH_BUDGET] = int(epochs)  # the Trial's cached copy, which it reads

    def sample_independent(
        self, study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        chosen = self._running.get(trial.number)
        value = None if chosen is None else chosen.hyperparameters.values.get(param_name)
        if value is not None and param_distribution._contains(
            param_distribution.to_internal_repr(value)
        ):
            return value
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial: FrozenTrial, state: TrialState, values) -> None:
        chosen = self._running.pop(trial.number, None)
        if chosen is None:
            return
        chosen.hyperparameters.values.update(trial.params)  # what the trial really ran
        if state == TrialState.COMPLETE and values:
            self.oracle.update_trial(chosen.trial_id, {self.space.objective: values[0]})
            chosen.status = "COMPLETED"
        else:  # failed, diverged (pruned in the study), or interrupted
            # KerasTuner's oracles have no pruned state: a trial is COMPLETED with a score, or
            # FAILED, which they skip. A made-up score for a diverged trial would mislead their
            # models and Hyperband's promotions, so the oracle learns nothing from it.
            chosen.status = "FAILED"
        self.oracle.end_trial(chosen)
        self.oracle.save()  # end_trial saved before it let go of the trial: not ongoing now


class KerasTunerEngine(Engine):
    """KerasTuner's oracle (``algorithm``: Hyperband, Bayesian optimization or random search)
    as the sampler; it prunes nothing: Hyperband gives each trial its epochs instead."""

    single_process = "a KerasTuner oracle, which lives in the one process that trains"

    @classmethod
    def check_settings(cls, config: SweepConfig) -> None:
        if config.algorithm not in ALGORITHMS:
            raise SettingError(
                "algorithm", f"must be one of {', '.join(ALGORITHMS)}, not {config.algorithm!r}"
            )

    @classmethod
    def check(cls, config: SweepConfig) -> None:
        if config.placement.workers not in (None, 1):
            raise SettingError(
                "workers",
                f"is {config.placement.workers!r}, but the KerasTuner engine runs one worker: its "
                "oracle lives in the process that trains (KerasTuner's own chief/worker mode "
                "hangs when a worker dies); use 1, or the Optuna engine for parallel workers",
            )
        if config.dask is not None:
            raise SettingError(
                "dask", "runs the Optuna engine only: a KerasTuner oracle lives in one process"
            )

    @property
    def label(self) -> str:
        return f"kerastuner-{self.config.algorithm}"

    def sweep_space(self, space: Space) -> Space:
        """A study (and results folder) of its own, ``<space>-kerastuner-<algorithm>``, beside
        the Optuna one, and no starting points: the oracle picks its own first trials."""
        if len(space.goals) > 1:
            raise UsageError(
                f"KerasTuner's oracles optimize one objective, and this sweep has "
                f"{len(space.goals)} ({', '.join(map(str, space.goals))}); sweep it with "
                "--engine optuna, or keep only the first objective"
            )
        suffix = f"-{self.label}"
        if space.name.endswith(suffix):
            return space
        return dataclasses.replace(space, name=space.name + suffix, starting_points=[])

    def attach(self, study: optuna.Study, space: Space, seed: int) -> None:
        folder = self.config.results(space.name).path / "kerastuner"
        study.sampler = KerasTunerSampler(
            space, self.config.algorithm, self.config.epochs, seed, folder
        )
        study.pruner = optuna.pruners.NopPruner()
