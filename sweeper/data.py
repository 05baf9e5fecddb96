"""Datasets: the arrays a space trains, validates and tests on, and the loaders that find them.

A sweep loads its data once per process and hands the same arrays to every trial.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sweeper.errors import DataError, SweeperError, describe_failure

if TYPE_CHECKING:
    from sweeper.space import Space

DATA_DIR_ENV = "SWEEPER_DATA_DIR"


@dataclass(frozen=True, eq=False)  # arrays: compare by identity, not element-wise
class Dataset:
    """Train / validation / held-out test arrays. The test set is only for the winner."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise DataError(
                    f"{split} split has {len(x)} inputs but {len(y)} labels; "
                    "fix the space's data loader"
                )
        if len(self.x_train) == 0 or len(self.x_val) == 0:
            raise DataError("train and validation splits must not be empty; fix the data loader")


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, stratify: bool | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded hold-out split: (x_train, y_train, x_val, y_val).

    ``stratify``: keep each class' share in both parts. None (the default) stratifies class
    labels (integers, strings, booleans, one-hot rows) whose every class has two examples or
    more, and not a continuous target (floats: a regression). The seed belongs to the space,
    not the trial, so every trial sees the same split.
    """
    from sklearn.model_selection import train_test_split

    labels = _class_labels(y)
    if stratify is None:
        stratify = labels is not None and int(np.unique(labels, return_counts=True)[1].min()) > 1
    elif stratify and labels is None:
        raise DataError(
            f"cannot stratify a continuous target (y is {y.dtype}); call split_validation "
            "with stratify=False for a regression"
        )
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=labels if stratify else None
    )
    return x_train, y_train, x_val, y_val


def _class_labels(y: np.ndarray) -> np.ndarray | None:
    """One class per example, or None for a continuous target."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot (or multi-hot) rows: their argmax
        return y.argmax(axis=1)
    if y.ndim > 1 and y.shape[1:] != (1,) * (y.ndim - 1):
        return None
    y = y.reshape(len(y))
    return y if y.dtype.kind in "iubUSO" else None


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """--data-dir if given, else $SWEEPER_DATA_DIR, else None (use Keras' download cache)."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    return Path(chosen).expanduser() if chosen else None


def _download_mnist():
    import keras

    return keras.datasets.mnist.load_data()


def load_mnist_arrays(data_dir: str | os.PathLike | None = None):
    """MNIST as ((x_train, y_train), (x_test, y_test)), uint8, Keras' layout.

    Looks for ``mnist.npz`` in the data directory first (machines without a network), then
    falls back to Keras' own download and cache.
    """
    folder = resolve_data_dir(data_dir)
    if folder is not None and (folder / "mnist.npz").is_file():
        with np.load(folder / "mnist.npz") as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    try:
        return _download_mnist()
    except Exception as exc:  # any download failure means the same thing to the user
        looked = f"no mnist.npz in {folder}" if folder else f"${DATA_DIR_ENV} is not set"
        raise DataError(
            f"MNIST not found: {looked} and the download failed ({type(exc).__name__}); "
            f"put mnist.npz in a folder and pass --data-dir or set {DATA_DIR_ENV}"
        ) from exc


def load_dataset(space: Space, data_dir: str | os.PathLike | None) -> Dataset:
    """The space's data, once per process; a failing loader is one clear error."""
    try:
        data = space.load_data(data_dir)
    except SweeperError:
        raise
    except Exception as exc:  # the space's own code: say whose it is and what broke
        raise DataError(
            f"search space {space.name!r} could not load its data ({describe_failure(exc)}); "
            "fix its load_data or pass --data-dir"
        ) from exc
    if not isinstance(data, Dataset):
        raise DataError(
            f"search space {space.name!r}: load_data returned {type(data).__name__}, "
            "not a sweeper.Dataset; return Dataset(x_train, y_train, x_val, y_val, ...)"
        )
    return data
