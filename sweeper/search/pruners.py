"""Optuna pruners by name (``PRUNERS``), and sweeper's default: ``EpochBehindPruner``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import optuna

from sweeper.search.samplers import by_name


class EpochBehindPruner(optuna.pruners.BasePruner):
    """Stops a trial once it is a whole epoch behind the finished trials: its best value so
    far is worse than their median one epoch earlier.

    Optuna's ``MedianPruner`` compares at the same epoch. With one finished trial (the
    starting point) that bar is a single noisy curve, and it stopped trials as good as the
    start on a handful of validation examples: at 3,000 images, 0.857 against 0.858. An
    epoch's progress is a tolerance in the objective's own units, wide while trials still
    learn fast and narrow once they level off; diverged draws are still far behind at once.

    The first epoch has no epoch before it, so there the bar is the finished trials' median
    less their median's next epoch of progress (epoch 1 minus the gain to epoch 2): the same
    tolerance as at epoch 2, one epoch sooner. A draw that has not learned stops after one
    epoch, not two to four: at 240 s (benchmarks/search_efficiency.py, five seeds a task) a
    pruned trial trained 1.5 epochs, not 2.5, and the median time to the upper target fell
    (MNIST 171 s against 214 s; Fashion-MNIST 228 s against never, in one sitting).

    It judges only while at least half of ``max_epochs`` is left to save. A trial that has kept
    up that long is a good one, and stopping it later saves a few epochs at the cost of the
    trials most likely to top the sweep: at 240 s on MNIST (benchmarks/search_efficiency.py)
    it stopped six trials at epochs 7 and 8 of 9 at 0.980 to 0.986, the best at 0.987.
    """

    def __init__(self, max_epochs: int) -> None:
        # Epochs are counted from 1; the pruner's steps from 0.
        self._last_step = max(1, max_epochs // 2 - 1)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step > self._last_step:
            return False
        finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
        bar = _bar(finished, step, sign)
        if bar is None:
            return False
        reached = [sign * v for v in trial.intermediate_values.values() if np.isfinite(v)]
        return not reached or max(reached) < bar


def _median_at(trials: list[optuna.trial.FrozenTrial], step: int, sign: int) -> float | None:
    """The trials' median value at ``step``, in maximising terms; None if none reported it
    (those that stopped before it are left out)."""
    values = [t.intermediate_values.get(step, np.nan) for t in trials]
    values = [sign * v for v in values if np.isfinite(v)]
    return float(np.median(values)) if values else None


def _bar(finished: list[optuna.trial.FrozenTrial], step: int, sign: int) -> float | None:
    """What a trial at ``step`` must have reached (maximising terms): the finished trials'
    median one epoch earlier, or at the first epoch that median less its next epoch's gain."""
    if step > 0:
        return _median_at(finished, step - 1, sign)
    first, second = _median_at(finished, 0, sign), _median_at(finished, 1, sign)
    if first is None or second is None or second <= first:
        return None  # no progress from epoch 1 to 2 to measure a tolerance by
    return first - (second - first)


PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    # From the second trial on, trial 0 (a known-good starting point, sweeper.search.head_start)
    # sets the bar. At 240 s, 12,000 / 3,000 images (benchmarks/search_efficiency.py), the
    # median rule at the same epoch stopped start-up trials on a tie with it that, let run,
    # beat it on Fashion-MNIST.
    "epoch_behind": lambda max_epochs: EpochBehindPruner(max_epochs),
    # The median rule from the second trial, judging from epoch 2. In 45-second searches it
    # stopped diverged draws that Hyperband, with too few trials per bracket to compare, let
    # run to their early stop.
    "median": lambda max_epochs: optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
    "hyperband": lambda max_epochs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=max_epochs, reduction_factor=3
    ),
    "successive_halving": lambda max_epochs: optuna.pruners.SuccessiveHalvingPruner(),
    "none": lambda max_epochs: optuna.pruners.NopPruner(),
}


PrunerLike = str | optuna.pruners.BasePruner


def make_pruner(pruner: PrunerLike, max_epochs: int) -> optuna.pruners.BasePruner:
    """A pruner by registry name, sized to the epoch budget; an Optuna pruner object as it is."""
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    return by_name(PRUNERS, "pruner", pruner)(max_epochs)
