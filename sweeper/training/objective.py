"""The Keras objective: one Optuna trial trains one model and reports how good it is.

The trial samples its parameters from the space, the library turns the shared ones into a
Keras optimizer, learning-rate schedule and clipping, and ``model.fit`` runs with
EarlyStopping (best weights restored), Optuna's pruning callback and StopOnNaN. Whatever
happens, the trial records its history, best epoch, epochs run, wall time and seed; a trial
that trained (complete or pruned) also records what its model costs (``costs``), measured once:
where ``PruningCallback`` first needs them, or at the end. With several objectives the
trial's values are the primary objective's best and each other objective's value: a cost,
or a metric at the best epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import optuna

from sweeper.errors import FatalTrialError, TrialDiverged, TrialFailed, describe_failure
from sweeper.space.data import Dataset
from sweeper.space.space import Space
from sweeper.storage.record import (
    COST_ERRORS,
    COST_TIME_S,
    COSTS,
    EPOCH_BUDGET,
    SEED,
    STOPPED_BY,
    best_trained_epoch,
    metrics_at,
    outcome_attrs,
)
from sweeper.training.build import compile_model, fit_model
from sweeper.training.callbacks import (
    EpochClock,
    EpochHook,
    PruningCallback,
    StopOnNaN,
    StopOnRequest,
    TrialMonitor,
)
from sweeper.training.costs import CostMeter

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.trials.observer import SweepObserver
    from sweeper.trials.stop import StopFlag


# The largest batch a space without Training (a hypermodel that compiles its own) is timed at:
# Keras' default batch size.
DEFAULT_BATCH = 32
# A constraint on a value that could not be measured is broken by this much (Optuna refuses
# NaN, and a JSON storage writes infinity as a non-standard token).
BROKEN = 1e300


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A per-trial seed, well spread, reproducible from the study seed and trial number."""
    return int(np.random.SeedSequence([study_seed, trial_number]).generate_state(1)[0] >> 1)


