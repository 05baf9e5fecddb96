"""The Keras objective: one Optuna trial trains one model and reports how good it is.

The trial samples its parameters from the space, the library turns the shared ones into a
Keras optimizer, learning-rate schedule and clipping, and ``model.fit`` runs with
EarlyStopping (best weights restored), Optuna's pruning callback and StopOnNaN. Whatever
happens, the trial records its history, best epoch, epochs run, wall time and seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import optuna
from optuna_integration.keras import KerasPruningCallback

from sweeper.errors import FatalTrialError, TrialFailed, describe_failure
from sweeper.space.data import Dataset
from sweeper.space.optimizers import build_optimizer
from sweeper.space.options import (
    build_loss,
    class_weights,
    dtype_policy,
    float32_outputs,
    weight_averaging,
)
from sweeper.space.schedules import StepBudget, build_learning_rate
from sweeper.space.space import Space
from sweeper.storage.record import EPOCH_BUDGET, SEED, STOPPED_BY, outcome_attrs

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.report.live import SweepObserver
    from sweeper.trials.loop import StopFlag

EpochHook = Callable[[int, int, Mapping[str, float]], None]


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A per-trial seed, well spread, reproducible from the study seed and trial number."""
    return int(np.random.SeedSequence([study_seed, trial_number]).generate_state(1)[0] >> 1)


class StopOnNaN(keras.callbacks.Callback):
    """Keras' TerminateOnNaN without its print: it writes "Batch N: Invalid loss, terminating
    training" to stdout, into the live view; the trial's fail_reason says it once instead."""

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True


class StopOnRequest(keras.callbacks.Callback):
    """Ends the trial at the next batch once a stop was requested (Ctrl-C, SIGTERM, the
    supervisor gone): the trial loop records it as "interrupted", never mid-write. At the
    sweep's deadline it stops training instead (``cut``): the trial keeps what it reached."""

    def __init__(self, flag: StopFlag) -> None:
        super().__init__()
        self.flag = flag
        self.cut = False

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.cut = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.flag.requested:
            raise KeyboardInterrupt
        if self.flag.time_is_up() and not self.cut:
            self.cut = self.model.stop_training = True  # this epoch ends and is validated

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.flag.requested:
            raise KeyboardInterrupt


class _TrialMonitor(keras.callbacks.Callback):
    """Ends a diverged trial as failed (before the pruner sees it), stops the sweep at once
    if the objective metric never shows up, and reports each epoch to the progress view."""

    def __init__(self, objective: str, trial_number: int, on_epoch: EpochHook | None) -> None:
        super().__init__()
        self._objective = objective
        self._trial_number = trial_number
        self._on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        logs = logs or {}
        if not math.isfinite(logs.get("loss", 0.0)):  # StopOnNaN stopped the epoch
            raise TrialFailed(f"loss became NaN at epoch {epoch + 1}")
        if self._objective not in logs:
            raise FatalTrialError(
                f"objective {self._objective!r} is not among the metrics Keras reports "
                f"({', '.join(logs)}); fix the space's objective or metrics"
            )
        if self._on_epoch is not None:
            self._on_epoch(self._trial_number, epoch + 1, logs)


