import numpy as np
import optuna
import pytest

from sweeper import UsageError
from sweeper.search.pruners import make_pruner
from sweeper.search.samplers import RegistryTPESampler, make_sampler, startup_trials
from sweeper.search.study import derive_seed
from sweeper.storage.record import STARTING_POINT
from sweeper.urls import check_storage_url


def test_registry_names_build_seeded_optuna_objects():
    assert isinstance(make_sampler("tpe", 3), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("random", 3), optuna.samplers.RandomSampler)
    hyperband = make_pruner("hyperband", 9)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert hyperband._max_resource == 9  # brackets sized to the epoch budget
    median = make_pruner("median", 9)  # Optuna's rule at the same epoch, from the second trial
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (1, 1)


def test_tpe_models_the_results_after_a_start_up_sized_to_the_budget():
    assert [startup_trials(n) for n in (None, 8, 30, 60, 100, 1000)] == [10, 5, 5, 6, 10, 10]
    tpe = make_sampler("tpe", 0, 30)
    assert isinstance(tpe, RegistryTPESampler)
    assert tpe._n_startup_trials == 5  # Optuna's private fields: what the sampler was given
    assert tpe._multivariate and tpe._group and tpe._constant_liar


def _learning_rates(sampler, optimizers, low=1e-4, high=1e-1, n_trials=300) -> dict:
    """log10 of the learning rates ``sampler`` draws for each optimizer, over a study whose
    objective only samples the optimizer and the learning rate."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        trial.suggest_categorical("optimizer", optimizers)
        return trial.suggest_float("learning_rate", low, high, log=True)

    study.optimize(objective, n_trials=n_trials)
    drawn: dict = {name: [] for name in optimizers}
    for trial in study.trials:
        drawn[trial.params["optimizer"]].append(np.log10(trial.params["learning_rate"]))
    return {name: np.array(values) for name, values in drawn.items()}


def test_start_up_learning_rates_gather_near_each_optimizers_well_worn_one():
    drawn = _learning_rates(RegistryTPESampler(seed=0, n_startup_trials=300), ("adam", "sgd"))
    for name, centre in (("adam", -3.0), ("sgd", -2.0)):  # Adam 1e-3, SGD 1e-2
        values = drawn[name]
        assert abs(np.median(values) - centre) < 0.15
        within = np.mean(np.abs(values - centre) < 0.5)  # one standard deviation: ~68 %
        assert 0.55 < within < 0.8
        assert values.min() >= -4 and values.max() <= -1  # the space's range holds
    # A uniform draw over the same range is the baseline the prior must differ from.
    uniform = _learning_rates(optuna.samplers.RandomSampler(seed=0), ("adam",))["adam"]
    assert np.mean(np.abs(uniform + 3.0) < 0.5) < 0.45


def test_a_range_without_the_well_worn_rate_is_drawn_uniformly():
    # Fine-tuning ranges (here 1e-6..1e-5 for Adam) would pile a prior on their upper edge.
    values = _learning_rates(
        RegistryTPESampler(seed=0, n_startup_trials=300), ("adam",), 1e-6, 1e-5
    )["adam"]
    assert abs(np.median(values) + 5.5) < 0.15 and values.min() >= -6 and values.max() <= -5


def test_a_range_too_narrow_for_the_prior_is_still_drawn_within():
    values = _learning_rates(
        RegistryTPESampler(seed=0, n_startup_trials=20),
        ("adam",),
        1e-3,
        1.00001e-3,
        n_trials=20,
    )["adam"]
    assert len(values) == 20 and np.all((values >= -3) & (values <= np.log10(1.00001e-3)))


def test_the_prior_ends_with_the_start_up_trials(monkeypatch):
    draws = []
    near = RegistryTPESampler._near
    monkeypatch.setattr(
        RegistryTPESampler, "_near", lambda self, *a: draws.append(a) or near(self, *a)
    )
    _learning_rates(RegistryTPESampler(seed=0, n_startup_trials=4), ("adam", "sgd"), n_trials=12)
    assert len(draws) == 4  # then TPE models the results


def _finished(study: optuna.Study, curve: list[float]) -> None:
    intermediate = dict(enumerate(curve))
    study.add_trial(optuna.trial.create_trial(value=curve[-1], intermediate_values=intermediate))


def _stops_at(study: optuna.Study, curve: list[float]) -> int | None:
    """The epoch at which the study's pruner stops a trial that reports ``curve``; None: never."""
    trial = study.ask()
    for epoch, value in enumerate(curve):
        trial.report(value, epoch)
        if trial.should_prune():
            return epoch
    return None


def test_the_default_pruner_stops_a_trial_a_whole_epoch_behind_the_finished_ones():
    from sweeper import SweepConfig

    assert SweepConfig().pruner == "epoch_behind"
    study = optuna.create_study(direction="maximize", pruner=make_pruner("epoch_behind", 9))
    assert _stops_at(study, [0.1, 0.1]) is None  # nothing finished: nothing to judge by
    _finished(study, [0.78, 0.82, 0.85, 0.86, 0.87])  # the starting point
    # Within an epoch's progress of it all along: Optuna's MedianPruner would stop this one
    # at epoch 1 (0.80 < 0.82); it runs on.
    assert _stops_at(study, [0.77, 0.80, 0.84, 0.855, 0.866]) is None
    assert _stops_at(study, [0.77, 0.80, 0.81]) == 2  # not yet where the start was at epoch 1
    assert _stops_at(study, [0.30, 0.35]) == 0  # a bad draw: after its first epoch
    assert _stops_at(study, [float("nan"), float("nan")]) == 0  # diverged
    # The median of the finished trials, one epoch earlier.
    _finished(study, [0.60, 0.70, 0.75])
    _finished(study, [0.70, 0.75, 0.80])
    assert _stops_at(study, [0.69, 0.71]) is None and _stops_at(study, [0.69, 0.69]) == 1


