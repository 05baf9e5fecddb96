"""IDX files (MNIST's format) and Fashion-MNIST: the real Debian files, damaged copies of them,
hand-written files, where the loader looks, and fashion_mnist_space on the real data."""

import gzip
import math
import shutil
import struct

import numpy as np
import optuna
import pytest

import sweeper.space.data
from sweeper import DataError, Dataset, load_fashion_mnist_arrays, load_space, read_idx
from sweeper.space.starting import starting_points

DEBIAN = sweeper.space.data.FASHION_MNIST_DEBIAN_DIR  # the real folder, before any monkeypatch
needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(),
    reason=f"no {DEBIAN}: install the Debian package dataset-fashion-mnist (CI does)",
)
UINT8, INT32, FLOAT32 = 0x08, 0x0C, 0x0D


def idx_bytes(code: int, shape: tuple[int, ...], values: list, fmt: str) -> bytes:
    """An IDX file written by hand: magic, type code, ndim, big-endian dims, big-endian data."""
    header = struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return header + struct.pack(f">{len(values)}{fmt}", *values)


def write_fashion(folder, n_train=20, n_test=10, gz=True, labels_short_by=0):
    """Four small valid Fashion-MNIST IDX files: every class in both splits."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=n * 28 * 28).tolist()
        labels = [i % 10 for i in range(n - labels_short_by)]
        for kind, data in (
            ("images-idx3", idx_bytes(UINT8, (n, 28, 28), images, "B")),
            ("labels-idx1", idx_bytes(UINT8, (len(labels),), labels, "B")),
        ):
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Nothing in the Debian folder, and no download: this machine has no network, so the
    download is replaced by one that fails as it would there."""
    empty = tmp_path / "no-debian-package"
    empty.mkdir()
    monkeypatch.setattr(sweeper.space.data, "FASHION_MNIST_DEBIAN_DIR", empty)
    monkeypatch.delenv(sweeper.space.data.DATA_DIR_ENV, raising=False)

    def no_network():
        raise OSError("no network")

    monkeypatch.setattr(sweeper.space.data, "_download_fashion_mnist", no_network)


# The real files ----------------------------------------------------------------------------


@needs_debian
def test_the_debian_files_are_fashion_mnist():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist_arrays()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    # Fashion-MNIST is balanced: every one of the 10 classes, equally often.
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert int(x_train.max()) == 255 and x_train.flags.writeable
    labels = read_idx(DEBIAN / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(labels, y_test)


@needs_debian
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_a_truncated_copy_of_a_real_file_names_the_file(tmp_path, gz):
    real = (DEBIAN / "t10k-labels-idx1-ubyte.gz").read_bytes()
    data = real if gz else gzip.decompress(real)
    broken = tmp_path / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))
    broken.write_bytes(data[:-7])
    with pytest.raises(DataError) as caught:
        read_idx(broken)
    message = str(caught.value)
    assert str(broken) in message and "\n" not in message
    assert ("not a valid gzip stream" if gz else "is truncated") in message
    if not gz:
        assert "9993 data bytes where its dimensions 10000 need 10000" in message


@needs_debian
def test_a_corrupt_gzip_stream_and_a_damaged_debian_file_say_what_to_do(tmp_path, monkeypatch):
    folder = tmp_path / "debian"
    shutil.copytree(DEBIAN, folder)
    labels = folder / "train-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: a bad deflate block or a bad CRC
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match="not a valid gzip stream"):
        read_idx(labels)
    monkeypatch.setattr(sweeper.space.data, "FASHION_MNIST_DEBIAN_DIR", folder)
    with pytest.raises(DataError) as caught:
        load_fashion_mnist_arrays()
    message = str(caught.value)
    assert str(labels) in message and "\n" not in message
    assert message.endswith("; reinstall the Debian package dataset-fashion-mnist")


# Hand-written files ------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    "code, shape, values, fmt, dtype",
    [
        (UINT8, (2, 2, 3), list(range(0, 240, 20)), "B", np.uint8),
        (INT32, (3, 2), [-(2**31), -1, 0, 1, 70000, 2**31 - 1], "i", np.int32),
        (FLOAT32, (4,), [-1.5, 0.0, 0.25, 3e38], "f", np.float32),
    ],
    ids=["uint8", "int32", "float32"],
)
def test_a_hand_written_idx_file_round_trips(tmp_path, gz, code, shape, values, fmt, dtype):
    data = idx_bytes(code, shape, values, fmt)
    path = tmp_path / "array.idx"  # gzip or not, told by its bytes, never by its name
    path.write_bytes(gzip.compress(data) if gz else data)
    array = read_idx(path)
    assert array.shape == shape and array.dtype == np.dtype(dtype)
    assert array.dtype.isnative  # big-endian on disk, native in memory: safe for Keras
    assert array.ravel().tolist() == pytest.approx(values)
    array[...] = 0  # a copy, not a read-only view of the file's bytes


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"<!DOCTYPE html><html>rate limited</html>", "is not an IDX file (bad magic number)"),
        (b"\x00\x00", "is not an IDX file (bad magic number)"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown data type code 0x07"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "is truncated (its header is incomplete)"),
        (idx_bytes(UINT8, (3,), [1, 2, 3], "B") + b"\x00", "has trailing bytes"),
        (idx_bytes(INT32, (2,), [1, 2], "i")[:-1], "is truncated: 7 data bytes"),
        (b"\x1f\x8bnot deflate at all", "is not a valid gzip stream"),
    ],
    ids=["html", "short", "dtype", "header", "trailing", "truncated", "gzip"],
)
def test_a_damaged_idx_file_is_one_line_naming_it_and_the_fix(tmp_path, data, problem):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert problem in message and str(path) in message and "\n" not in message
    assert message.endswith("; replace it with an intact copy")


