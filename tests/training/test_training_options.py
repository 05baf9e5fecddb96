"""Training options (precision, XLA, steps per execution, gradient accumulation, weight
decay, label smoothing, class weights, the loss as a parameter): each one is declared in
``Training``, builds and trains one epoch, and the winner re-trains with it."""

import dataclasses
import json
import math

import keras
import numpy as np
import optuna
import pytest
from conftest import BASE_PARAMS

import sweeper
from sweeper import Dataset, Int, Space, SpaceError, Training
from sweeper.space.options import build_loss, class_weights
from sweeper.training.build import compile_model
from sweeper.training.objective import KerasObjective

MINIMAL = {"optimizers": ("adam",), "schedules": ("constant",), "clipping": ("none",)}


def with_training(space, **options):
    training = Training(**{**MINIMAL, "batch_sizes": (32,), **options})
    return dataclasses.replace(space, training=training, starting_points=[])


def one_epoch(space, data, **params):
    """One trial of one epoch through the sweep's objective; and the model it compiles."""
    params = {**BASE_PARAMS, **params}
    trial = optuna.trial.FixedTrial(params)
    value = KerasObjective(space, data, max_epochs=1)(trial)
    assert math.isfinite(value)
    assert trial.user_attrs["epochs_run"] == 1
    keras.backend.clear_session()
    model, _ = compile_model(space, space.suggest(optuna.trial.FixedTrial(params)), data, 1)
    return model


def param(space, name):
    return next(p for p in space.all_params if p.name == name)


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_the_outputs_float32(digits_space, digits_data, precision):
    space = with_training(digits_space, precision=precision)
    model = one_epoch(space, digits_data, precision=precision)
    assert model.dtype_policy.name == precision
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    # Float16 needs loss scaling, which Keras adds for a mixed_float16 model.
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back


def test_xla_and_steps_per_execution_reach_compile(digits_space, digits_data):
    space = with_training(digits_space, jit_compile=False, steps_per_execution=3)
    model = one_epoch(space, digits_data, jit_compile=False, steps_per_execution=3)
    assert model.jit_compile is False
    assert model.steps_per_execution == 3


def test_gradient_accumulation_and_weight_decay_for_every_optimizer(digits_space, digits_data):
    space = with_training(
        digits_space, optimizers=("sgd",), gradient_accumulation_steps=2, weight_decay=1e-4
    )
    sgd = {"optimizer": "sgd", "gradient_accumulation_steps": 2, "weight_decay": 1e-4}
    model = one_epoch(space, digits_data, **sgd)
    assert model.optimizer.gradient_accumulation_steps == 2
    assert model.optimizer.weight_decay == pytest.approx(1e-4)


def test_a_declared_weight_decay_replaces_adamws_own(digits_space):
    space = dataclasses.replace(
        digits_space, training=Training(optimizers=("adamw", "sgd"), weight_decay=(1e-5, 1e-3))
    )
    decay = [p for p in space.all_params if p.name == "weight_decay"]
    assert len(decay) == 1 and not decay[0].when  # for every optimizer, not only AdamW
    assert (decay[0].low, decay[0].high, decay[0].log) == (1e-5, 1e-3, True)


def test_label_smoothing_on_sparse_labels_matches_keras_on_one_hot(digits_space, digits_data):
    loss = build_loss({"label_smoothing": 0.1}, "sparse_categorical_crossentropy")
    y_true = np.array([0, 2, 1])
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype="float32")
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(
        keras.ops.one_hot(y_true, 3), y_pred
    )
    assert float(loss(y_true, y_pred)) == pytest.approx(float(expected), rel=1e-5)
    unsmoothed = keras.losses.SparseCategoricalCrossentropy()(y_true, y_pred)
    assert float(loss(y_true, y_pred)) != pytest.approx(float(unsmoothed), rel=1e-3)

    space = with_training(digits_space, label_smoothing=(0.0, 0.2))
    assert param(space, "label_smoothing").distribution() == optuna.distributions.FloatDistribution(
        0.0, 0.2
    )
    model = one_epoch(space, digits_data, label_smoothing=0.1)
    assert model.loss.label_smoothing == pytest.approx(0.1)


