"""Test doubles, in the spirit of Optuna's DeterministicPruner: a space and objectives that
train nothing, so the trial loop's, the supervisor's and recovery's rules are checked in
milliseconds (in this process) or a second or two (in worker processes), without Keras.

The objectives are module-level factories with ``run_sweep``'s ``make_objective``
signature, so worker processes find them by reference.
"""

import os
import sys
import time

import numpy as np
import optuna

from sweeper import Dataset, Float, Space, Training
from sweeper.errors import TrialFailed


def load_data(data_dir=None):
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
    return Dataset(x, y, x, y, x, y, num_classes=2)


def build_model(params, data):
    raise AssertionError("the fake objectives build no model")


SPACE = Space(
    params=[Float("x", 0.0, 1.0)],
    training=Training(
        optimizers=("adam",),
        schedules=("constant",),
        clipping=("none",),
        batch_sizes=(8,),
        dropout=None,
    ),
    build_model=build_model,
    load_data=load_data,
    max_epochs=3,
    n_trials=4,
    name="fake_space",
)


class FakeObjective:
    """Reports ``x`` at each epoch and returns it; stops between epochs as a Keras callback
    would, when the stop flag is set. Records whether Keras was ever imported."""

    def __init__(self, config, observer, flag, *, epoch_s=0.0, fail=False):
        self.epochs, self.observer, self.flag = config.epochs, observer, flag
        self.epoch_s, self.fail = epoch_s, fail

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("keras_loaded", "keras" in sys.modules)
        for epoch in range(1, self.epochs + 1):
            deadline = time.monotonic() + self.epoch_s
            while time.monotonic() < deadline:  # "batches": a stop request is seen in 10 ms
                if self.flag.requested:
                    raise KeyboardInterrupt
                time.sleep(0.01)
            trial.report(x, epoch)
            self.observer.epoch_ended(trial.number, epoch, {"val_accuracy": x})
        if self.fail:
            raise TrialFailed(self.fail if isinstance(self.fail, str) else "fake failure")
        return x


def quick(space, data, config, observer, flag):
    return FakeObjective(config, observer, flag)


def slow(space, data, config, observer, flag):
    return FakeObjective(config, observer, flag, epoch_s=1.0)


def sluggish(space, data, config, observer, flag):
    return FakeObjective(config, observer, flag, epoch_s=6.0)


def failing(space, data, config, observer, flag):
    return FakeObjective(config, observer, flag, fail=True)


# A failure reason that looks like rich markup, as TensorFlow's device strings do: every view
# must show it as it is.
MARKUP_LIKE = "no kernel on [/job:localhost/replica:0] for [bold]params[units][/bold]"


def markup_failing(space, data, config, observer, flag):
    return FakeObjective(config, observer, flag, fail=MARKUP_LIKE)


def crashing(space, data, config, observer, flag):
    print("fake start-up noise", file=sys.stderr, flush=True)
    raise RuntimeError("the fake worker crashed on start")


def noisy(space, data, config, observer, flag):
    # What TensorFlow does on import: write to the process' stderr, below Python.
    os.write(2, b"fake oneDNN start-up line\n")
    return FakeObjective(config, observer, flag)
