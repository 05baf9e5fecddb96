"""End to end on the real MNIST: a few short trials of mnist_space through the CLI.

Slow (minutes on 2 cores), so marked ``slow``: CI runs it with SWEEPER_DATA_DIR pointing at a
folder holding mnist.npz.
"""

import csv
import json
import os

import numpy as np
import pytest

from sweeper import load_space
from sweeper.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir():
    folder = os.environ.get("SWEEPER_DATA_DIR")
    if not folder:
        pytest.skip("set SWEEPER_DATA_DIR to a folder holding mnist.npz")
    return folder


def test_mnist_splits_are_seeded_and_the_test_set_is_the_official_one(data_dir):
    data = load_space("mnist_space").load_data(data_dir)
    assert data.x_train.shape == (54000, 28, 28, 1) and data.x_val.shape == (6000, 28, 28, 1)
    assert data.x_test.shape == (10000, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and float(data.x_train.max()) == 1.0
    assert np.bincount(data.y_val).min() > 500  # stratified: every class is represented
    again = load_space("mnist_space").load_data(data_dir)
    assert np.array_equal(data.y_val, again.y_val)


def test_mnist_sweep_end_to_end(data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "mnist_space",
                "--trials",
                "3",
                "--max-epochs",
                "1",
                "--pruner",
                "none",
                "--results-dir",
                str(results),
            ]
        )
        == 0
    )
    with open(results / "mnist_space" / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert rows[0]["state"] == "complete"
    # Even one epoch of a small CNN on MNIST gets far beyond chance.
    assert float(rows[0]["value"]) > 0.9
    # The winner: re-trained on all 60,000 training images, tested on the official 10,000.
    card = json.loads((results / "mnist_space" / "winner.json").read_text())
    assert card["trial"] == int(rows[0]["trial"]) and card["train_examples"] == 60000
    assert card["test_examples"] == 10000 and card["test_metrics"]["accuracy"] > 0.9
    assert (results / "mnist_space" / "winner.keras").is_file()
    assert "mnist_space: top 3 of 3 trials" in capsys.readouterr().out
