import optuna
import pytest

from sweeper import UsageError
from sweeper.study import (
    check_storage_url,
    derive_seed,
    make_pruner,
    make_sampler,
    startup_trials,
)


def test_registry_names_build_seeded_optuna_objects():
    assert isinstance(make_sampler("tpe", 3), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("random", 3), optuna.samplers.RandomSampler)
    hyperband = make_pruner("hyperband", 9)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert hyperband._max_resource == 9  # brackets sized to the epoch budget


def test_tpe_models_the_results_after_a_start_up_sized_to_the_budget():
    assert [startup_trials(n) for n in (None, 8, 30, 60, 100, 1000)] == [10, 5, 5, 6, 10, 10]
    tpe = make_sampler("tpe", 0, 30)
    assert tpe._n_startup_trials == 5  # Optuna's private fields: what the sampler was given
    assert tpe._multivariate and tpe._group and tpe._constant_liar


def test_the_default_pruner_stops_below_median_trials_from_the_second_trial():
    from sweeper import SweepConfig

    assert SweepConfig().pruner == "median"
    median = make_pruner("median", 9)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (1, 1)


def test_optuna_objects_pass_through():
    sampler, pruner = optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()
    assert make_sampler(sampler, 0) is sampler and make_pruner(pruner, 5) is pruner


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_sampler("bayes", 0), "unknown sampler 'bayes'; choose from tpe, random"),
        (lambda: make_pruner("asha", 5), "unknown pruner 'asha'; choose from hyperband"),
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
