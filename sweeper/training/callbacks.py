"""The Keras callbacks a trial trains with, besides Keras' own EarlyStopping: divergence,
stop requests and the sweep's deadline, the objective's check and report, and pruning.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import optuna
from optuna_integration.keras import KerasPruningCallback

from sweeper.errors import FatalTrialError, TrialDiverged
from sweeper.search.pruners import EpochBehindPruner
from sweeper.training.costs import CostMeter

if TYPE_CHECKING:
    from sweeper.trials.stop import StopFlag

EpochHook = Callable[[int, int, Mapping[str, float]], None]


class StopOnNaN(keras.callbacks.Callback):
    """Keras' TerminateOnNaN without its print: it writes "Batch N: Invalid loss, terminating
    training" to stdout, into the live view; the trial's record says it once instead."""

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


class EpochClock(keras.callbacks.Callback):
    """Seconds from the trial's start (``started``, a ``time.perf_counter()``) to each epoch's
    end, its validation included: when each value of the trial's history was known. Keras'
    History keeps the values but not when they came."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started
        self.times: list[float] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.times.append(time.perf_counter() - self.started)


class TrialMonitor(keras.callbacks.Callback):
    """Ends a diverged trial (``TrialDiverged``), stops the sweep at once if the objective
    metric never shows up, and reports each epoch to the progress view. It runs before
    ``PruningCallback``, so the epoch whose loss became NaN is never reported to Optuna: a
    diverged trial's reported values end at its last finite epoch."""

    def __init__(self, objective: str, trial_number: int, on_epoch: EpochHook | None) -> None:
        super().__init__()
        self._objective = objective
        self._trial_number = trial_number
        self._on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        logs = logs or {}
        if not math.isfinite(logs.get("loss", 0.0)):  # StopOnNaN stopped the epoch
            raise TrialDiverged(f"loss became NaN at epoch {epoch + 1}")
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

    def __init__(self, trial: optuna.Trial, monitor: str, meter: CostMeter | None = None) -> None:
        super().__init__(trial, monitor)
        self.trial, self.monitor, self.meter = trial, monitor, meter
        self.curve: dict[int, float] = {}  # by step, for a study of several objectives

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        last = self.model.stop_training or epoch + 1 >= self.params.get("epochs", math.inf)
        value = (logs or {}).get(self.monitor)
        study = getattr(self.trial, "study", None)  # a FixedTrial has none
        if study is not None and len(study.directions) > 1:
            self._judge_several(epoch, value, last)
        elif not last or value is None:
            super().on_epoch_end(epoch, dict(logs or {}))
        else:
            self.trial.report(float(value), step=epoch)

    def _judge_several(self, epoch: int, value: float | None, last: bool) -> None:
        """Optuna's trials report nothing with several objectives: sweeper's own pruner
        judges the primary objective's curve (``EpochBehindPruner.prune_several``) against
        the finished trials no costlier than this one, whose costs the meter measures the
        first time (and the trial keeps); the plan allows no other pruner there but none."""
        if value is None:
            return
        self.curve[epoch] = float(value)
        pruner = self.trial.study.pruner
        if last or not isinstance(pruner, EpochBehindPruner):
            return
        if not pruner.judges(self.trial.user_attrs):
            return
        costs = self.meter.measure(self.model)[0] if self.meter is not None else None
        if pruner.prune_several(self.trial.study, self.monitor, self.curve, costs):
            raise optuna.TrialPruned(f"Trial was pruned at epoch {epoch}.")
