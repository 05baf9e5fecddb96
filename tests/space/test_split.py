"""split_validation for classification and regression targets."""

import math

import numpy as np
import pytest

from sweeper import DataError, Dataset, split_validation


def test_class_labels_are_stratified():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    _, y_train, _, y_val = split_validation(x, y, 0.2, seed=0)
    assert np.bincount(y_val).tolist() == [12, 6, 2]  # each class' share kept exactly
    assert np.bincount(y_train).tolist() == [48, 24, 8]


def test_one_hot_labels_are_stratified_by_their_class():
    classes = np.repeat([0, 1], [80, 20])
    y = np.eye(2, dtype=np.float32)[classes]
    x = np.zeros((100, 3), np.float32)
    _, _, _, y_val = split_validation(x, y, 0.25, seed=1)
    assert y_val.argmax(axis=1).tolist().count(1) == 5


def test_a_regression_target_splits_without_stratifying():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()  # ~200 distinct float targets: stratifying them fails in sklearn
    x, y = data.data.astype(np.float32), data.target.astype(np.float32)
    x_train, y_train, x_val, y_val = split_validation(x, y, 0.2, seed=0)
    assert len(y_val) == math.ceil(0.2 * len(y)) and len(y_train) + len(y_val) == len(y)
    again = split_validation(x, y, 0.2, seed=0)
    assert np.array_equal(again[3], y_val)  # the space's seed fixes the split


def test_stratifying_a_continuous_target_is_one_clear_line():
    x, y = np.zeros((50, 2)), np.linspace(0.0, 1.0, 50)
    with pytest.raises(DataError, match=r"cannot stratify a continuous target \(y is float64\)"):
        split_validation(x, y, 0.2, seed=0, stratify=True)


def test_a_winner_re_trains_on_train_and_validation_joined():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10) % 2
    data = Dataset(x[:6], y[:6], x[6:8], y[6:8], x[8:], y[8:], num_classes=2)
    full = data.train_and_validation()
    assert full.x_train[:, 0].tolist() == list(range(8))  # train first, then validation
    assert full.y_train.tolist() == y[:8].tolist()
    assert full.x_val is data.x_val and full.x_test is data.x_test  # the rest untouched
    assert len(data.x_train) == 6  # the original is not changed
