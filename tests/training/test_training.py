"""Every shared hyperparameter the library turns into Keras objects builds and trains."""

import math

import keras
import optuna
import pytest
from conftest import BASE_PARAMS

from sweeper.space.optimizers import CLIPPING_MODES, OPTIMIZERS, build_optimizer
from sweeper.space.schedules import SCHEDULES, StepBudget, build_learning_rate
from sweeper.training.objective import KerasObjective

EXTRAS = {
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_decay_rate": 0.1,
    "warmup_fraction": 0.1,
    "piecewise_drop": 0.1,
    "plateau_factor": 0.5,
    "clip_threshold": 1.0,
}
OPTIMIZER_CLASSES = {
    "sgd": "SGD",
    "momentum": "SGD",
    "nesterov": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


def train_one_epoch(space, data, **overrides):
    params = {**BASE_PARAMS, **overrides}
    for name in (
        "momentum",
        "weight_decay",
        "clip_threshold",
        "lr_decay_rate",
        "warmup_fraction",
        "piecewise_drop",
        "plateau_factor",
    ):
        if any(p.name == name and p.is_active(params) for p in space.all_params):
            params[name] = EXTRAS[name]
    trial = optuna.trial.FixedTrial(params)
    value = KerasObjective(space, data, max_epochs=1)(trial)
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    assert trial.user_attrs["epochs_run"] == 1
    return trial


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_builds_and_trains(name, digits_space, digits_data):
    params = {**BASE_PARAMS, **EXTRAS, "optimizer": name}
    optimizer = build_optimizer(1e-2, params)
    assert type(optimizer).__name__ == OPTIMIZER_CLASSES[name]
    if name in ("momentum", "nesterov"):
        assert optimizer.momentum == pytest.approx(0.9)
        assert optimizer.nesterov == (name == "nesterov")
    if name == "adamw":
        assert optimizer.weight_decay == pytest.approx(1e-4)
    train_one_epoch(digits_space, digits_data, optimizer=name)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_builds_and_trains(name, digits_space, digits_data):
    budget = StepBudget(
        n_examples=1000, batch_size=10, epochs=5, monitor="val_accuracy", mode="max", patience=4
    )
    lr, callbacks = build_learning_rate(
        {**EXTRAS, "lr_schedule": name, "learning_rate": 0.1}, budget
    )
    if name in ("constant", "plateau"):
        assert lr == 0.1
    else:
        assert float(lr(0)) <= 0.1 + 1e-6  # float32
        assert float(lr(budget.total_steps)) < 0.1  # every decay ends below the base rate
    if name == "warmup_cosine":
        assert float(lr(0)) == 0.0 and float(lr(50)) == pytest.approx(0.1)  # 10% of 500 steps
    if name == "piecewise":
        assert float(lr(300)) == pytest.approx(0.01) and float(lr(400)) == pytest.approx(0.001)
    if name == "exponential":
        assert float(lr(budget.total_steps)) == pytest.approx(0.01)
    if name == "plateau":
        assert isinstance(callbacks[0], keras.callbacks.ReduceLROnPlateau)
        assert callbacks[0].patience == 2 and callbacks[0].monitor == "val_accuracy"
    else:
        assert callbacks == []
    train_one_epoch(digits_space, digits_data, lr_schedule=name)


@pytest.mark.parametrize("mode", CLIPPING_MODES)
def test_every_clipping_mode_builds_and_trains(mode, digits_space, digits_data):
    optimizer = build_optimizer(1e-2, {**BASE_PARAMS, **EXTRAS, "clipping": mode})
    for keyword in ("clipvalue", "clipnorm", "global_clipnorm"):
        expected = 1.0 if keyword == mode else None
        assert getattr(optimizer, keyword) == expected
    train_one_epoch(digits_space, digits_data, clipping=mode)
