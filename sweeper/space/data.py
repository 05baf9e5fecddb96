"""Datasets: the arrays a space trains, validates and tests on, and the loaders that find them.

A sweep loads its data once per process and hands the same arrays to every trial.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sweeper.errors import DataError, SweeperError, describe_failure

if TYPE_CHECKING:
    from sweeper.space.space import Space

DATA_DIR_ENV = "SWEEPER_DATA_DIR"
# Where Debian's package dataset-fashion-mnist installs the four gzipped IDX files.
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# IDX type codes; multi-byte values are big-endian.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_FIX = "replace it with an intact copy"


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

    def train_and_validation(self) -> Dataset:
        """The same data with the validation split joined to the training one: what a winner
        re-trains on once there is nothing left to validate."""
        return dataclasses.replace(
            self,
            x_train=np.concatenate([self.x_train, self.x_val]),
            y_train=np.concatenate([self.y_train, self.y_val]),
        )

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

    labels = class_labels(y)
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


def class_labels(y: np.ndarray) -> np.ndarray | None:
    """One class per example, or None for a continuous target."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot (or multi-hot) rows: their argmax
        return y.argmax(axis=1)
    if y.ndim > 1 and y.shape[1:] != (1,) * (y.ndim - 1):
        return None
    y = y.reshape(len(y))
    return y if y.dtype.kind in "iubUSO" else None


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir`` if given, else $SWEEPER_DATA_DIR, else None (use Keras' download cache)."""
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
            f"put mnist.npz in a folder and pass {{data_dir}} or set {DATA_DIR_ENV}"
        ) from exc


def read_idx(path: str | os.PathLike, fix: str = _IDX_FIX) -> np.ndarray:
    """The array an IDX file holds (MNIST's format), plain or gzipped, in native byte order.

    ``fix``: what the error tells the user to do about a damaged file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path} ({exc.strerror or exc}); {fix}") from exc
    if raw[:2] == b"\x1f\x8b":  # gzip's magic: trust the bytes, not the file name
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # bad header, truncated stream, bad CRC
            raise DataError(
                f"IDX file {path} is not a valid gzip stream (truncated or corrupt); {fix}"
            ) from exc
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise DataError(f"{path} is not an IDX file (bad magic number); {fix}")
    dtype, ndim = _IDX_DTYPES.get(raw[2]), raw[3]
    if dtype is None:
        raise DataError(f"IDX file {path} has an unknown data type code 0x{raw[2]:02x}; {fix}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated (its header is incomplete); {fix}")
    shape = struct.unpack_from(f">{ndim}I", raw, 4)
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "is truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"IDX file {path} {what}: {len(raw) - header} data bytes where its dimensions "
            f"{'x'.join(map(str, shape))} need {expected - header}; {fix}"
        )
    # astype copies: a writable array in native byte order, not a view of the file's bytes
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_files(folder: Path) -> list[Path] | None:
    """The four Fashion-MNIST IDX files in ``folder``, gzipped or not; None unless all four."""
    found = []
    for name in FASHION_MNIST_FILES:
        candidates = [folder / f"{name}.gz", folder / name]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found


def _check_fashion(x: np.ndarray, y: np.ndarray, images: str, labels: str, fix: str) -> None:
    """Fail now on data a 10-class 28x28 model cannot use, not mid-sweep."""
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        shape = "x".join(map(str, x.shape))
        raise DataError(f"{images} holds {x.dtype} {shape}, not 28x28 uint8 images; {fix}")
    if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x) or (y.size and y.max() > 9):
        raise DataError(
            f"{labels} does not hold one label 0..9 for each of the {len(x)} images in "
            f"{images}; {fix}"
        )


def _download_fashion_mnist():
    import keras

    return keras.datasets.fashion_mnist.load_data()


def load_fashion_mnist_arrays(data_dir: str | os.PathLike | None = None):
    """Fashion-MNIST as ((x_train, y_train), (x_test, y_test)), uint8, Keras' layout.

    Looks for the four IDX files (gzipped or not) in Debian's dataset-fashion-mnist folder,
    then in the data directory's ``fashion-mnist/`` subfolder or the data directory itself
    (MNIST's files have the same names: keep them apart), then falls back to Keras' download.
    """
    folder = resolve_data_dir(data_dir)
    sources = [(FASHION_MNIST_DEBIAN_DIR, "reinstall the Debian package dataset-fashion-mnist")]
    if folder is not None:
        fix = "replace it with an intact copy, or delete it so the data is downloaded again"
        sources += [(folder / "fashion-mnist", fix), (folder, fix)]
    for candidate, fix in sources:
        files = _idx_files(candidate)
        if files is None:
            continue
        x_train, y_train, x_test, y_test = (read_idx(f, fix) for f in files)
        _check_fashion(x_train, y_train, str(files[0]), str(files[1]), fix)
        _check_fashion(x_test, y_test, str(files[2]), str(files[3]), fix)
        return (x_train, y_train), (x_test, y_test)
    try:
        (x_train, y_train), (x_test, y_test) = _download_fashion_mnist()
    except Exception as exc:  # any download failure means the same thing to the user
        looked = [str(FASHION_MNIST_DEBIAN_DIR)]
        looked += [str(folder / "fashion-mnist"), str(folder)] if folder else []
        data_dir_note = "" if folder else f" (${DATA_DIR_ENV} is not set)"
        raise DataError(
            f"Fashion-MNIST not found: no IDX files in {', '.join(looked)}{data_dir_note} and "
            f"the download failed ({type(exc).__name__}); install the Debian package "
            "dataset-fashion-mnist, or put its four IDX files in a folder and pass {data_dir} "
            f"or set {DATA_DIR_ENV}"
        ) from exc
    fix = "delete Keras' cached copy (~/.keras/datasets/fashion-mnist) so it is downloaded again"
    for split, x, y in (("training", x_train, y_train), ("test", x_test, y_test)):
        where = f"Keras' Fashion-MNIST download ({split} set)"
        _check_fashion(x, y, f"{where} images", f"{where} labels", fix)
    return (x_train, y_train), (x_test, y_test)


def load_dataset(space: Space, data_dir: str | os.PathLike | None) -> Dataset:
    """The space's data, once per process; a failing loader is one clear error."""
    try:
        data = space.load_data(data_dir)
    except SweeperError:
        raise
    except Exception as exc:  # the space's own code: say whose it is and what broke
        raise DataError(
            f"search space {space.name!r} could not load its data ({describe_failure(exc)}); "
            "fix its load_data or pass {data_dir}"
        ) from exc
    if not isinstance(data, Dataset):
        raise DataError(
            f"search space {space.name!r}: load_data returned {type(data).__name__}, "
            "not a sweeper.Dataset; return Dataset(x_train, y_train, x_val, y_val, ...)"
        )
    return data