def test_at_the_first_epoch_the_bar_is_one_epoch_of_progress_below_the_finished_median():
    study = optuna.create_study(direction="maximize", pruner=make_pruner("epoch_behind", 9))
    _finished(study, [0.95, 0.97, 0.98])
    _finished(study, [0.93, 0.96, 0.97])
    _finished(study, [0.94, 0.95, 0.96])
    # Median 0.94 at epoch 1, 0.96 at epoch 2: the bar at epoch 1 is 0.92.
    assert _stops_at(study, [0.919, 0.99]) == 0
    assert _stops_at(study, [0.921, 0.95]) is None  # slower to start, within an epoch of them
    assert _stops_at(study, [0.921, 0.93]) == 1  # then judged at epoch 2 as before
    # No progress from epoch 1 to 2 to measure the tolerance by: epoch 1 is not judged.
    flat = optuna.create_study(direction="maximize", pruner=make_pruner("epoch_behind", 9))
    _finished(flat, [0.95, 0.95, 0.96])
    assert _stops_at(flat, [0.10, 0.96]) is None
    # Minimising a loss: the median 1.0 at epoch 1, 0.6 at epoch 2, so the bar is 1.4.
    loss = optuna.create_study(direction="minimize", pruner=make_pruner("epoch_behind", 9))
    _finished(loss, [1.0, 0.6, 0.4])
    assert _stops_at(loss, [1.41]) == 0 and _stops_at(loss, [1.39, 0.5]) is None


def test_the_epoch_behind_pruner_judges_only_while_half_the_epochs_are_left():
    study = optuna.create_study(direction="maximize", pruner=make_pruner("epoch_behind", 9))
    _finished(study, [0.90, 0.95, 0.96, 0.97, 0.98, 0.985, 0.986, 0.987, 0.987])
    # Behind at epoch 4 of 9 (0.955 < 0.96): five epochs are left to save, so it stops.
    assert _stops_at(study, [0.89, 0.94, 0.95, 0.955]) == 3
    # Kept up through epoch 4, behind from epoch 5 on (0.966 < 0.97): it runs to its end.
    assert _stops_at(study, [0.90, 0.95, 0.96, 0.965, 0.966, 0.97, 0.975, 0.975, 0.975]) is None
    # Fewer epochs, fewer judged: of 4, only the first two.
    short = optuna.create_study(direction="maximize", pruner=make_pruner("epoch_behind", 4))
    _finished(short, [0.90, 0.95, 0.96, 0.97])
    assert _stops_at(short, [0.86, 0.86]) == 1
    assert _stops_at(short, [0.90, 0.92, 0.92, 0.92]) is None


def test_the_epoch_behind_pruner_lets_the_starting_points_train():
    study = optuna.create_study(direction="maximize", pruner=make_pruner("epoch_behind", 9))
    _finished(study, [0.80, 0.90, 0.95])  # the bolder start, quick in its first epochs
    # The well-worn start climbs slower (epoch 1's bar: 0.80 less its gain to 0.90) and may
    # end the better model: it trains on. A drawn trial as slow is stopped there.
    study.enqueue_trial({}, user_attrs={STARTING_POINT: 2})
    assert _stops_at(study, [0.50, 0.70, 0.85, 0.96]) is None
    assert _stops_at(study, [0.50, 0.70, 0.85, 0.96]) == 0


def test_the_epoch_behind_pruner_follows_the_direction():
    study = optuna.create_study(direction="minimize", pruner=make_pruner("epoch_behind", 9))
    _finished(study, [1.0, 0.6, 0.4])  # a loss
    assert _stops_at(study, [1.1, 0.9, 0.5]) is None
    assert _stops_at(study, [1.1, 1.05]) == 1


def test_optuna_objects_pass_through():
    sampler, pruner = optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()
    assert make_sampler(sampler, 0) is sampler and make_pruner(pruner, 5) is pruner


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_sampler("bayes", 0), "unknown sampler 'bayes'; choose from tpe, random"),
        (lambda: make_pruner("asha", 5), "unknown pruner 'asha'; choose from epoch_behind, median"),
        (lambda: check_storage_url("study.db"), "bad storage 'study.db'"),
        (lambda: check_storage_url("postgresql://user@host:port/db"), "bad storage URL"),
        (lambda: check_storage_url("pg://user@host/db"), "unknown database kind 'pg'"),
    ],
)
def test_bad_names_and_urls_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()


def test_storage_kinds():
    assert check_storage_url("runs/study.journal") == "journal"
    assert check_storage_url("postgresql://sweeper@localhost/sweeps") == "rdb"
    assert check_storage_url("sqlite:///study.db") == "rdb"


def test_resumed_sessions_get_fresh_sampler_seeds():
    assert derive_seed(5, 0) == 5
    seeds = {derive_seed(5, n) for n in range(1, 50)}
    assert len(seeds) == 49 and 5 not in seeds
