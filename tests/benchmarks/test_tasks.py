"""The search-efficiency benchmark's tasks hand every tool the data they say: here the task
whose pixels are left unscaled, on made-up images and, trained for real, on Fashion-MNIST."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from benchmarks import peers
from benchmarks.spaces import tasks
from sweeper.space.data import FASHION_MNIST_DEBIAN_DIR as DEBIAN
from sweeper.space.starting import starting_points


def _images(data_dir=None):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60)
    return (x[:50], y[:50].astype(np.uint8)), (x[50:], y[50:].astype(np.uint8))


def test_the_raw_task_holds_the_same_images_as_the_files_hold_them(monkeypatch):
    monkeypatch.setattr(tasks, "load_fashion_mnist_arrays", _images)
    monkeypatch.setenv("BENCH_TRAIN", "30")
    monkeypatch.setenv("BENCH_VAL", "10")
    raw, scaled = tasks.load_fashion_raw(), tasks.load_fashion()
    assert raw.x_train.max() == 255 and scaled.x_train.max() <= 1
    for part in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(getattr(raw, part) / 255.0, getattr(scaled, part))
    np.testing.assert_array_equal(raw.y_val, scaled.y_val)


@pytest.mark.skipif(
    not DEBIAN.is_dir(),
    reason=f"no {DEBIAN}: install the Debian package dataset-fashion-mnist (CI does)",
)
def test_both_registry_starts_train_the_raw_task_worse_than_a_low_rate(monkeypatch):
    """What the task is for: the search must leave both starts to find its good rates."""
    monkeypatch.setenv("BENCH_TRAIN", "1500")
    monkeypatch.setenv("BENCH_VAL", "500")
    task = tasks.TASKS["fashion-raw"]
    data = task.load()
    bolder, well_worn = starting_points(task.space())
    low_rate = {**well_worn, "learning_rate": 2e-4, "batch_size": 32, "dropout": 0.1}

    def best(params):
        keras.utils.set_random_seed(0)
        return max(peers.fit(keras, task, params, data, epochs=4), default=0.0)

    found = best(low_rate)
    assert best(bolder) < found - 0.15
    assert best(well_worn) < found - 0.03
