"""A minimize-direction sweep (a regression, validation MAE): the leaderboard ranks the
lowest value first, and the winner re-trained is that trial."""

import numpy as np
import pandas as pd

import sweeper
from sweeper import Dataset, Int, Space, Training, split_validation


def load_diabetes(data_dir=None) -> Dataset:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x = data.data.astype(np.float32)
    y = ((data.target - data.target.mean()) / data.target.std()).astype(np.float32)
    x_rest, y_rest, x_test, y_test = split_validation(x, y, 0.2, seed=0)
    x_train, y_train, x_val, y_val = split_validation(x_rest, y_rest, 0.2, seed=0)
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test)


def build_mlp(params, data):
    import keras

    inputs = keras.Input(shape=data.input_shape)
    hidden = keras.layers.Dense(params["units"], activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


def test_a_minimize_sweep_ranks_the_lowest_first_and_retrains_it(tmp_path):
    space = Space(
        params=[Int("units", 8, 64, log=True)],
        training=Training(optimizers=("adam",), schedules=("constant",), batch_sizes=(32,)),
        build_model=build_mlp,
        load_data=load_diabetes,
        loss="mse",
        metrics=["mae"],
        objective="val_mae",
        direction="minimize",
        max_epochs=3,
        n_trials=4,
        name="diabetes_mae",
    )
    result = sweeper.run(space, workers=None, pruner="none", results_dir=tmp_path)
    board = pd.read_csv(result.results.leaderboard_csv)
    values = board[board["state"] == "complete"]["value"].tolist()
    assert len(values) == 4 and values == sorted(values)  # lowest MAE first
    best = min(result.study.trials, key=lambda t: t.value)
    assert board.iloc[0]["trial"] == best.number == result.best_trial.number
    assert result.winner is not None and result.winner.card["trial"] == best.number
    assert set(result.winner.card["test_metrics"]) >= {"loss", "mae"}
    page = result.results.leaderboard_html.read_text()
    assert "minimize" in page
