"""The accuracy-cost benchmark's logic: its hypervolume on fronts whose area is known, and its
front mode end to end on generated images of MNIST's shape."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy_cost.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("accuracy_cost", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hypervolume_is_the_area_the_front_dominates(bench):
    reference = (1.0, 1.0)
    assert bench.hypervolume([(0.5, 0.5)], reference) == pytest.approx(0.25)
    # Two steps: 0.75 x 0.5 + 0.5 x (0.5 - 0.25); a dominated point adds nothing.
    front = [(0.25, 0.5), (0.5, 0.25)]
    assert bench.hypervolume(front, reference) == pytest.approx(0.375 + 0.125)
    assert bench.hypervolume([*front, (0.6, 0.6)], reference) == pytest.approx(0.5)
    assert bench.hypervolume([(1.5, 0.1)], reference) == 0.0  # beyond the reference


@pytest.fixture
def tiny(bench, monkeypatch):
    """The benchmark's space on generated images of MNIST's shape."""
    from sweeper import Dataset

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 240)
    x = (rng.random((240, 28, 28, 1)) * 0.2 + y[:, None, None, None] / 10).astype("float32")
    data = Dataset(x[:120], y[:120], x[120:180], y[120:180], x[180:], y[180:], num_classes=10)
    real = bench.space()
    small = dataclasses.replace(real, load_data=lambda data_dir=None: data)
    monkeypatch.setattr(bench, "space", lambda: small)
    for name in ("BENCH_TRAIN", "BENCH_VAL"):  # main sets them: restored after the test
        monkeypatch.setenv(name, "0")
    return bench


def test_pruning_mode_reports_each_pruner_and_the_rule(tiny, capsys):
    tiny.main(["pruning", "--trials", "2", "--epochs", "1", "--seeds", "0"])
    out = capsys.readouterr().out
    for pruner in ("epoch_behind", "none"):
        assert re.search(
            rf"^seed 0 +{pruner}: +\d+ s, +\d+ epochs, +\d+ pruned, front +\d+, hypervolume "
            r"\d\.\d{4}; rule: trial \d+ \([\d,]+ params, val [\d.]+\), most accurate: .*x the",
            out,
            re.M,
        ), out
        assert re.search(rf"^ *{pruner}: time median \d+ s", out, re.M)


def test_front_mode_reports_the_front_the_rule_and_the_cost_overhead(tiny, tmp_path, capsys):
    bench = tiny
    bench.main(["front", "--trials", "3", "--epochs", "1", "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert re.search(r"^front: 3 trials in \d+ s \(\d complete\), \d on the front", out, re.M)
    assert re.search(r"^cost measurement: median \d+\.\d% of a trial's time", out, re.M)
    assert re.search(r"^most accurate: trial \d+, [\d,]+ params, val 0\.\d{4}, test", out, re.M)
    assert re.search(r"^default rule: trial \d+, .*\(least params", out, re.M)
    assert re.search(r"^the rule's winner has \d\.\d\dx the most accurate", out, re.M)
