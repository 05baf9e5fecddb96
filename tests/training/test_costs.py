"""What a trained model costs: measured on a model whose size is known exactly, a cost that
cannot be measured left empty with its reason, and costs on every trial of a real sweep."""

import os
import time
import zipfile

import keras
import numpy as np

from sweeper.training.costs import CostMeter, measure_costs


def dense_model(inputs: int, units: int) -> keras.Model:
    """inputs -> Dense(units): inputs * units weights and units biases, float32."""
    model = keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(units)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_the_costs_of_a_model_whose_size_is_known(tmp_path):
    model = dense_model(50, 40)  # 50 * 40 + 40 = 2,040 parameters: 8,160 bytes of float32
    x = np.random.default_rng(0).random((300, 50), dtype=np.float32)
    started = time.perf_counter()
    costs, errors = measure_costs(model, x, largest_batch=128, train_s=1.23456)
    took = time.perf_counter() - started

    assert errors == {}
    assert costs["params"] == 2040
    assert costs["train_s"] == 1.235
    # The .keras file is a zip of the weights (HDF5) and the config: at least the weights'
    # 8,160 bytes, and the same size as saving it ourselves.
    model.save(tmp_path / "same.keras")
    saved = os.path.getsize(tmp_path / "same.keras")
    assert costs["size_mb"] == round(saved / 1e6, 4)
    with zipfile.ZipFile(tmp_path / "same.keras") as archive:
        weights = archive.getinfo("model.weights.h5").file_size
    assert weights >= 2040 * 4
    # Latency per example: positive, and a batch of 128 costs less per example than one.
    assert 0 < costs["latency_ms_batch"] < costs["latency_ms"] < 1000
    assert took < 2.0  # warm-ups and ~0.1 s of timing per batch size


class FailsToPredict(keras.layers.Layer):
    """Trains, but fails outside training: a backend whose inference path breaks."""

    def call(self, inputs, training=None):
        if not training:
            raise RuntimeError("no inference kernel for this layer")
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def test_a_cost_that_cannot_be_measured_is_empty_with_its_reason():
    model = keras.Sequential([keras.Input((4,)), FailsToPredict(), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 4), dtype=np.float32)
    model.fit(x, np.zeros((8, 2)), epochs=1, verbose=0)
    costs, errors = measure_costs(model, x, largest_batch=4, train_s=0.5)
    assert costs["latency_ms"] is None and costs["latency_ms_batch"] is None
    assert "no inference kernel for this layer" in errors["latency_ms"]
    assert costs["params"] == 10  # 4 * 2 + 2: what could be measured still is


def test_fewer_examples_than_the_largest_batch_are_repeated_to_fill_it():
    model = dense_model(3, 1)
    costs, errors = measure_costs(model, np.ones((5, 3), np.float32), 64, None)
    assert errors == {} and costs["latency_ms_batch"] > 0 and costs["train_s"] is None


def test_a_model_measured_in_its_first_epoch_costs_what_it_costs_trained():
    """The meter measures once, whenever first asked: a pruner of several objectives asks at
    the end of the first epoch, and the trial keeps that. Only the weights' values change
    after it, so parameters and saved size are those of the trained model."""
    model = dense_model(50, 40)
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 50), dtype=np.float32), rng.random((256, 40), dtype=np.float32)
    meter = CostMeter(x, largest_batch=64)

    class MeasureAtFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                meter.measure(self.model)

    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[MeasureAtFirstEpoch()])
    took = meter.seconds
    costs, errors = meter.costs(model, 2.5)
    trained, _ = measure_costs(model, x, 64, None)

    assert errors == {} and 0 < took < 1.0
    assert meter.seconds == took  # measured once: asking again measures nothing
    assert costs["train_s"] == 2.5
    assert costs["params"] == trained["params"] == 2040
    assert costs["size_mb"] == trained["size_mb"]
    assert 0 < costs["latency_ms_batch"] < costs["latency_ms"]