def test_balanced_class_weights_weigh_the_rare_class_up():
    y = np.array([0] * 90 + [1] * 10)
    weights = class_weights({"class_weight": "balanced"}, None, y)
    assert weights == pytest.approx({0: 100 / (2 * 90), 1: 100 / (2 * 10)})
    one_hot = np.eye(2)[y]
    assert class_weights({"class_weight": "balanced"}, None, one_hot) == weights
    sigmoid_targets = y.astype("float32")[:, None]  # 0/1 floats, as binary cross-entropy takes
    assert class_weights({"class_weight": "balanced"}, None, sigmoid_targets) == weights
    assert class_weights({"class_weight": "none"}, None, y) is None
    assert class_weights({}, {0: 1.0, 1: 3.0}, y) == {0: 1.0, 1: 3.0}


def test_class_weights_change_what_the_model_learns(digits_space):
    """On data 9:1 imbalanced, weighting the rare class up makes the model predict it more."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype("float32")
    y = (x[:, 0] + rng.normal(scale=1.5, size=600) > 2.2).astype("int64")  # ~10% ones
    data = Dataset(x[:400], y[:400], x[400:], y[400:], x[400:], y[400:], num_classes=2)
    space = dataclasses.replace(digits_space, load_data=lambda data_dir=None: data)

    def rare_predictions(class_weight):
        trained = with_training(space, class_weight=class_weight)
        params = {**BASE_PARAMS, "class_weight": class_weight, "learning_rate": 3e-2}
        keras.utils.set_random_seed(0)
        model, _ = compile_model(trained, params, data, 5)
        from sweeper.training.build import fit_model

        fit_model(trained, None, params, model, data.x_train, data.y_train, epochs=5, verbose=0)
        return int((model.predict(data.x_val, verbose=0).argmax(axis=1) == 1).sum())

    assert rare_predictions("balanced") > rare_predictions("none") + 10


def test_the_loss_as_a_parameter_with_its_extras(digits_space):
    space = with_training(digits_space, losses=("mse", "mae", "huber"))
    assert param(space, "loss").choices == ("mse", "mae", "huber")
    delta = param(space, "huber_delta")
    assert delta.when == {"loss": ("huber",)}
    huber = build_loss({"loss": "huber", "huber_delta": 2.5}, "ignored")
    assert isinstance(huber, keras.losses.Huber)
    # An error of 2 is inside delta 2.5 (squared: 0.5 * 2**2), beyond Keras' default delta 1.
    assert float(huber(np.array([0.0]), np.array([2.0]))) == pytest.approx(2.0)
    assert build_loss({"loss": "mae"}, "ignored") == "mae"  # nothing to configure: Keras' name


def test_fixed_options_are_one_choice_parameters_and_defaults_add_none(digits_space):
    assert {p.name for p in digits_space.all_params}.isdisjoint(
        {"precision", "jit_compile", "label_smoothing", "class_weight", "loss", "ema"}
    )
    assert param(with_training(digits_space, ema=False), "ema").choices == (False,)
    assert param(with_training(digits_space, ema=(True, False)), "ema").choices == (True, False)
    space = with_training(digits_space, precision="mixed_bfloat16", class_weight="balanced")
    assert param(space, "precision").choices == ("mixed_bfloat16",)
    assert param(space, "class_weight").choices == ("balanced",)
    swept = with_training(digits_space, precision=("float32", "mixed_float16"))
    assert param(swept, "precision").choices == ("float32", "mixed_float16")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"precision": "fp16"}, "precision"),
        ({"jit_compile": 1}, "jit_compile"),
        ({"steps_per_execution": 0}, "steps_per_execution"),
        ({"gradient_accumulation_steps": (1, 2.5)}, "gradient_accumulation_steps"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"class_weight": "inverse"}, "class_weight"),
        ({"class_weight": {0: 1.0, "one": 2.0}}, "class_weight"),
        ({"losses": ("mse", "hinge_squared")}, "hinge_squared"),
        ({"extras": {"huber_delta": (1.0,)}, "losses": ("huber",)}, "huber_delta"),
        ({"ema": "yes"}, "ema"),
        ({"ema": 0.99}, "ema"),
    ],
)
def test_a_bad_option_is_one_clear_line(options, says):
    with pytest.raises(SpaceError, match=says) as caught:
        Training(**options)
    assert "\n" not in str(caught.value)


def test_label_smoothing_needs_a_cross_entropy_loss(digits_space):
    with pytest.raises(SpaceError, match="needs a cross-entropy loss, but loss 'mse'"):
        dataclasses.replace(digits_space, loss="mse", training=Training(label_smoothing=0.1))


def _fit(space, data, params, epochs, *extra_callbacks):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model, callbacks = compile_model(space, params, data, epochs)
    history = model.fit(
        data.x_train,
        data.y_train,
        batch_size=params["batch_size"],
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        callbacks=[*callbacks, *extra_callbacks],
        verbose=0,
    )
    val_loss = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)["loss"]
    return model, history.history, val_loss


def test_weight_averaging_validates_and_keeps_the_averaged_weights(digits_space, digits_data):
    """By default each epoch is validated on the moving average of the weights, training
    itself is unchanged, and a model ends with the averaged weights it was scored on: after
    its last epoch (as the winner's re-training ends), or at its best epoch (EarlyStopping)."""
    params = {**BASE_PARAMS, "learning_rate": 3e-2}
    averaged, history, end = _fit(digits_space, digits_data, params, 3)
    assert averaged.optimizer.use_ema
    assert end == pytest.approx(history["val_loss"][-1], rel=1e-5)

    plain, plain_history, _ = _fit(digits_space, digits_data, {**params, "ema": False}, 3)
    assert not plain.optimizer.use_ema
    assert history["loss"] == pytest.approx(plain_history["loss"], rel=1e-5)
    assert history["val_loss"] != pytest.approx(plain_history["val_loss"], rel=1e-3)

    keep_best = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    _, history, end = _fit(digits_space, digits_data, params, 3, keep_best)
    assert end == pytest.approx(min(history["val_loss"]), rel=1e-5)


def test_the_average_spans_an_epoch_of_steps():
    from sweeper.space.options import EMA_EPOCHS, ema_momentum

    for steps in (10, 47, 188):
        window = 1 / (1 - ema_momentum(steps))  # steps it takes to forget by a factor of e
        assert window == pytest.approx(EMA_EPOCHS * steps)
    assert ema_momentum(1) == 0.0  # ... but never less than one step: the weights as trained


def test_the_winner_retrains_with_every_option(digits_space, tmp_path):
    """Two one-epoch trials with every option set, then the winner: its card and re-training
    carry the options, and the saved model loads and scores what the card says."""
    options = {
        "precision": "mixed_bfloat16",
        "jit_compile": False,
        "steps_per_execution": 2,
        "gradient_accumulation_steps": 2,
        "weight_decay": 1e-4,
        "label_smoothing": 0.05,
        "class_weight": "balanced",
    }
    space = dataclasses.replace(with_training(digits_space, **options), name="options_space")
    result = sweeper.run(space, n_trials=2, max_epochs=1, workers=None, results_dir=tmp_path)
    assert result.winner is not None
    card = json.loads(result.winner.card_path.read_text())
    assert {name: card["params"][name] for name in options} == options
    model = keras.saving.load_model(result.winner.model_path)
    assert {layer.dtype_policy.name for layer in model.layers} == {"mixed_bfloat16", "float32"}
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    assert model.optimizer.gradient_accumulation_steps == 2
    assert model.loss.label_smoothing == pytest.approx(0.05)
    data = space.load_data()
    scores = model.evaluate(data.x_test, data.y_test, return_dict=True, verbose=0)
    assert scores["accuracy"] == pytest.approx(card["test_metrics"]["accuracy"], abs=1e-6)


def test_class_weights_on_a_regression_stop_the_sweep_before_it_starts(tmp_path):
    from test_minimize import build_mlp, load_diabetes

    space = Space(
        params=[Int("units", 8, 16)],
        training=Training(**MINIMAL, class_weight="balanced"),
        build_model=build_mlp,
        load_data=load_diabetes,
        loss="mse",
        metrics=["mae"],
        objective="val_mae",
        direction="minimize",
        name="weighted_regression",
    )
    with pytest.raises(SpaceError, match="class_weight=.... weighs classes, but the data's"):
        sweeper.run_sweep(space, n_trials=1, workers=None, results_dir=tmp_path)
    assert not (tmp_path / "weighted_regression").exists()
