"""Every shipped search space keeps its contract: it loads, its data loads, a mid-range model
fits that data, and a one-trial, one-epoch sweep of it completes with its objective reported.

Parametrized over ``available_spaces()``: a new file in ``search_spaces/`` is covered as soon
as it is there. Nothing here assumes the objective is an accuracy or that it is maximized.
"""

import dataclasses
import math
import os

import numpy as np
import pytest
from optuna.trial import TrialState

from sweeper import DataError, Dataset, TrialRecord, available_spaces, load_space, run_sweep
from sweeper.space.data import DATA_DIR_ENV
from sweeper.space.starting import complete
from sweeper.training.contract import (
    CLASS_LOSSES,
    check_model_fits_data,
    input_problem,
    loss_name,
    output_problem,
)

# Spaces on tens of thousands of real images: minutes of CPU, and their data must be on this
# machine ($SWEEPER_DATA_DIR) or downloaded, so their cases are `slow`. Every other shipped
# space must be small and offline (generated or bundled data): it runs with the fast tests
# without being named here. Add a space to this set only if its data is large.
LARGE_DATA_SPACES = frozenset({"mnist_space", "fashion_mnist_space"})
TRAIN_SLICE = 2048  # the examples a large-data space's one-epoch sweep trains on


def _cases() -> list:
    return [
        pytest.param(name, id=name, marks=pytest.mark.slow if name in LARGE_DATA_SPACES else ())
        for name in available_spaces()
    ]


@pytest.fixture(scope="module", params=_cases())
def name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def space(name):
    return load_space(name)


@pytest.fixture(scope="module")
def data_dir(name):
    """$SWEEPER_DATA_DIR for a large-data space (skipped without it); None for the others,
    whose loaders need no folder."""
    if name not in LARGE_DATA_SPACES:
        return None
    folder = os.environ.get(DATA_DIR_ENV)
    if not folder:
        pytest.skip(f"{name} trains on large real data: set {DATA_DIR_ENV} to a folder holding it")
    return folder


@pytest.fixture(scope="module")
def data(name, space, data_dir):
    try:
        return space.load_data(data_dir)
    except DataError as exc:  # the data is not there (and could not be downloaded)
        if name not in LARGE_DATA_SPACES:
            raise
        pytest.skip(f"{name}: its data is not on this machine ({exc})")


def test_space_loads_under_its_file_name(name, space):
    assert space.name == name and space.source == name
    assert space.description, f"{name} needs a one-line module docstring: it is its description"
    assert space.direction in ("maximize", "minimize")


def test_data_loads_with_three_splits_of_one_shape(name, space, data, data_dir):
    assert isinstance(data, Dataset)
    for split in ("train", "val", "test"):  # the test split is the winner's, held out
        x = getattr(data, f"x_{split}")
        assert len(x) > 0, f"{name}: the {split} split is empty"
        assert x.shape[1:] == data.input_shape, f"{name}: {split} inputs are {x.shape[1:]}"
    # Every worker process loads the data itself: all must get the same split.
    again = space.load_data(data_dir)
    assert np.array_equal(again.y_val, data.y_val) and np.array_equal(again.x_val, data.x_val)


def test_mid_range_model_fits_the_data(name, space, data):
    check_model_fits_data(space, data)  # the sweep's own check, on a sampled configuration
    params = complete(space, {})  # every range's middle (a hypermodel: its hp defaults)
    model = space.build(params, data)
    assert input_problem(model, data) is None, input_problem(model, data)
    assert output_problem(space, model, data) is None, output_problem(space, model, data)
    batch = data.x_val[:4]
    predicted = np.asarray(model.predict(batch, verbose=0))
    assert predicted.shape[0] == len(batch) and np.isfinite(predicted).all()
    loss = space.loss if space.training is not None else getattr(model, "loss", None)
    if loss_name(loss) not in CLASS_LOSSES:  # e.g. a regression: one output per target value
        assert predicted[0].size == data.y_val[0].size, (
            f"{name}: the model outputs {predicted.shape[1:]} per example for targets of "
            f"shape {data.y_val.shape[1:]}"
        )


def test_one_trial_one_epoch_sweep_completes(name, space, data, data_dir, tmp_path):
    if name in LARGE_DATA_SPACES:  # one epoch on a slice: the same contract, minutes fewer
        sliced = dataclasses.replace(
            data,
            x_train=data.x_train[:TRAIN_SLICE],
            y_train=data.y_train[:TRAIN_SLICE],
            x_val=data.x_val[: TRAIN_SLICE // 4],
            y_val=data.y_val[: TRAIN_SLICE // 4],
        )
        space = dataclasses.replace(space, load_data=lambda data_dir=None: sliced)
    result = run_sweep(
        space,
        n_trials=1,
        max_epochs=1,
        pruner="none",
        workers=None,
        progress=False,
        results_dir=tmp_path,
        data_dir=data_dir,
    )
    [trial] = result.study.trials
    record = TrialRecord.of(trial)
    assert record.state == TrialState.COMPLETE, (
        f"{name}: the trial ended {record.state.name}: {record.fail_reason}"
    )
    history = record.history.get(space.objective)
    assert history is not None, (
        f"{name}: objective {space.objective!r} is not in the Keras history "
        f"({', '.join(record.history)})"
    )
    assert len(history) == 1 and history[0] is not None and math.isfinite(history[0])
    assert record.value == pytest.approx(history[0])
    assert result.results.leaderboard_csv.is_file()
