"""A diverged trial teaches the sampler: the trial loop ends it pruned, not failed. Optuna's
TPE skips failed trials, so where the best learning rates sit next to rates that diverge, it
kept drawing rates that diverge; a pruned trial joins its bad group, and it steers away."""

import math

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from sweeper.errors import TrialDiverged, TrialFailed
from sweeper.storage.record import FAIL_REASON, HISTORY, TrialRecord
from sweeper.trials.loop import run_trial
from sweeper.trials.observer import SweepObserver

RATE = FloatDistribution(1e-5, 1.0, log=True)
DIVERGES = 3e-2  # every rate from here up diverges
GOOD_RATES = [10 ** (-4 + 2 * i / 11) for i in range(12)]  # 1e-4 to 1e-2: the best at 1e-2
DIVERGING_RATES = [DIVERGES ** (1 - i / 23) for i in range(24)]  # 3e-2 to 1
DRAWS = 40


def learning_rate_objective(diverged: type[TrialFailed]):
    """A model whose validation accuracy peaks at a rate of 1e-2 and which diverges from
    ``DIVERGES`` up, at its first epoch or (reporting one epoch first) its second; it ends
    by raising ``diverged``."""

    def objective(trial: optuna.Trial) -> float:
        rate = trial.suggest_float("learning_rate", RATE.low, RATE.high, log=True)
        if rate < DIVERGES:
            return 0.9 - 0.05 * abs(math.log10(rate) + 2)
        epoch = 1 + trial.number % 2
        if epoch > 1:
            trial.report(0.3, step=0)
        raise diverged(f"loss became NaN at epoch {epoch}")

    return objective


def share_of_diverging_draws(diverged: type[TrialFailed]) -> float:
    """The trials run through the trial loop, then TPE's next ``DRAWS`` learning rates: the
    share of them that would diverge."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    objective = learning_rate_objective(diverged)
    for rate in GOOD_RATES + DIVERGING_RATES:
        study.enqueue_trial({"learning_rate": rate})
        run_trial(study, study.ask(), objective, SweepObserver())
    draws = [study.ask({"learning_rate": RATE}).params["learning_rate"] for _ in range(DRAWS)]
    return sum(rate >= DIVERGES for rate in draws) / DRAWS


def test_the_trial_loop_prunes_a_diverged_trial_at_its_last_finite_epoch():
    study = optuna.create_study(direction="maximize")
    objective = learning_rate_objective(TrialDiverged)
    for rate in (1e-2, 0.5, 0.5):
        study.enqueue_trial({"learning_rate": rate})
        run_trial(study, study.ask(), objective, SweepObserver())
    complete, later, at_once = study.trials  # odd numbers report an epoch first
    assert complete.state == TrialState.COMPLETE and not TrialRecord.of(complete).diverged
    for trial, epoch in ((at_once, 1), (later, 2)):
        record = TrialRecord.of(trial)
        assert trial.state == TrialState.PRUNED and record.diverged
        assert record.stopped_by == "diverged"
        assert record.fail_reason == f"loss became NaN at epoch {epoch}"
        assert record.why_ended == f"diverged (loss became NaN at epoch {epoch})"
    assert at_once.value is None and at_once.intermediate_values == {}
    assert later.value == 0.3 and later.intermediate_values == {0: 0.3}


def test_tpe_draws_fewer_diverging_rates_once_diverged_trials_are_pruned():
    """The same trials, with the divergence told as the trial loop tells it, and as it told
    it before (a failed trial, as any ``TrialFailed``): of TPE's next 40 draws, 3 diverge
    instead of 12."""
    pruned = share_of_diverging_draws(TrialDiverged)
    failed = share_of_diverging_draws(TrialFailed)
    assert failed >= 0.25
    assert pruned <= failed / 2


def test_a_failed_trial_with_a_null_loss_still_reads_as_diverged():
    """How older studies recorded a diverged trial: failed, the loss null in its history."""
    old = optuna.trial.create_trial(
        state=TrialState.FAIL,
        user_attrs={FAIL_REASON: "loss became NaN at epoch 1", HISTORY: {"loss": [None]}},
    )
    assert TrialRecord.of(old).diverged
    assert TrialRecord.of(old).why_ended == "loss became NaN at epoch 1"
    unbuildable = optuna.trial.create_trial(
        state=TrialState.FAIL, user_attrs={FAIL_REASON: "model could not be built"}
    )
    pruned = optuna.trial.create_trial(state=TrialState.PRUNED, intermediate_values={0: 0.2})
    assert not TrialRecord.of(unbuildable).diverged and not TrialRecord.of(pruned).diverged
    assert TrialRecord.of(pruned).why_ended is None
