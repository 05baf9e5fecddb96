"""The weight-averaging benchmark's logic on generated images of MNIST's shape: both sides
train the same configuration from the same seed, identically, and it reports each side."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "weight_averaging.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("weight_averaging", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configurations_are_the_starting_point_and_variations_of_it(bench):
    from benchmarks.spaces.tasks import task_space
    from sweeper.space.starting import starting_points

    space = task_space("mnist")
    start = bench.configuration(space, "start")
    assert start == starting_points(space)[-1]  # the well-worn start, Adam at 1e-3
    big = bench.configuration(space, "large-batch")
    assert (big["batch_size"], big["learning_rate"], big["optimizer"]) == (256, 2e-3, "adam")


def test_both_sides_train_alike_and_are_reported(bench, monkeypatch, capsys):
    from benchmarks.spaces import tasks
    from sweeper import Dataset

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 200)
    x = (rng.random((200, 28, 28, 1)) * 0.2 + y[:, None, None, None] / 10).astype("float32")
    data = Dataset(x[:100], y[:100], x[100:150], y[100:150], x[150:], y[150:], num_classes=10)
    tiny = dataclasses.replace(tasks.TASKS["mnist"], load=lambda data_dir=None: data, epochs=2)
    monkeypatch.setitem(tasks.TASKS, "mnist", tiny)
    bench.main(["--tasks", "mnist", "--configs", "start", "--seeds", "0"])
    out = capsys.readouterr().out
    assert re.search(r"^\s+ema: best val 0\.\d{4} .* test 0\.\d{4}", out, re.M)
    assert re.search(r"^\s+plain: best val 0\.\d{4} .* test 0\.\d{4}", out, re.M)
    apart = float(re.search(r"training loss apart by (\S+)$", out, re.M).group(1))
    assert apart < 1e-4
