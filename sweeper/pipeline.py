"""The whole of ``sweeper run``, as a library call: sweep, leaderboard, re-trained winner.

``sweeper.run("mnist_space", workers=2)`` does what ``python -m sweeper run mnist_space
--workers 2`` does, with the same defaults; the CLI is a thin layer over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from sweeper.config import SweepConfig
from sweeper.files import stderr_to
from sweeper.report.leaderboard import write_leaderboard
from sweeper.report.live import progress_for
from sweeper.report.view import SweepView
from sweeper.results import ResultsDir
from sweeper.space.loader import load_space
from sweeper.space.space import Space
from sweeper.storage.standing import pick_trial
from sweeper.sweep import SweepPlan, SweepResult, plan_sweep, sweep
from sweeper.trials.observer import SweepObserver

if TYPE_CHECKING:
    from sweeper.training.retrain import Winner


@dataclass(frozen=True, repr=False)
class RunResult(SweepView):
    """What a run left: the sweep (study, counts, times) and the winner, if re-trained."""

    sweep: SweepResult
    winner: Winner | None


def run(
    space: Space | str,
    config: SweepConfig | None = None,
    *,
    observer: SweepObserver | None = None,
    progress: bool | None = None,
    retrain: bool = True,
    **settings: Any,
) -> RunResult:
    """Sweep ``space`` (a ``Space``, a name in ``search_spaces/`` or a .py path), write the
    leaderboard, then re-train the best trial on train + validation data, test it and save
    it (unless ``retrain=False``, or no trial completed). Settings, ``observer`` and
    ``progress`` as for ``run_sweep``."""
    space = load_space(space) if isinstance(space, str) else space
    return run_plan(
        plan_sweep(space, config, settings), observer=observer, progress=progress, retrain=retrain
    )


def run_plan(
    plan: SweepPlan,
    *,
    observer: SweepObserver | None = None,
    progress: bool | None = None,
    retrain: bool = True,
) -> RunResult:
    """``run`` of a plan made already (``sweep.plan_sweep``): what the CLI calls, having
    planned the sweep to size its live view."""
    space, config = plan.space, plan.config
    observer = observer or progress_for(
        progress, space.name, space.objective, space.direction, config.epochs
    )
    swept = sweep(plan, observer=observer)
    best = swept.winner_trial
    if not retrain or best is None:
        return RunResult(swept.study, swept.results, swept, None)
    observer.winner_started(best.number)
    try:
        winner = retrain_winner(space, swept.study, swept.results, data_dir=config.data_dir)
    finally:
        observer.winner_finished()
    return RunResult(swept.study, swept.results, swept, winner)


def retrain_winner(
    space: Space,
    study: optuna.Study,
    results: ResultsDir,
    *,
    trial_number: int | None = None,
    data_dir: str | Path | None = None,
) -> Winner:
    """The winner stage of ``run`` and the ``retrain`` command: re-train the best trial (or
    ``trial_number``), test it, save it, and rewrite the leaderboard to show its test."""
    pick_trial(study, trial_number)  # a trial that cannot be re-trained: before Keras loads
    with stderr_to(results.retrain_log):  # TensorFlow's start-up lines go there
        from sweeper.training.retrain import retrain  # Keras loads only now

        winner = retrain(space, study, results, trial_number=trial_number, data_dir=data_dir)
    write_leaderboard(study, results)
    return winner
