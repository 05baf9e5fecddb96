"""The trial record: what sweeper writes on each Optuna trial, and a typed view to read it.

Every engine that runs trials for sweeper writes these user attributes, and everything that
reads trials (recovery, progress, report, HTML, retrain, CLI) reads them through
``TrialRecord``. docs/storage.md documents the schema for other tools.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

# User attributes of a trial. The values are part of the storage format: never rename them.
SEED = "seed"  # int: the trial's own seed (Keras' random state)
HISTORY = "history"  # {metric: [value per epoch]}, non-finite values as null
EPOCHS_RUN = "epochs_run"  # int
BEST_EPOCH = "best_epoch"  # int (1-based) or null: the best value's epoch, the latest of ties
METRICS = "metrics"  # {metric: value} at the best epoch
WALL_TIME_S = "wall_time_s"  # float: the whole trial, build and data hand-over included
FIT_TIME_S = "fit_time_s"  # float: model.fit alone
EPOCH_END_S = "epoch_end_s"  # [float]: seconds from the trial's start to each epoch's end
FAIL_REASON = "fail_reason"  # str: one line, on failed trials and diverged (pruned) ones
OWNER = "worker"  # {host, pid, created, worker, device, sampler_seed}: who runs it
RETRY_OF = "retry_of"  # int: the number of the lost trial this one retries
# "timeout": cut short when the sweep's time ran out; "diverged" (DIVERGED): its loss became
# NaN or infinite, and it was pruned at its last finite epoch
STOPPED_BY = "stopped_by"
WARM_START_FROM = "warm_start_from"  # str: the earlier sweep (storage) this trial came from
STARTING_POINT = "starting_point"  # int: which of the space's starting points it trains
ENGINE = "engine"  # str: the engine that chose the values, when not DEFAULT_ENGINE
EPOCH_BUDGET = "epoch_budget"  # int: the epochs a KerasTuner Hyperband trial may train
COSTS = "costs"  # {cost: value or null} (space.goals.COSTS), measured once a trial trains
COST_ERRORS = "cost_errors"  # {cost: why it could not be measured}, only those that failed
COST_TIME_S = "cost_time_s"  # float: the time measuring the costs took

DEFAULT_ENGINE = "optuna"  # what a trial without ENGINE was chosen by
DIVERGED = "diverged"  # STOPPED_BY of a trial whose training diverged

# Failure reasons that mean the machinery lost the trial, not that its configuration failed.
WORKER_DIED = "worker died"
INTERRUPTED = "interrupted"
# On a database, a trial whose heartbeat stopped (its machine or process vanished) is failed
# by Optuna itself, which gives no reason: sweeper fails every trial it fails with one.
NO_HEARTBEAT = "worker died (no heartbeat)"
LOST_REASONS = (WORKER_DIED, INTERRUPTED, NO_HEARTBEAT)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

T = TypeVar("T")


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def outcome_attrs(
    history: Mapping[str, list[float]],
    best_epoch: int | None,
    wall: float,
    fit: float,
    epoch_end: Sequence[float] = (),
) -> dict[str, Any]:
    """The attributes a trial's training writes, whatever its outcome."""
    return {
        HISTORY: _clean(history),
        EPOCHS_RUN: len(history.get("loss", [])),
        BEST_EPOCH: best_epoch,
        METRICS: metrics_at(history, best_epoch),
        WALL_TIME_S: round(wall, 3),
        FIT_TIME_S: round(fit, 3),
        EPOCH_END_S: [round(seconds, 3) for seconds in epoch_end],
    }


def metrics_at(
    history: Mapping[str, list[float]], best_epoch: int | None
) -> dict[str, float | None]:
    """Each metric at the (1-based) best epoch; None where it was not finite there."""
    if not best_epoch:
        return {}
    return {name: values[best_epoch - 1] for name, values in _clean(history).items()}


def _clean(history: Mapping[str, list[float]]) -> dict[str, list[float | None]]:
    return {name: [_finite_or_none(v) for v in values] for name, values in history.items()}


def best_epoch(values: Sequence[float | None], direction: str) -> int | None:
    """1-based epoch of the best finite value in ``direction``, or None. Epochs tied at the
    best go to the latest: validation cannot tell them apart, and the winner is re-trained
    for this many epochs. A saturated metric (accuracy at 1.0) ties for epochs on end, and a
    model that learns later from another seed needs them: winners re-trained to the latest
    re-tested better at 6 of 8 such ties (docs/benchmarks.md)."""
    sign = 1 if direction == "maximize" else -1
    finite = [(sign * v, i) for i, v in enumerate(values, 1) if v is not None and math.isfinite(v)]
    return max(finite)[1] if finite else None


def best_trained_epoch(
    history: Mapping[str, Sequence[float | None]], metric: str, direction: str
) -> int | None:
    """The best epoch of ``metric`` before the loss became NaN, if it did: a diverged epoch's
    metrics score broken weights, and restoring them or re-training to them gains nothing."""
    return best_epoch(before_divergence(history.get(metric, []), history), direction)


