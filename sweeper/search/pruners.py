"""Optuna pruners by name (``PRUNERS``), and sweeper's default: ``EpochBehindPruner``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import optuna

from sweeper.errors import SettingError
from sweeper.search.samplers import by_name
from sweeper.storage.record import STARTING_POINT, TrialRecord
from sweeper.storage.standing import StudyGoals


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

    It does not judge the space's starting points (``sweeper.search.head_start``): the bolder
    one goes first and is the quicker in its first epochs. Judged against it, the well-worn
    one was stopped at its first to third epoch on the MLP task of
    benchmarks/search_efficiency.py (120 s, three seeds), the bolder curve alone set the bar,
    the sweeps trained fewer epochs (149 against 169 at the median) and reached 84 % at 52 s
    against 24 s. Trained to their end, the two starts set the bar together.

    It judges only while at least half of ``max_epochs`` is left to save. A trial that has kept
    up that long is a good one, and stopping it later saves a few epochs at the cost of the
    trials most likely to top the sweep: at 240 s on MNIST (benchmarks/search_efficiency.py)
    it stopped six trials at epochs 7 and 8 of 9 at 0.980 to 0.986, the best at 0.987.

    With several objectives Optuna's trials report nothing per epoch (``Trial.report`` is
    single-objective), so the callback hands the running trial's curve to ``prune_several``,
    which reads the finished trials' curves from their recorded histories: the same rule, on
    the primary objective, against the finished trials that are no costlier than the running
    one (``peers``). Behind them, it is beaten on every objective; behind only costlier ones,
    it may still be on the front. Against every finished trial, the rule stopped the small
    models at epoch 1, the very ones a front of accuracy against size needs
    (benchmarks/accuracy_cost.py).
    """

    def __init__(self, max_epochs: int) -> None:
        # Epochs are counted from 1; the pruner's steps from 0.
        self._last_step = max(1, max_epochs // 2 - 1)

    @staticmethod
    def judges(user_attrs: Mapping[str, object]) -> bool:
        """Whether a trial with these user attributes may be pruned: not a starting point."""
        return STARTING_POINT not in user_attrs

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if not self.judges(trial.user_attrs):
            return False
        finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        curves = [t.intermediate_values for t in finished]
        return self.behind(trial.intermediate_values, curves, _sign(study))

    def prune_several(
        self,
        study: optuna.Study,
        objective: str,
        curve: Mapping[int, float],
        costs: Mapping[str, float | None] | None = None,
    ) -> bool:
        """``prune`` in a study of several objectives: ``curve`` is the running trial's
        primary ``objective`` by step so far, ``costs`` what its model costs (weights' values
        change none of them but the training time)."""
        finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        records = peers([TrialRecord.of(t) for t in finished], costs or {}, study)
        curves = [
            {step: v for step, v in enumerate(r.history.get(objective, [])) if v is not None}
            for r in records
        ]
        return self.behind(curve, curves, _sign(study))

    def behind(
        self, curve: Mapping[int, float], finished: Sequence[Mapping[int, float]], sign: int
    ) -> bool:
        """Whether a trial whose values by step so far are ``curve`` is a whole epoch behind
        the ``finished`` trials' curves (``sign``: 1 to maximize, -1 to minimize)."""
        if not curve:
            return False
        step = max(curve)
        if step > self._last_step:
            return False
        bar = _bar(finished, step, sign)
        if bar is None:
            return False
        reached = [sign * v for v in curve.values() if np.isfinite(v)]
        return not reached or max(reached) < bar


def peers(
    finished: Sequence[TrialRecord], costs: Mapping[str, float | None], study: optuna.Study
) -> list[TrialRecord]:
    """The ``finished`` trials no costlier than a running trial whose model costs ``costs``,
    on each of the study's cost objectives that it has a value of (its training time, say,
    is not known before it ends): the ones that beat it on every objective if they are
    ahead on the primary one."""
    if not costs:
        return list(finished)  # nothing to compare by: no study attributes to read
    mine = {
        goal: float(value)
        for goal in StudyGoals.of(study).goals[1:]
        if goal.is_cost and (value := costs.get(goal.name)) is not None
    }

    def no_costlier(record: TrialRecord) -> bool:
        theirs = {goal: record.costs.get(goal.name) for goal in mine}
        return all(
            value is not None and goal.better(value) >= goal.better(mine[goal])
            for goal, value in theirs.items()
        )

    return [record for record in finished if no_costlier(record)]


def _sign(study: optuna.Study) -> int:
    """1 if the (primary) objective is maximized, else -1."""
    return 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1


def _median_at(curves: Sequence[Mapping[int, float]], step: int, sign: int) -> float | None:
    """The curves' median value at ``step``, in maximising terms; None if none reached it
    (those that stopped before it are left out)."""
    values = [sign * c[step] for c in curves if step in c and np.isfinite(c[step])]
    return float(np.median(values)) if values else None


def _bar(finished: Sequence[Mapping[int, float]], step: int, sign: int) -> float | None:
    """What a trial at ``step`` must have reached (maximising terms): the finished trials'
    median one epoch earlier, or at the first epoch that median less its next epoch's gain."""
    if step > 0:
        return _median_at(finished, step - 1, sign)
    first, second = _median_at(finished, 0, sign), _median_at(finished, 1, sign)
    if first is None or second is None or second <= first:
        return None  # no progress from epoch 1 to 2 to measure a tolerance by
    return first - (second - first)


PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    # The starting points, trained to their end (sweeper.search.head_start), set the first bar.
    # At 240 s, 12,000 / 3,000 images (benchmarks/search_efficiency.py), the median rule at the
    # same epoch stopped start-up trials on a tie with the start that, let run, beat it on
    # Fashion-MNIST.
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
# What prunes a study of several objectives (Optuna's own pruners judge one objective).
SEVERAL_OBJECTIVES = ("epoch_behind", "none")


def make_pruner(pruner: PrunerLike, max_epochs: int) -> optuna.pruners.BasePruner:
    """A pruner by registry name, sized to the epoch budget; an Optuna pruner object as it is."""
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    return by_name(PRUNERS, "pruner", pruner)(max_epochs)


def check_several_objectives(sampler: object, pruner: PrunerLike) -> None:
    """Refuse a sampler or pruner that cannot sweep several objectives: Optuna's pruners
    judge one objective (sweeper's ``EpochBehindPruner`` judges the primary one), and CMA-ES
    models one."""
    if sampler == "cmaes" or isinstance(sampler, optuna.samplers.CmaEsSampler):
        raise SettingError(
            "sampler",
            "cmaes optimizes one objective, and this sweep has several; choose tpe (the "
            "default), nsga2, gp, qmc or random",
        )
    several = (EpochBehindPruner, optuna.pruners.NopPruner)
    if (
        isinstance(pruner, str)
        and pruner not in SEVERAL_OBJECTIVES
        or (isinstance(pruner, optuna.pruners.BasePruner) and not isinstance(pruner, several))
    ):
        raise SettingError(
            "pruner",
            f"{pruner if isinstance(pruner, str) else type(pruner).__name__} judges one "
            "objective (Optuna prunes single-objective studies only), and this sweep has "
            f"several; choose {' or '.join(SEVERAL_OBJECTIVES)}, which judge the first",
        )