class KerasObjective:
    """Callable by Optuna: ``objective(trial) -> best objective value`` for one space.

    The data is given once and shared by every trial; Keras' global state is cleared before
    each trial, so every trial starts from the same fresh state.
    """

    def __init__(
        self,
        space: Space,
        data: Dataset,
        *,
        max_epochs: int | None = None,
        patience: int | None = None,
        seed: int = 0,
        on_epoch: EpochHook | None = None,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        flag: StopFlag | None = None,
        tensorboard: Path | None = None,
    ) -> None:
        self.space = space
        self.data = data
        self.max_epochs = max_epochs or space.max_epochs
        self.patience = space.patience if patience is None else patience
        self.seed = seed
        self.on_epoch = on_epoch
        self.callbacks = list(callbacks)
        # The sweep's stop-on-signal and deadline check, when a sweep runs it.
        self.stop_check = StopOnRequest(flag) if flag is not None else None
        # Where each trial writes its TensorBoard logs, if anywhere (sweeper.training.tensorboard).
        self.tensorboard = tensorboard
        if tensorboard is not None:
            from sweeper.training.tensorboard import write_experiment

            write_experiment(tensorboard, space)

    @classmethod
    def for_sweep(
        cls,
        space: Space,
        data: Dataset,
        config: SweepConfig,
        observer: SweepObserver,
        flag: StopFlag,
    ) -> KerasObjective:
        """The objective as a sweep runs it: the configuration's epochs, patience and seed,
        each epoch reported to the observer, and a stop request ending the trial. First the
        model is checked against the data, once."""
        from sweeper.training.contract import check_model_fits_data

        check_model_fits_data(space, data)
        return cls(
            space,
            data,
            max_epochs=config.epochs,
            patience=config.patience,
            seed=config.seed,
            on_epoch=observer.epoch_ended,
            flag=flag,
            tensorboard=config.results(space.name).tensorboard if config.tensorboard else None,
        )

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        started = time.perf_counter()
        params = self.space.suggest(trial)
        # KerasTuner's Hyperband sizes each trial; any other engine trains up to max_epochs.
        epochs = min(int(trial.user_attrs.get(EPOCH_BUDGET, self.max_epochs)), self.max_epochs)
        seed = trial_seed(self.seed, trial.number)
        trial.set_user_attr(SEED, seed)
        keras.backend.clear_session()  # also runs gc.collect(): the last trial's graphs go
        keras.utils.set_random_seed(seed)

        history = keras.callbacks.History()
        clock = EpochClock(started)
        fit_time = 0.0
        meter = CostMeter(self.data.x_val, self._largest_batch())
        try:
            model, callbacks = compile_model(self.space, params, self.data, epochs, self.patience)
            fit_started = time.perf_counter()
            try:
                fit_model(
                    self.space,
                    trial,
                    params,
                    model,
                    self.data.x_train,
                    self.data.y_train,
                    validation_data=(self.data.x_val, self.data.y_val),
                    epochs=epochs,
                    # History (and its clock) after the schedule's callbacks, so it records
                    # the learning rate ReduceLROnPlateau logs (retrain replays it); before
                    # pruning, so a pruned trial keeps its last epoch.
                    callbacks=[
                        *callbacks,
                        history,
                        clock,
                        *self._callbacks(trial, params, meter),
                    ],
                    verbose=0,
                )
            finally:
                # Less any measuring a pruner of several objectives asked for in an epoch.
                fit_time = time.perf_counter() - fit_started - meter.seconds
            known = self._measure(trial, model, meter, fit_time, history.history)
            return self._values(history.history, known)
        except (optuna.TrialPruned, TrialDiverged):  # both end pruned; its model costs the same
            self._measure(trial, model, meter, fit_time, history.history)
            raise
        except (TrialFailed, FatalTrialError):
            raise
        except Exception as exc:  # noqa: BLE001 - any training error fails only this trial
            raise TrialFailed(describe_failure(exc)) from exc
        finally:
            wall = time.perf_counter() - started
            self._record(trial, history.history, wall, fit_time, clock.times)
            if self.stop_check is not None and self.stop_check.cut:
                trial.set_user_attr(STOPPED_BY, "timeout")

    def _callbacks(self, trial: optuna.Trial, params: Mapping[str, Any], meter: CostMeter) -> list:
        space = self.space
        logs = []
        if self.tensorboard is not None:
            from sweeper.training.tensorboard import trial_callbacks

            logs = trial_callbacks(self.tensorboard, trial.number, params)
        return [
            *logs,
            StopOnNaN(),
            TrialMonitor(space.objective, trial.number, self.on_epoch),
            keras.callbacks.EarlyStopping(
                monitor=space.objective,
                mode=space.keras_mode,
                patience=self.patience,
                restore_best_weights=True,
            ),
            PruningCallback(trial, space.objective, meter),  # after EarlyStopping: its stop
            *self.callbacks,
            *([self.stop_check] if self.stop_check is not None else []),
        ]

    def _largest_batch(self) -> int:
        training = self.space.training
        return max(training.batch_sizes) if training is not None else DEFAULT_BATCH

    def _measure(
        self,
        trial: optuna.Trial,
        model: keras.Model,
        meter: CostMeter,
        fit_time: float,
        history: Mapping[str, list],
    ) -> dict[str, tuple[float | None, str]]:
        """Measure (unless the pruner had it measured already) and record the trained
        model's costs, and the trial's standing against the space's constraints (Optuna's
        ``Trial.set_constraint``: every constraint-aware sampler reads it). Returns each
        cost and metric at the best epoch, with why it is missing where it is."""
        costs, errors = meter.costs(model, fit_time)
        trial.set_user_attr(COSTS, costs)
        if errors:
            trial.set_user_attr(COST_ERRORS, errors)
        trial.set_user_attr(COST_TIME_S, round(meter.seconds, 3))
        known = {name: (value, errors.get(name, "")) for name, value in costs.items()}
        at_best = metrics_at(history, self._best_trained_epoch(history))
        for name in history:
            known.setdefault(name, (at_best.get(name), "it was not finite at the best epoch"))
        for constraint in self.space.constraint_list:
            value, _ = known.get(constraint.name, (None, ""))
            trial.set_constraint(str(constraint), min(constraint.violation(value), BROKEN))
        return known

    def _values(
        self, history: Mapping[str, list], known: dict[str, tuple[float | None, str]]
    ) -> float | list[float]:
        """The trial's value, or with several objectives its values, in their order."""
        values = [self._best_value(history)]
        for goal in self.space.goals[1:]:
            value, why = known.get(goal.name, (None, f"Keras reported no {goal.name}"))
            if value is None or not math.isfinite(value):
                raise TrialFailed(f"objective {goal.name} could not be measured: {why}")
            values.append(float(value))
        return values[0] if len(values) == 1 else values

    def _best_value(self, history: Mapping[str, list]) -> float:
        epoch = self._best_trained_epoch(history)
        if epoch is None:
            raise TrialFailed(f"objective {self.space.objective} was never finite")
        return float(history[self.space.objective][epoch - 1])

    def _best_trained_epoch(self, history: Mapping[str, list]) -> int | None:
        return best_trained_epoch(history, self.space.objective, self.space.direction)

    def _record(
        self,
        trial,
        history: Mapping[str, list],
        wall: float,
        fit: float,
        epoch_end: list[float],
    ) -> None:
        best = self._best_trained_epoch(history)
        for key, value in outcome_attrs(history, best, wall, fit, epoch_end).items():
            trial.set_user_attr(key, value)
