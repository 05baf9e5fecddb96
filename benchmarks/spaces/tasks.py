"""The benchmark's tasks: one search space, two datasets of the same shape, for every tool.

The ranges are ``mnist_space``'s model (conv filters, dense units) with the shared training
ranges narrowed to what every peer can declare the same way: five optimizers (two with an
extra), a log learning rate over 1e-4..1e-1, dropout, clipping on or off, four batch sizes,
a constant learning rate, 9 epochs with patience 3.

Each dataset is a fixed, seeded subset of the official training images (``BENCH_TRAIN`` +
``BENCH_VAL`` of them, from the environment) and the whole official test set.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from search_spaces.mnist_space import build_model
from sweeper import Dataset, Int, Space, Training, load_mnist_arrays

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
LEARNING_RATE = (1e-4, 1e-1)
MOMENTUM = (0.5, 0.99)
WEIGHT_DECAY = (1e-6, 1e-2)
CLIP_THRESHOLD = (0.1, 10.0)
BATCH_SIZES = (32, 64, 128, 256)
DROPOUT = (0.0, 0.5)
FILTERS = (16, 48, 16)  # low, high, step
UNITS = (32, 256)  # log
EPOCHS, PATIENCE = 9, 3
SUBSET_SEED = 0

FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def subset_sizes() -> tuple[int, int]:
    return int(os.environ.get("BENCH_TRAIN", "3000")), int(os.environ.get("BENCH_VAL", "1000"))


def _idx(path: Path) -> np.ndarray:
    """An IDX file (gzip), as the Fashion-MNIST release ships it."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_arrays(data_dir=None):
    folder = FASHION_DIR

    def read(name: str) -> np.ndarray:
        return _idx(folder / f"{name}-ubyte.gz")

    return (read("train-images-idx3"), read("train-labels-idx1")), (
        read("t10k-images-idx3"),
        read("t10k-labels-idx1"),
    )


def subset(arrays) -> Dataset:
    (x_train, y_train), (x_test, y_test) = arrays
    n_train, n_val = subset_sizes()
    order = np.random.default_rng(SUBSET_SEED).permutation(len(x_train))
    train, val = order[:n_train], order[n_train : n_train + n_val]

    def prepare(x):
        return (x.astype(np.float32) / 255.0)[..., np.newaxis]

    return Dataset(
        prepare(x_train[train]),
        y_train[train].astype(np.int64),
        prepare(x_train[val]),
        y_train[val].astype(np.int64),
        prepare(x_test),
        y_test.astype(np.int64),
        num_classes=10,
    )


def load_mnist(data_dir=None) -> Dataset:
    return subset(load_mnist_arrays(data_dir))


def load_fashion(data_dir=None) -> Dataset:
    return subset(fashion_arrays(data_dir))


LOADERS = {"mnist": load_mnist, "fashion": load_fashion}


def task_space(task: str) -> Space:
    return Space(
        params=[Int("filters", *FILTERS[:2], step=FILTERS[2]), Int("units", *UNITS, log=True)],
        training=Training(
            optimizers=OPTIMIZERS,
            learning_rate=LEARNING_RATE,
            schedules=("constant",),
            clipping=("none", "clipnorm"),
            clip_threshold=CLIP_THRESHOLD,
            batch_sizes=BATCH_SIZES,
            dropout=DROPOUT,
            extras={"momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY},
        ),
        build_model=build_model,
        load_data=LOADERS[task],
        objective="val_accuracy",
        direction="maximize",
        max_epochs=EPOCHS,
        patience=PATIENCE,
        # mnist_space's budget, as its users declare it; in the benchmark's wall-clock budget
        # (--timeout) no tool gets near 30 trials, so the time ends every sweep.
        n_trials=30,
    )
