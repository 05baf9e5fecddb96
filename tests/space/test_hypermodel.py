"""KerasTuner hypermodels as sweeper spaces: every kind of ``hp`` call drawn by Optuna, a
``HyperModel`` with a conditional scope and a ``fit`` override swept by two workers and its
winner re-trained, and the hypermodel mistakes users make, each one line."""

import dataclasses
import subprocess
import sys
import textwrap

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import sweeper
from sweeper import Space, Training
from sweeper.errors import SpaceError
from sweeper.space.hypermodel import sample


def every_kind(hp):
    """Every hp call, drawn without building anything."""
    hp.Choice("activation", ["relu", "tanh"])
    hp.Int("units", 16, 128, step=16)
    hp.Int("filters", 8, 256, sampling="log")
    hp.Int("width", 32, 256, step=2, sampling="log")  # KerasTuner's geometric grid
    hp.Float("rate", 0.0, 0.5)
    hp.Float("momentum", 0.5, 0.9, step=0.1)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Fixed("epochs_seen", 3)
    if hp.Boolean("extra"):
        with hp.conditional_scope("extra", [True]):
            hp.Int("extra_units", 4, 8)
    kind = hp.Choice("kind", ["a", "b"])
    with hp.conditional_scope("kind", ["a"]):
        if kind == "a":
            hp.Float("a_only", 1.0, 2.0)


def test_every_kind_of_hyperparameter_becomes_its_optuna_distribution():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(40):
        trial = study.ask()
        drawn.append(sample(every_kind, trial))
        study.tell(trial, 0.0)
    dists = study.trials[0].distributions
    assert dists["activation"] == CategoricalDistribution(["relu", "tanh"])
    assert dists["units"] == IntDistribution(16, 128, step=16)
    assert dists["filters"] == IntDistribution(8, 256, log=True)
    assert dists["width"] == CategoricalDistribution([32, 64, 128, 256])
    assert dists["rate"] == FloatDistribution(0.0, 0.5)
    assert dists["momentum"] == FloatDistribution(0.5, 0.9, step=0.1)
    assert dists["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert dists["extra"] == CategoricalDistribution([False, True])
    assert all("epochs_seen" not in t.params for t in study.trials)  # Fixed: not swept
    for trial, values in zip(study.trials, drawn, strict=True):
        assert values == trial.params
        assert ("extra_units" in values) == values["extra"]  # active only when it holds
        assert ("a_only" in values) == (values["kind"] == "a")
    assert {v["extra"] for v in drawn} == {True, False} and {v["kind"] for v in drawn} == {"a", "b"}


def test_a_sampling_optuna_cannot_draw_is_named():
    def reverse(hp):
        hp.Float("decay", 0.9, 0.999, sampling="reverse_log")

    with pytest.raises(SpaceError, match="'decay' samples 'reverse_log'.*'linear' or 'log'"):
        sample(reverse, optuna.create_study().ask())


# A KerasTuner HyperModel as its users write it: a conditional scope, compiled in build, and
# a fit override that tunes the batch size.
HYPERMODEL_SPACE = """
import keras_tuner as kt
from search_spaces.digits_space import load_data
from sweeper import Space


class DigitsHyperModel(kt.HyperModel):
    def build(self, hp):
        import keras

        model = keras.Sequential([keras.Input(shape=(64,))])
        model.add(keras.layers.Dense(hp.Int("units", 16, 64, step=16), activation="relu"))
        if hp.Boolean("dropout"):
            with hp.conditional_scope("dropout", [True]):
                model.add(keras.layers.Dropout(hp.Float("rate", 0.1, 0.5)))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(
            optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [16, 64]), **kwargs)


SPACE = Space(
    hypermodel=DigitsHyperModel(),
    training=None,
    load_data=load_data,
    max_epochs=3,
    patience=1,
    n_trials=4,
    name="digits_hypermodel_test",
)
"""


def test_a_hypermodel_with_a_fit_override_sweeps_on_two_workers_and_retrains(tmp_path):
    path = tmp_path / "digits_hm.py"
    path.write_text(HYPERMODEL_SPACE)
    result = sweeper.run(str(path), workers=2, results_dir=tmp_path / "results")
    board = pd.read_csv(result.results.leaderboard_csv)
    assert len(board) == 4 and set(board["state"]) <= {"complete", "pruned"}
    params = {c.removeprefix("params_") for c in board.columns if c.startswith("params_")}
    assert params == {"units", "dropout", "rate", "lr", "batch_size"}  # batch_size: from fit
    assert (board["params_rate"].notna() == board["params_dropout"].astype(bool)).all()
    card = result.winner_card
    assert card is not None and set(card["params"]) >= {"units", "dropout", "lr", "batch_size"}
    assert card["test_metrics"]["accuracy"] > 0.5


def test_a_hypermodel_can_take_sweepers_training_parameters(tmp_path, digits_space):
    def build(hp):  # uncompiled: sweeper compiles it with the trial's optimizer
        import keras

        inputs = keras.Input(shape=(64,))
        hidden = keras.layers.Dense(hp.Int("units", 16, 64, step=16), activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))

    space = Space(
        hypermodel=build,
        training=Training(optimizers=("adam",), schedules=("constant",), batch_sizes=(32,)),
        load_data=digits_space.load_data,
        max_epochs=2,
        n_trials=2,
        name="hm_training",
    )
    result = sweeper.run_sweep(space, workers=None, results_dir=tmp_path)
    board = result.leaderboard
    assert set(board["state"]) == {"complete"}
    assert {"params_optimizer", "params_learning_rate", "params_units"} <= set(board.columns)


