"""Learning-rate schedules, by name: the registry every space draws from.

A schedule turns the sampled base learning rate into what the optimizer takes (a float or a
``keras.optimizers.schedules`` object) plus any callbacks it needs (ReduceLROnPlateau).
Schedules that decay over training get their step count from the ``StepBudget``: data size,
batch size and epoch budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sweeper.space.params import Float, Param

LR_DECAY_RATE = Float("lr_decay_rate", 0.01, 0.5, log=True)
WARMUP_FRACTION = Float("warmup_fraction", 0.02, 0.3)
PIECEWISE_DROP = Float("piecewise_drop", 0.05, 0.5, log=True)
PLATEAU_FACTOR = Float("plateau_factor", 0.1, 0.5)


@dataclass(frozen=True)
class StepBudget:
    """How long a trial trains, and what it watches: all a schedule needs to know."""

    n_examples: int
    batch_size: int
    epochs: int
    monitor: str
    mode: str  # "min" or "max", as Keras callbacks spell it
    patience: int

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.n_examples / self.batch_size))

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


@dataclass(frozen=True)
class ScheduleSpec:
    build: Callable[[float, Mapping[str, Any], StepBudget], tuple[Any, list]]
    extras: tuple[Param, ...] = ()


def _constant(lr, params, budget):
    return lr, []


def _exponential(lr, params, budget):
    import keras

    # Decays to lr * lr_decay_rate by the end of the epoch budget.
    schedule = keras.optimizers.schedules.ExponentialDecay(
        lr, decay_steps=budget.total_steps, decay_rate=params["lr_decay_rate"]
    )
    return schedule, []


def _cosine(lr, params, budget):
    import keras

    return keras.optimizers.schedules.CosineDecay(lr, decay_steps=budget.total_steps), []


def _warmup_cosine(lr, params, budget):
    import keras

    warmup = max(1, round(budget.total_steps * params["warmup_fraction"]))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, budget.total_steps - warmup),
        warmup_target=lr,
        warmup_steps=warmup,
    )
    return schedule, []


def _piecewise(lr, params, budget):
    import keras

    # The classic recipe: drop the rate at half and at three quarters of training.
    total, drop = budget.total_steps, params["piecewise_drop"]
    boundaries = [max(1, total // 2), max(2, 3 * total // 4)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [lr, lr * drop, lr * drop * drop]
    )
    return schedule, []


def _plateau(lr, params, budget):
    import keras

    # Half the early-stopping patience, so the rate drops before training is given up.
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor=budget.monitor,
        mode=budget.mode,
        factor=params["plateau_factor"],
        patience=max(1, budget.patience // 2),
        min_lr=lr * 1e-3,
    )
    return lr, [callback]


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(_constant),
    "exponential": ScheduleSpec(_exponential, (LR_DECAY_RATE,)),
    "cosine": ScheduleSpec(_cosine),
    "warmup_cosine": ScheduleSpec(_warmup_cosine, (WARMUP_FRACTION,)),
    "piecewise": ScheduleSpec(_piecewise, (PIECEWISE_DROP,)),
    "plateau": ScheduleSpec(_plateau, (PLATEAU_FACTOR,)),
}


def build_learning_rate(params: Mapping[str, Any], budget: StepBudget) -> tuple[Any, list]:
    """The optimizer's learning rate (float or schedule) and the callbacks the schedule needs."""
    spec = SCHEDULES[params["lr_schedule"]]
    return spec.build(params["learning_rate"], params, budget)
