"""The search-efficiency benchmark's peers search the same ranges as sweeper, in their own
APIs, and run for real: each on a tiny generated regression, for a few seconds. Ray Tune and
DEHB come with the ``bench`` extra (docs/benchmarks.md)."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks import peers
from benchmarks.spaces.tasks import TASKS
from sweeper import Dataset

ROOT = Path(__file__).resolve().parents[2]  # Ray's workers import the benchmarks from it


def _tiny(data_dir=None) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((300, 10)).astype("float32")
    y = (10 * x[:, :1] + 5 * x[:, 1:2]).astype("float32")
    return Dataset(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:])


TINY = dataclasses.replace(TASKS["friedman"], load=_tiny, epochs=3, patience=1)


def _declared_by_sweeper(task) -> set[str]:
    """The parameters sweeper's space of the task draws (one-choice ones are not drawn)."""
    space = task.space()
    return {p.name for p in space.all_params if len(getattr(p, "choices", (0, 1))) > 1}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_peer_declares_the_parameters_sweeper_draws(name):
    import optuna

    task = TASKS[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = set()
    for _ in range(40):  # every branch: momentum, weight decay and the clip threshold
        drawn |= set(peers.optuna_params(study.ask(), task))
    assert drawn == _declared_by_sweeper(task)
    if importlib_available("ConfigSpace"):
        assert set(peers.configspace(task, 0)) == drawn


def importlib_available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("name", sorted(TASKS))
def test_kerastuner_declares_each_tasks_model_parameters_in_their_ranges(name):
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for param in TASKS[name].model_params:
        value = peers._hp(hp, param)
        assert param.problem_with(value) is None


def test_the_kerastuner_peer_searches_with_hyperband(tmp_path):
    events: list = []
    found = peers.kerastuner_peer(TINY, _tiny(), 0, 3.0, events, tmp_path)
    assert found["trials"] >= 1 and 1 <= found["epochs"] <= 3
    assert found["params"]["optimizer"] in peers.t.OPTIMIZERS


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_the_hand_written_optuna_loop_finds_a_configuration(sampler):
    events: list = []
    seen = len(peers.Epochs.ends)
    found = peers.optuna_peer(TINY, _tiny(), 0, 4.0, sampler, events)
    assert found["trials"] >= 1 and 1 <= found["epochs"] <= 3
    assert events and all(math.isfinite(v) for _, v in events)
    assert found["params"]["optimizer"] in peers.t.OPTIMIZERS
    _each_trial_is_timed_at_its_epochs(events, peers.Epochs.ends[seen:])


def _each_trial_is_timed_at_its_epochs(events: list, epochs: list) -> None:
    """Every trial's value was one of its epochs', known at that epoch's end, at or before
    the trial ended."""
    for ended, value in events:
        assert any(v == value and when <= ended for when, v in epochs)


def test_dehb_searches_epochs_as_its_fidelity(tmp_path):
    pytest.importorskip("dehb")
    events: list = []
    seen = len(peers.Epochs.ends)
    found = peers.dehb_peer(TINY, _tiny(), 0, 4.0, events, tmp_path)
    assert found["trials"] >= 1 and events
    _each_trial_is_timed_at_its_epochs(events, peers.Epochs.ends[seen:])
    assert set(found["params"]) <= _declared_by_sweeper(TINY)
    assert 1 <= found["epochs"] <= 3


def test_ray_tune_runs_optuna_search_under_asha_in_time(tmp_path, monkeypatch):
    # Ray Tune for real: a local Ray started and stopped by the peer, trials in parallel as
    # Ray picks them, ASHA stopping them by epoch. Its workers unpickle the task by module,
    # so they need this folder on their path, as a sitting gives them the checkout's.
    pytest.importorskip("ray")
    here = Path(__file__).parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(here)]))
    events: list = []
    seen = len(peers.Epochs.ends)
    found = peers.ray_peer(TINY, _tiny(), 0, 20.0, events, tmp_path)  # TF loads in each worker
    _each_trial_is_timed_at_its_epochs(events, peers.Epochs.ends[seen:])
    assert found["trials"] >= 1 and events
    assert all(math.isfinite(v) for _, v in events)
    assert set(found["params"]) <= _declared_by_sweeper(TINY)
    assert found["params"]["optimizer"] in peers.t.OPTIMIZERS
    assert 1 <= found["epochs"] <= 3
    import ray

    assert not ray.is_initialized()  # shut down, for the next tool of the sitting