NO_HP = """
from search_spaces.digits_space import load_data
from sweeper import Space

def build_model(hp):
    import keras
    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

SPACE = Space(hypermodel=build_model, training=None, load_data=load_data, n_trials=2)
"""
NOT_COMPILED = """
from search_spaces.digits_space import load_data
from sweeper import Space

def build_model(hp):
    import keras
    units = hp.Int("units", 16, 32)
    layers = [keras.Input(shape=(64,)), keras.layers.Dense(units), keras.layers.Dense(10)]
    return keras.Sequential(layers)

SPACE = Space(hypermodel=build_model, training=None, load_data=load_data, n_trials=2)
"""


@pytest.mark.parametrize(
    "source, expected",
    [
        (NO_HP, "its hypermodel asks hp for no hyperparameter, so there is nothing"),
        (NOT_COMPILED, "returns a model it has not compiled; compile it in build_model(hp), or"),
        (
            NO_HP.replace("hypermodel=build_model", "hypermodel=build_model, build_model=len"),
            "either build_model(params, data) or a KerasTuner hypermodel",
        ),
    ],
    ids=["never-calls-hp", "not-compiled", "both-builders"],
)
def test_hypermodel_mistakes_are_one_line_and_write_nothing(tmp_path, source, expected):
    path = tmp_path / "bad_hm.py"
    path.write_text(textwrap.dedent(source))
    done = subprocess.run(
        [sys.executable, "-m", "sweeper", "run", str(path), "--results-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (1, 2), done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("sweeper:")]
    assert len(lines) == 1 and expected in lines[0], done.stderr[-1500:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


def test_the_guides_kerastuner_model_runs_as_written(tmp_path):
    """The guide's KerasTuner "Getting started" model, on generated 28x28 images."""
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs" / "spaces.md").read_text()
    section = guide.split("## A KerasTuner hypermodel as a space")[1]
    code = section.split("```python")[1].split("```")[0]
    namespace: dict = {"load_data": generated_images}
    exec(
        code.replace("max_epochs=10", "max_epochs=1").replace("n_trials=30", "n_trials=3"),
        namespace,
    )
    space = namespace["SPACE"]
    result = sweeper.run_sweep(
        dataclasses.replace(space, name="readme_hm"), workers=None, results_dir=tmp_path
    )
    board = result.leaderboard
    assert len(board) == 3 and "fail" not in set(board["state"])
    assert {"params_num_layers", "params_units_0", "params_activation", "params_lr"} <= set(
        board.columns
    )


def generated_images(data_dir=None):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((300, 28, 28), dtype=np.float32)
    y = (x[:, :14].mean(axis=(1, 2)) > x[:, 14:].mean(axis=(1, 2))).astype(np.int64)
    return sweeper.Dataset(
        x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], num_classes=10
    )


def test_show_lists_the_hyperparameters_a_default_build_asks_for(tmp_path, capsys):
    from sweeper.cli import main

    path = tmp_path / "digits_hm.py"
    path.write_text(
        HYPERMODEL_SPACE.replace('hp.Boolean("dropout")', 'hp.Boolean("dropout", True)')
    )
    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "16..64 step 16 linear" in shown and "0.001..0.1" in shown and "log" in shown
    assert "dropout in [True]" in shown  # the conditional rate, as KerasTuner scopes it
    assert "the hypermodel's own as its default build asks for them" in shown
    assert "batch_size" not in shown  # asked for only by fit, which show does not run


def test_show_of_a_hypermodel_that_cannot_build_is_one_line(tmp_path):
    path = tmp_path / "broken_hm.py"
    path.write_text(NOT_COMPILED.replace('units = hp.Int("units", 16, 32)', "units = 1 / 0"))
    done = subprocess.run(
        [sys.executable, "-m", "sweeper", "show", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (1, 2), done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("sweeper:")]
    assert len(errors) == 1 and "fails to build with its defaults (ZeroDivisionError" in errors[0]
    assert "Traceback" not in done.stderr
