"""What every backend shares: the objective a sweep's trials run."""

from __future__ import annotations

from sweeper.trials.loop import MakeObjective, Objective
from sweeper.trials.observer import SweepObserver
from sweeper.trials.stop import StopFlag


def build_objective(
    make_objective: MakeObjective | None,
    space,
    data,
    config,
    observer: SweepObserver,
    flag: StopFlag,
) -> Objective:
    """The objective a sweep runs: Keras' (imported only now), unless another is given."""
    if make_objective is None:
        from sweeper.training.objective import KerasObjective

        make_objective = KerasObjective.for_sweep
    return make_objective(space, data, config, observer, flag)