def before_divergence(
    values: Sequence[T], history: Mapping[str, Sequence[float | None]]
) -> list[T]:
    """``values`` (one per epoch) up to the epoch whose loss became NaN or infinite (null in a
    recorded history), if one did: that epoch's metrics score a model whose weights broke
    (the digits' val_accuracy: 0.10, chance)."""
    losses = history.get("loss", [])
    broken = next((i for i, v in enumerate(losses) if v is None or not math.isfinite(v)), None)
    return list(values if broken is None else values[:broken])


@dataclass(frozen=True)
class TrialRecord:
    """A finished or running trial as sweeper recorded it; missing attributes read as None."""

    number: int
    state: TrialState
    value: float | None
    params: Mapping[str, Any]
    seed: int | None
    history: Mapping[str, list[float | None]]
    epochs_run: int | None
    best_epoch: int | None
    metrics: Mapping[str, float | None]
    wall_time_s: float | None
    fit_time_s: float | None
    epoch_end_s: list[float]
    fail_reason: str | None
    owner: Mapping[str, Any] | None
    retry_of: int | None
    stopped_by: str | None
    warm_start_from: str | None
    engine: str  # what chose the trial's values
    costs: Mapping[str, float | None]
    cost_errors: Mapping[str, str]
    cost_time_s: float | None

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs
        return cls(
            number=trial.number,
            state=trial.state,
            # The first objective's value: with several, Optuna's ``trial.value`` raises.
            value=trial.values[0] if trial.values else None,
            params=trial.params,
            seed=attrs.get(SEED),
            history=attrs.get(HISTORY) or {},
            epochs_run=attrs.get(EPOCHS_RUN),
            best_epoch=attrs.get(BEST_EPOCH),
            metrics=attrs.get(METRICS) or {},
            wall_time_s=attrs.get(WALL_TIME_S),
            fit_time_s=attrs.get(FIT_TIME_S),
            epoch_end_s=attrs.get(EPOCH_END_S) or [],
            fail_reason=fail_reason(trial),
            owner=attrs.get(OWNER),
            retry_of=attrs.get(RETRY_OF),
            stopped_by=attrs.get(STOPPED_BY),
            warm_start_from=attrs.get(WARM_START_FROM),
            engine=attrs.get(ENGINE, DEFAULT_ENGINE),
            costs=attrs.get(COSTS) or {},
            cost_errors=attrs.get(COST_ERRORS) or {},
            cost_time_s=attrs.get(COST_TIME_S),
        )

    @property
    def is_lost(self) -> bool:
        """Failed because a worker died or was stopped: retried, and not counted."""
        return self.state == TrialState.FAIL and self.fail_reason in LOST_REASONS

    @property
    def diverged(self) -> bool:
        """Its training diverged: its loss became NaN or infinite. Such a trial is pruned and
        ``stopped_by`` "diverged"; older studies failed it, with the loss (or validation loss)
        null in its history."""
        if self.state == TrialState.PRUNED:
            return self.stopped_by == DIVERGED
        return self.state == TrialState.FAIL and any(
            value is None for name in ("loss", "val_loss") for value in self.history.get(name, [])
        )

    @property
    def why_ended(self) -> str | None:
        """Why it ended before training through, in one line, where sweeper knows: a failed
        trial's reason, or "diverged (loss became NaN at epoch 3)"."""
        if self.state == TrialState.PRUNED and self.diverged:
            return f"{DIVERGED} ({self.fail_reason})" if self.fail_reason else DIVERGED
        return self.fail_reason


def fail_reason(trial: FrozenTrial) -> str | None:
    """Why a trial failed or diverged: its recorded reason, or, for one Optuna failed, no
    heartbeat."""
    reason = trial.user_attrs.get(FAIL_REASON)
    if reason is None and trial.state == TrialState.FAIL:
        return NO_HEARTBEAT
    return reason


def is_lost(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and fail_reason(trial) in LOST_REASONS


def is_warm(trial: FrozenTrial) -> bool:
    """Added from an earlier sweep (--warm-start), not run in this one."""
    return WARM_START_FROM in trial.user_attrs


def counted(trials: list[FrozenTrial]) -> int:
    """Trials that count against the budget: complete, pruned and failed, except trials lost
    to a dead or stopped worker (they are retried instead) and those an earlier sweep ran."""
    return sum(t.state in FINISHED and not is_lost(t) and not is_warm(t) for t in trials)


def count_finished(study: optuna.Study) -> int:
    """Trials that count against the budget (``record.counted``)."""
    return counted(study.get_trials(deepcopy=False))


def count_queued(study: optuna.Study) -> int:
    """Trials queued and not yet begun (``--enqueue`` points, a starting point the budget
    ended before): the sweep's next run tries them first."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