def test_ray_tune_says_why_when_every_trial_fails(tmp_path, monkeypatch):
    # A task whose model cannot compile (a misspelt loss) fails every trial in Ray's workers:
    # the sitting's error names the first failure, not "no winner", and Ray is shut down.
    pytest.importorskip("ray")
    import ray

    here = Path(__file__).parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(here)]))
    broken = dataclasses.replace(TINY, loss="no_such_loss")
    with pytest.raises(
        RuntimeError, match="every Ray Tune trial failed; the first: (?s:.*)no_such_loss"
    ):
        peers.ray_peer(broken, _tiny(), 0, 10.0, [], tmp_path)
    assert not ray.is_initialized()


def test_a_winner_is_re_trained_and_tested_on_the_tasks_metric():
    params = {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 32, "clipping": "none"}
    params |= {"dropout": 0.0, "layers": 1, "units": 16}
    mae = peers.retrain_and_test(TINY, _tiny(), params, 2, seed=0)
    assert 0 < mae < 10  # the test MAE, not an accuracy


def test_the_oracle_times_each_epoch_from_the_launch():
    import time

    params = {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 32, "clipping": "none"}
    params |= {"dropout": 0.0, "layers": 1, "units": 16}
    launched = time.time() - 100.0  # as if the process had started 100 s ago
    events = peers.oracle(TINY, _tiny(), params, launched, seed=0)
    assert len(events) == 3
    assert all(when >= 100.0 for when, _ in events)
    assert [when for when, _ in events] == sorted(when for when, _ in events)


def test_a_configuration_sweeper_found_is_timed_through_sweepers_trial_path():
    import time

    params = {"optimizer": "adam", "learning_rate": 1e-2, "lr_schedule": "constant"}
    params |= {"batch_size": 32, "clipping": "none", "dropout": 0.0, "layers": 1, "units": 16}
    launched = time.time() - 100.0
    events = peers.sweeper_oracle(TINY, _tiny(), params, launched, seed=0)
    assert 1 <= len(events) <= 3 and all(when >= 100.0 for when, _ in events)
    # The values are what sweeper's trial validates (its weight-averaged model): the same
    # configuration through sweeper's objective records the same curve.
    import optuna

    from sweeper import KerasObjective

    trial = optuna.trial.FixedTrial(params)
    KerasObjective(TINY.space(), _tiny(), max_epochs=3, patience=1, seed=0)(trial)
    recorded = trial.user_attrs["history"]["val_mae"]
    assert [value for _, value in events] == pytest.approx(recorded, rel=1e-2)


def test_a_retest_of_a_configuration_sweeper_found_re_trains_as_sweeper_re_trains(tmp_path):
    # A one-trial sweep re-trains its winner as users get it; the benchmark's re-test of the
    # same configuration on the same seed must score what that winner scored.
    import sweeper

    params = {"optimizer": "adam", "learning_rate": 1e-2, "lr_schedule": "constant"}
    params |= {"batch_size": 32, "clipping": "none", "dropout": 0.0, "layers": 1, "units": 16}
    space = dataclasses.replace(TINY.space(), name="tiny_friedman")
    result = sweeper.run(
        space, n_trials=1, enqueue=[params], starting_points=False, results_dir=tmp_path
    )
    card = result.winner.card
    mae = peers.sweeper_retrain_and_test(TINY, _tiny(), params, card["epochs"], card["seed"])
    assert mae == pytest.approx(card["test_metrics"]["mae"], rel=1e-3)
