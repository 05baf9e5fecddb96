"""The failure streak stops a sweep whose space cannot train at all, and only that: trials
whose training diverged (a NaN loss) are answers about their configuration, not proof that
the space is broken, so a wide learning-rate range that reaches NaN finishes its budget.
Diverged trials are pruned now; older studies failed them, and both kinds are skipped."""

import dataclasses

import optuna
import pytest

import sweeper
from sweeper.storage.record import FAIL_REASON, HISTORY, STOPPED_BY, WORKER_DIED
from sweeper.trials.loop import prune_diverged
from sweeper.trials.streak import FailureStreak


def failed(reason: str, history: dict | None = None) -> optuna.trial.FrozenTrial:
    attrs = {FAIL_REASON: reason, **({HISTORY: history} if history is not None else {})}
    return optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs)


def complete() -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=0.5)


def test_a_streak_counts_failures_that_say_the_space_cannot_train():
    streak = FailureStreak(3)
    unbuildable = failed("model could not be built: ValueError: no")
    assert streak.add(unbuildable) is None and streak.add(unbuildable) is None
    error = streak.add(unbuildable)
    assert error is not None and "3 trials failed in a row (last: model could not" in str(error)


def test_diverged_and_lost_trials_neither_count_nor_reset_the_streak():
    """A diverged trial as an older study recorded it: failed, its loss null."""
    streak = FailureStreak(2)
    nan = failed("loss became NaN at epoch 1", {"loss": [None], "accuracy": [0.1]})
    lost = failed(WORKER_DIED)
    assert streak.add(failed("model could not be built")) is None
    for _ in range(10):
        assert streak.add(nan) is None and streak.add(lost) is None
    assert streak.add(failed("model could not be built")) is not None
    streak = FailureStreak(2)
    assert streak.add(failed("model could not be built")) is None
    assert streak.add(complete()) is None  # a trial that trained ends the streak
    assert streak.add(failed("model could not be built")) is None


def test_pruned_diverged_trials_neither_count_nor_reset_the_streak():
    """A diverged trial as the trial loop records it now: pruned, stopped_by "diverged"."""
    study = optuna.create_study()

    def diverged() -> optuna.trial.FrozenTrial:
        return prune_diverged(study, study.ask(), "loss became NaN at epoch 2")

    streak = FailureStreak(2)
    assert streak.add(failed("model could not be built")) is None
    for _ in range(10):
        assert streak.add(diverged()) is None
    error = streak.add(failed("model could not be built"))
    assert error is not None and "2 trials failed in a row" in str(error)
    # A trial the pruner stopped did train: it ends the streak, as a complete one does.
    streak = FailureStreak(2)
    assert streak.add(failed("model could not be built")) is None
    assert streak.add(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED)) is None
    assert streak.add(failed("model could not be built")) is None


def test_a_range_that_reaches_diverging_rates_finishes_its_budget_with_a_winner(
    digits_space, tmp_path
):
    """Five diverging configurations in a row, more than the streak allows, then the
    registry's starting point: the sweep goes on, and the winner is re-trained."""
    wide = dataclasses.replace(
        digits_space,
        training=sweeper.Training(
            optimizers=("sgd",),
            schedules=("constant",),
            clipping=("none",),
            batch_sizes=(32,),
            learning_rate=(1e-3, 1e30),
        ),
    )
    diverging = [{"learning_rate": 1e30, "units": units} for units in (16, 24, 32, 48, 64)]
    result = sweeper.run(
        wide,
        n_trials=6,
        max_epochs=2,
        enqueue=diverging,
        workers=None,
        results_dir=tmp_path,
        max_consecutive_failures=5,
    )
    states = [t.state for t in result.study.trials]
    assert states[:5] == [optuna.trial.TrialState.PRUNED] * 5
    for trial in result.study.trials[:5]:
        assert trial.user_attrs[STOPPED_BY] == "diverged" and "NaN" in trial.user_attrs[FAIL_REASON]
    assert states[5] == optuna.trial.TrialState.COMPLETE
    assert result.winner is not None and result.winner.card["trial"] == 5


@pytest.fixture
def digits_space():
    return sweeper.load_space("digits_space")