class PruningCallback(KerasPruningCallback):
    """Optuna's pruning callback, except on a trial's last epoch (its final one, or one after
    which an early stop or the sweep's deadline ends training anyway): that epoch is
    reported, not judged. Pruning there saves no training, and would hide a finished
    trial's value from the winner's pick and the sampler. One 240 s MNIST sweep (12,000
    images) pruned three trials within 0.2 points of its best at their ninth and last epoch:
    118 s of its budget, and TPE then counted them among its bad trials."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        super().__init__(trial, monitor)
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        last = self.model.stop_training or epoch + 1 >= self.params.get("epochs", math.inf)
        value = (logs or {}).get(self.monitor)
        if not last or value is None:
            super().on_epoch_end(epoch, dict(logs or {}))
        else:
            self.trial.report(float(value), step=epoch)


def compile_model(
    space: Space, params: Mapping[str, Any], data: Dataset, epochs: int, patience: int | None = None
):
    """Build and compile the space's model for one configuration: ``(model, callbacks)``.

    The one model-building path, shared by the sweep's trials and the winner's re-training.
    Decaying schedules and weight averaging are sized to ``epochs`` over ``data.x_train``;
    the callbacks are those they need (SwapEMAWeights; ReduceLROnPlateau, waiting
    ``patience`` epochs, by default the space's). An unbuildable configuration raises
    ``TrialFailed`` with the reason.
    """
    with dtype_policy(params):  # mixed precision: layers take the policy when created
        try:
            model = space.build(params, data)
        except Exception as exc:  # noqa: BLE001 - an unbuildable configuration is one bad trial
            raise TrialFailed(f"model could not be built: {describe_failure(exc)}") from exc
        model = float32_outputs(model, params)
    if space.training is None:  # a hypermodel that compiles its own: optimizer, loss, metrics
        return model, []
    budget = StepBudget(
        n_examples=len(data.x_train),
        batch_size=params["batch_size"],
        epochs=epochs,
        monitor=space.objective,
        mode=space.keras_mode,
        patience=space.patience if patience is None else patience,
    )
    learning_rate, schedule_callbacks = build_learning_rate(params, budget)
    averaging, averaging_callbacks = weight_averaging(params, budget.steps_per_epoch)
    model.compile(
        optimizer=build_optimizer(learning_rate, params, averaging),
        loss=build_loss(params, space.loss),
        metrics=list(space.metrics),
        steps_per_execution=params.get("steps_per_execution") or steps_per_execution(budget),
        jit_compile=params.get("jit_compile", "auto"),
    )
    # The averaged weights go in first, so every callback after them sees those.
    return model, [*averaging_callbacks, *schedule_callbacks]


# Examples one call into the backend should cover. Small models on small batches spend much
# of each step in Python: on 2 cores, a CNN on 3,000 MNIST images at batch size 32 took 2.0 s
# an epoch at one step per call and 1.3 s at 16 (a bare model.fit); batch size 256
# gains nothing. Callbacks then see every N-th batch, which is all the stop check needs.
EXAMPLES_PER_EXECUTION = 512


def steps_per_execution(budget: StepBudget) -> int:
    """Training steps per backend call (PyTorch's backend takes only 1)."""
    if keras.config.backend() == "torch":
        return 1
    return max(1, min(EXAMPLES_PER_EXECUTION // budget.batch_size, budget.steps_per_epoch))


def fit_model(space: Space, trial: optuna.trial.BaseTrial, params, model, x, y, **kwargs) -> None:
    """``model.fit``, or the hypermodel's ``fit`` (KerasTuner's ``HyperModel.fit``), whose
    ``hp`` draws what it asks for from ``trial`` (a ``FixedTrial`` when re-training). The
    batch size and class weights are the space's ``Training`` ones; without ``Training``,
    the hypermodel's."""
    if space.training is not None:
        kwargs["batch_size"] = params["batch_size"]
        kwargs["class_weight"] = class_weights(params, space.training.fixed_class_weight, y)
    if space.hypermodel is None:
        model.fit(x, y, **kwargs)
        return
    from sweeper.space.hypermodel import TrialHyperParameters, fit

    fit(space.hypermodel, TrialHyperParameters(trial, params), model, x, y, **kwargs)


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

    def __call__(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        params = self.space.suggest(trial)
        # KerasTuner's Hyperband sizes each trial; any other engine trains up to max_epochs.
        epochs = min(int(trial.user_attrs.get(EPOCH_BUDGET, self.max_epochs)), self.max_epochs)
        seed = trial_seed(self.seed, trial.number)
        trial.set_user_attr(SEED, seed)
        keras.backend.clear_session()  # also runs gc.collect(): the last trial's graphs go
        keras.utils.set_random_seed(seed)

        history = keras.callbacks.History()
        fit_time = 0.0
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
                    # History after the schedule's callbacks, so it records the learning
                    # rate ReduceLROnPlateau logs (retrain replays it); before pruning, so a
                    # pruned trial keeps its last epoch.
                    callbacks=[*callbacks, history, *self._callbacks(trial, params)],
                    verbose=0,
                )
            finally:
                fit_time = time.perf_counter() - fit_started
            return self._best_value(history.history)
        except (optuna.TrialPruned, TrialFailed, FatalTrialError):
            raise
        except Exception as exc:  # noqa: BLE001 - any training error fails only this trial
            raise TrialFailed(describe_failure(exc)) from exc
        finally:
            self._record(trial, history.history, time.perf_counter() - started, fit_time)
            if self.stop_check is not None and self.stop_check.cut:
                trial.set_user_attr(STOPPED_BY, "timeout")

    def _callbacks(self, trial: optuna.Trial, params: Mapping[str, Any]) -> list:
        space = self.space
        logs = []
        if self.tensorboard is not None:
            from sweeper.training.tensorboard import trial_callbacks

            logs = trial_callbacks(self.tensorboard, trial.number, params)
        return [
            *logs,
            StopOnNaN(),
            _TrialMonitor(space.objective, trial.number, self.on_epoch),
            keras.callbacks.EarlyStopping(
                monitor=space.objective,
                mode=space.keras_mode,
                patience=self.patience,
                restore_best_weights=True,
            ),
            PruningCallback(trial, space.objective),  # after EarlyStopping: sees its stop
            *self.callbacks,
            *([self.stop_check] if self.stop_check is not None else []),
        ]

    def _best_value(self, history: Mapping[str, list]) -> float:
        best_epoch = self.best_epoch(history.get(self.space.objective, []))
        if best_epoch is None:
            raise TrialFailed(f"objective {self.space.objective} was never finite")
        return float(history[self.space.objective][best_epoch - 1])

    def best_epoch(self, values: list[float]) -> int | None:
        """1-based epoch of the best finite value in the study's direction, or None."""
        finite = [(v, i) for i, v in enumerate(values, start=1) if math.isfinite(v)]
        if not finite:
            return None
        if self.space.direction == "maximize":  # ties go to the earliest epoch
            return max(finite, key=lambda item: (item[0], -item[1]))[1]
        return min(finite)[1]

    def _record(self, trial, history: Mapping[str, list], wall: float, fit: float) -> None:
        best = self.best_epoch(history.get(self.space.objective, []))
        for key, value in outcome_attrs(history, best, wall, fit).items():
            trial.set_user_attr(key, value)