# Where load_fashion_mnist_arrays looks ------------------------------------------------------


@pytest.mark.parametrize(
    "layout", ["subfolder, gzip", "directly, plain", "environment"], ids=lambda s: s
)
def test_the_loader_finds_the_files_in_the_data_dir(offline, tmp_path, monkeypatch, layout):
    data_dir = tmp_path / "data"
    if layout == "subfolder, gzip":
        write_fashion(data_dir / "fashion-mnist")
    else:
        write_fashion(data_dir, gz=False)
    if layout == "environment":
        monkeypatch.setenv(sweeper.space.data.DATA_DIR_ENV, str(data_dir))
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist_arrays()
    else:
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist_arrays(data_dir)
    assert x_train.shape == (20, 28, 28) and x_test.shape == (10, 28, 28)
    assert y_train.tolist() == [i % 10 for i in range(20)] and y_test.tolist() == list(range(10))


def test_the_debian_folder_comes_before_the_data_dir(offline, tmp_path, monkeypatch):
    monkeypatch.setattr(
        sweeper.space.data, "FASHION_MNIST_DEBIAN_DIR", write_fashion(tmp_path / "deb", n_train=30)
    )
    data_dir = write_fashion(tmp_path / "data" / "fashion-mnist", n_train=20)
    (x_train, _), _ = load_fashion_mnist_arrays(data_dir.parent)
    assert len(x_train) == 30


def test_images_and_labels_that_disagree_are_refused(offline, tmp_path):
    data_dir = write_fashion(tmp_path / "data", labels_short_by=1)
    with pytest.raises(DataError) as caught:
        load_fashion_mnist_arrays(data_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert str(data_dir / "train-labels-idx1-ubyte.gz") in message
    assert "each of the 20 images in" in message


def test_nothing_anywhere_and_no_download_is_one_line_saying_how_to_fix_it(offline, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    write_fashion(empty / "fashion-mnist", gz=False)
    (empty / "fashion-mnist" / "t10k-labels-idx1-ubyte").unlink()  # three files of four: none
    with pytest.raises(DataError) as caught:
        load_fashion_mnist_arrays(empty)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"Fashion-MNIST not found: no IDX files in {sweeper.space.data.FASHION_MNIST_DEBIAN_DIR}, "
        f"{empty / 'fashion-mnist'}, {empty} and the download failed (OSError)"
    )
    # In the library's words: data_dir (the CLI says --data-dir, tests/test_cli_errors.py).
    assert "dataset-fashion-mnist" in message and "pass data_dir or set" in message
    with pytest.raises(DataError, match=r"\$SWEEPER_DATA_DIR is not set"):
        load_fashion_mnist_arrays()


# fashion_mnist_space on the real data ------------------------------------------------------


@pytest.fixture(scope="module")
def fashion():
    if not DEBIAN.is_dir():
        pytest.skip(f"no {DEBIAN}: install the Debian package dataset-fashion-mnist (CI does)")
    space = load_space("fashion_mnist_space")
    return space, space.load_data()


def test_the_fashion_space_loads_and_its_middle_model_fits_the_data(fashion):
    space, data = fashion
    assert space.name == "fashion_mnist_space"
    assert data.x_train.shape == (54000, 28, 28, 1) and data.x_val.shape == (6000, 28, 28, 1)
    assert data.x_test.shape == (10000, 28, 28, 1) and data.num_classes == 10
    assert data.x_train.dtype == np.float32 and float(data.x_train.max()) == 1.0
    assert np.bincount(data.y_val).tolist() == [600] * 10  # seeded and stratified
    params = starting_points(space)[-1]  # Adam at its well-worn rate, every range's middle
    model = space.build_model(params, data)
    assert model.output_shape == (None, 10)
    assert any(type(layer).__name__ == "BatchNormalization" for layer in model.layers)


def test_one_trial_of_the_fashion_space_trains_one_epoch(fashion):
    from sweeper import KerasObjective

    space, data = fashion
    small = Dataset(
        data.x_train[:512],
        data.y_train[:512],
        data.x_val[:256],
        data.y_val[:256],
        data.x_test[:10],
        data.y_test[:10],
        num_classes=10,
    )
    params = starting_points(space)[-1]
    trial = optuna.trial.FixedTrial(params)
    value = KerasObjective(space, small, max_epochs=1)(trial)
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    assert trial.user_attrs["epochs_run"] == 1
