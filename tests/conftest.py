import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DIGITS_SOURCE = (Path(__file__).parents[1] / "search_spaces" / "digits_space.py").read_text()


@pytest.fixture(scope="session")
def digits_space():
    from sweeper import load_space

    return load_space("digits_space")


@pytest.fixture(scope="session")
def digits_data(digits_space):
    return digits_space.load_data()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# A configuration of digits_space that diverges on every backend: SGD with a learning rate
# that overflows float32 weights in one step (1e6 is enough for TensorFlow, not for JAX).
NAN_PARAMS = {
    "optimizer": "sgd",
    "learning_rate": 1e30,
    "lr_schedule": "constant",
    "batch_size": 16,
    "clipping": "none",
    "dropout": 0.0,
    "hidden_layers": 2,
    "units": 64,
    "activation": "relu",
}
# A sane configuration, for tests that vary one shared hyperparameter at a time.
BASE_PARAMS = {
    "optimizer": "adam",
    "learning_rate": 1e-2,
    "lr_schedule": "constant",
    "batch_size": 32,
    "clipping": "none",
    "dropout": 0.1,
    "hidden_layers": 1,
    "units": 32,
    "activation": "relu",
}


# A sane configuration that diverges at its third epoch in ``diverges_from_epoch_3``'s space.
LATE_NAN_PARAMS = {**BASE_PARAMS, "units": 48}


def diverges_from_epoch_3(space):
    """``space`` whose model for ``LATE_NAN_PARAMS`` (48 units) breaks once it has trained two
    epochs: from then on its output is NaN, as a diverged model's is. Any other model trains
    as ``space``'s."""
    import dataclasses
    import math

    import keras

    class BreaksAfter(keras.layers.Layer):
        def __init__(self, steps, **kwargs):
            super().__init__(**kwargs)
            self.steps = steps

        def build(self, input_shape):
            self.trained = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x, training=None):
            if training:
                self.trained.assign_add(1.0)
            return keras.ops.where(self.trained > self.steps, math.nan, x)

        def get_config(self):
            return {**super().get_config(), "steps": self.steps}

    def build_model(params, data):
        model = space.build_model(params, data)
        if params["units"] != LATE_NAN_PARAMS["units"]:
            return model
        steps = 2 * math.ceil(len(data.x_train) / params["batch_size"])
        inputs = keras.Input(shape=data.input_shape)
        return keras.Model(inputs, BreaksAfter(steps)(model(inputs)))

    return dataclasses.replace(space, build_model=build_model)


# A reason with markup in it: the HTML report must show it as text, never as markup.
MARKUP_REASON = "<b>17 units</b> & no more"
MIXED_TRIALS = {  # trial number -> what it is there for
    0: NAN_PARAMS,  # pruned: diverged at epoch 1, so no value
    1: {**BASE_PARAMS, "optimizer": "sgd", "learning_rate": 1e-5},  # pruned: ~chance, epoch 1
    2: BASE_PARAMS,  # completes
    3: {**BASE_PARAMS, "optimizer": "momentum", "momentum": 0.9, "units": 64},  # conditional
    4: {**BASE_PARAMS, "units": 17},  # fails: its model cannot be built (MARKUP_REASON)
    5: {
        **BASE_PARAMS,
        "lr_schedule": "plateau",
        "plateau_factor": 0.5,  # two conditionals
        "clipping": "clipnorm",
        "clip_threshold": 1.0,
    },
}


def copy_results(source: Path, target: Path) -> Path:
    """A private copy of a results folder, so a test may write into it."""
    import shutil

    shutil.copytree(source, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="session")
def mixed_results(tmp_path_factory, digits_space):
    """A results folder whose digits_space study holds real trials of every kind: complete,
    pruned, failed (one with markup in its reason) and one still running (asked for, as by
    another worker, and never told). Tests copy it before writing into it."""
    import dataclasses

    import optuna

    from sweeper import run_sweep
    from sweeper.storage.storages import open_storage

    def build_model(params, data):
        if params["units"] == 17:
            raise ValueError(MARKUP_REASON)
        return digits_space.build_model(params, data)

    results = tmp_path_factory.mktemp("mixed")
    storage = open_storage(None, results / "digits_space")
    study = optuna.create_study(study_name="digits_space", direction="maximize", storage=storage)
    for params in MIXED_TRIALS.values():
        study.enqueue_trial(params, skip_if_exists=False)
    space = dataclasses.replace(digits_space, build_model=build_model)
    result = run_sweep(
        space,
        n_trials=len(MIXED_TRIALS),
        max_epochs=3,
        results_dir=results,
        pruner=optuna.pruners.ThresholdPruner(lower=0.3),
        workers=None,
    )
    result.study.ask()  # a trial another process would be running now
    return results


# A sweep that weighs accuracy against size: one hidden layer of each width, so each trial's
# parameter count is known (64 inputs, 10 classes: 75 * units + 10), and last a draw that
# learns nothing, which the pruner stops on the primary objective.
WEIGHED_UNITS = (16, 24, 32, 64, 128)
WEIGHED_ARGS = [
    "--objective",
    "val_accuracy:max",
    "--objective",
    "params:min",
    "--constraint",
    "params<=5000",  # 128 units (9,610 parameters) breaks it
]


def weighed_params(units: int) -> int:
    return 75 * units + 10


@pytest.fixture(scope="session")
def weighed_results(tmp_path_factory):
    """A results folder whose digits_space study was swept from the command line with two
    objectives (val_accuracy, params) and a constraint: five complete trials of known sizes,
    one pruned, the winner re-trained by the default rule."""
    import json

    from sweeper.cli import main

    results = tmp_path_factory.mktemp("weighed")
    points = [{**BASE_PARAMS, "units": units} for units in WEIGHED_UNITS]
    points.append({**BASE_PARAMS, "optimizer": "sgd", "learning_rate": 1e-3, "units": 16})
    enqueue = results / "points.json"
    enqueue.write_text(json.dumps(points))
    argv = ["run", "digits_space", *WEIGHED_ARGS, "--trials", str(len(points))]
    argv += ["--max-epochs", "4", "--in-process", "--no-starting-points"]
    argv += ["--enqueue", str(enqueue), "--results-dir", str(results)]
    assert main(argv) == 0
    return results


NEVER_BUILDS = "this model never builds"


def never_builds(params, data):
    raise ValueError(NEVER_BUILDS)


@pytest.fixture(scope="session")
def failed_results(tmp_path_factory, digits_space):
    """A results folder whose digits_space study has one trial, and it failed: its model
    never builds."""
    import dataclasses

    from sweeper import run_sweep

    results = tmp_path_factory.mktemp("failed")
    broken = dataclasses.replace(digits_space, build_model=never_builds)
    run_sweep(broken, n_trials=1, max_epochs=1, results_dir=results, workers=None)
    return results


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on loopback for the session (tests/pg_server.py)."""
    import pg_server

    if pg_server.binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    server = pg_server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres):
    """The URL of a fresh, empty database on that server (its password in it)."""
    return postgres.create_database()


def wait_for(condition, timeout: float, what: str):
    """``condition()``'s first truthy value, polled every 0.2 s for up to ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
