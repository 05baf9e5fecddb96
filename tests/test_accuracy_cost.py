"""Accuracy and cost together, end to end: a real digits_space sweep run from the command
line with two objectives and a constraint (conftest's ``weighed_results``)."""

import json

import optuna
import pandas as pd
import pytest
from conftest import (
    BASE_PARAMS,
    LATE_NAN_PARAMS,
    WEIGHED_UNITS,
    copy_results,
    diverges_from_epoch_3,
    weighed_params,
)

import sweeper
from sweeper.cli import main
from sweeper.report.leaderboard import COST_COLUMNS
from sweeper.search.pruners import EpochBehindPruner
from sweeper.storage.record import STARTING_POINT, TrialRecord
from sweeper.storage.standing import StudyGoals
from sweeper.storage.storages import load_existing_study, open_storage
from sweeper.training.callbacks import PruningCallback


@pytest.fixture(scope="module")
def board(weighed_results):
    return pd.read_csv(weighed_results / "digits_space" / "leaderboard.csv")


def test_every_trial_that_trained_records_its_costs(board):
    trained = board[board["state"].isin(["complete", "pruned"])]
    assert len(trained) == len(board) == len(WEIGHED_UNITS) + 1
    assert trained[COST_COLUMNS].notna().all().all()
    by_units = dict(zip(trained["params_units"], trained["params"], strict=False))
    assert {units: by_units[units] for units in WEIGHED_UNITS} == {
        units: weighed_params(units) for units in WEIGHED_UNITS
    }
    assert (trained["train_s"] == trained["fit_time_s"]).all()
    assert (trained["cost_time_s"] < 1.0).all()  # a few hundred milliseconds at most
    assert board["cost_errors"].isna().all()


def test_the_primary_objective_is_pruned_with_several_objectives(weighed_results, board):
    pruned = board[board["state"] == "pruned"]
    assert pruned["params_optimizer"].tolist() == ["sgd"]  # the draw that learns nothing
    assert pruned["epochs_run"].item() <= 2 and pd.isna(pruned["pareto_rank"].item())
    study = load_existing_study("digits_space", None, weighed_results / "digits_space")
    assert study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    for trial in complete:  # Optuna's values are the objectives: accuracy and parameters
        record = TrialRecord.of(trial)
        assert trial.values == [record.metrics["val_accuracy"], record.costs["params"]]


def test_the_constraint_marks_the_large_trial_and_the_front_is_ranked(board):
    large = board[board["params"] == weighed_params(128)].iloc[0]
    assert not large["feasible"] and pd.isna(large["pareto_rank"])
    kept = board[(board["state"] == "complete") & board["feasible"]]
    assert len(kept) == len(WEIGHED_UNITS) - 1
    assert kept["pareto_rank"].min() == 1
    # The leaderboard lists the feasible trials first, by Pareto rank then accuracy.
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    assert board["feasible"].tolist()[: len(kept)] == [True] * len(kept)
    ranks = board["pareto_rank"].dropna().tolist()
    assert ranks == sorted(ranks)


def test_the_winner_is_chosen_by_the_default_rule_and_says_why(weighed_results, board):
    card = json.loads((weighed_results / "digits_space" / "winner.json").read_text())
    assert card["rule"] == (
        "min params within 0.005 of val_accuracy, among the trials that keep params<=5000"
    )
    kept = board[(board["state"] == "complete") & board["feasible"]]
    best = kept["val_accuracy"].max()
    close = kept[kept["val_accuracy"] >= best - 0.005 - 1e-12]
    expected = close.sort_values(["params", "val_accuracy"], ascending=[True, False]).iloc[0]
    assert card["trial"] == expected["trial"]
    assert card["costs"]["params"] == expected["params"]
    assert card["why"].startswith(f"least params ({int(expected['params']):,}) of the ")
    assert f"within 0.005 of the best val_accuracy ({best:.4g}" in card["why"]
    study_goals = StudyGoals.of(
        load_existing_study("digits_space", None, weighed_results / "digits_space")
    )
    assert str(study_goals.rule) == "min params within 0.005 of val_accuracy"


def test_the_library_gives_the_front_and_its_plot(weighed_results, board):
    view = sweeper.load("digits_space", results_dir=weighed_results)
    assert set(view.pareto_front["trial"]) == set(board.loc[board["pareto_rank"] == 1, "trial"])
    figure = view.plot("pareto")
    panels = [figure.layout[f"xaxis{i if i > 1 else ''}"].title.text for i in range(1, 6)]
    # The sweep's own cost objective first, then the other costs.
    assert panels == ["params", "size_mb", "latency_ms", "latency_ms_batch", "train_s"]
    front = [trace for trace in figure.data if trace.name == "on the front"]
    assert sorted(front[0].x) == sorted(view.pareto_front["params"])
    assert (
        view.winner_trial.number
        == json.loads((weighed_results / "digits_space" / "winner.json").read_text())["trial"]
    )


def test_resuming_with_other_constraints_is_one_line(weighed_results, tmp_path, capsys):
    results = copy_results(weighed_results, tmp_path / "results")
    argv = ["run", "digits_space", "--objective", "val_accuracy:max", "--objective"]
    argv += ["params:min", "--constraint", "params<=3000", "--results-dir", str(results)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "sweeper: error: study 'digits_space' in this storage was created with params<=5000 "
        "and winner rule 'min params within 0.005 of val_accuracy', but this sweep gives "
        "params<=3000 and winner rule 'min params within 0.005 of val_accuracy'; sweep it as "
        "it was created, or use another --results-dir or --storage"
    )


def test_pruning_several_objectives_is_the_same_rule_on_the_recorded_histories():
    """``prune_several`` reads finished trials' histories; ``prune`` their reported values.
    On the same curves they agree, at every step it judges."""
    finished = [[0.80, 0.90, 0.95, 0.96], [0.70, 0.85, 0.90, 0.93], [0.75, 0.88, 0.92, 0.94]]
    running = [[0.50], [0.74], [0.60, 0.70], [0.80, 0.84]]
    pruner = EpochBehindPruner(max_epochs=6)
    single = optuna.create_study(direction="maximize")
    several = optuna.create_study(directions=["maximize", "minimize"])
    for curve in finished:
        single.add_trial(
            optuna.trial.create_trial(value=max(curve), intermediate_values=dict(enumerate(curve)))
        )
        several.add_trial(
            optuna.trial.create_trial(
                values=[max(curve), 1000.0], user_attrs={"history": {"val_accuracy": curve}}
            )
        )
    verdicts = []
    for curve in running:
        frozen = optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING, intermediate_values=dict(enumerate(curve))
        )
        alone = pruner.prune(single, frozen)
        assert pruner.prune_several(several, "val_accuracy", dict(enumerate(curve))) == alone
        verdicts.append(alone)
    # Epoch 1's bar: the median 0.75 less its gain to epoch 2 (0.88 - 0.75): 0.62. Epoch 2's:
    # the median a step earlier, 0.75.
    assert verdicts == [True, False, True, False]


def test_pruning_several_objectives_lets_the_starting_points_train():
    import keras

    study = optuna.create_study(
        directions=["maximize", "minimize"], pruner=EpochBehindPruner(max_epochs=6)
    )
    history = {"val_accuracy": [0.80, 0.90, 0.95]}
    study.add_trial(optuna.trial.create_trial(values=[0.95, 1e3], user_attrs={"history": history}))
    study.enqueue_trial({}, user_attrs={STARTING_POINT: 2})
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False  # as fit sets it
    for trial, judged in ((study.ask(), False), (study.ask(), True)):  # the start, then a draw
        callback = PruningCallback(trial, "val_accuracy")
        callback.set_model(model)
        callback.set_params({"epochs": 6})
        if judged:  # epoch 1's bar is 0.70: 0.50 is behind it
            with pytest.raises(optuna.TrialPruned):
                callback.on_epoch_end(0, {"val_accuracy": 0.50})
        else:
            callback.on_epoch_end(0, {"val_accuracy": 0.50})


def test_pruning_several_objectives_judges_against_the_trials_no_costlier():
    """A small model is judged against the finished models no larger than it: behind a larger
    one only, it may still be on the front, and runs on."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["val_accuracy:max", "params:min"])
    for curve, params in (([0.80, 0.90, 0.95], 5000), ([0.70, 0.85, 0.90], 2000)):
        study.add_trial(
            optuna.trial.create_trial(
                values=[max(curve), params],
                user_attrs={"history": {"val_accuracy": curve}, "costs": {"params": params}},
            )
        )
    pruner = EpochBehindPruner(max_epochs=6)
    behind = {0: 0.60, 1: 0.72}  # behind both finished trials at epoch 2 (bar: 0.75 median)
    assert pruner.prune_several(study, "val_accuracy", behind)  # costs unknown: against all
    assert pruner.prune_several(study, "val_accuracy", behind, {"params": 5000})
    # At 3,000 parameters only the 2,000 one is a peer: its epoch 1 (0.70) is the bar.
    assert not pruner.prune_several(study, "val_accuracy", behind, {"params": 3000})
    assert not pruner.prune_several(study, "val_accuracy", behind, {"params": 1000})  # none
    assert pruner.prune_several(study, "val_accuracy", {0: 0.60, 1: 0.65}, {"params": 3000})
    # A cost that is not an objective, or has no value, narrows nothing.
    assert pruner.prune_several(study, "val_accuracy", behind, {"size_mb": 0.01})
    assert pruner.prune_several(study, "val_accuracy", behind, {"params": None})


def test_a_diverged_trial_of_several_objectives_is_pruned_with_its_costs(tmp_path, digits_space):
    """Optuna takes no values per epoch with several objectives: the leaderboard's value of a
    trial that diverged at its third epoch is the best of its history before it."""
    study = optuna.create_study(
        study_name="digits_space",
        directions=["maximize", "minimize"],
        storage=open_storage(None, tmp_path / "digits_space"),
    )
    study.enqueue_trial(BASE_PARAMS)
    study.enqueue_trial(LATE_NAN_PARAMS)
    result = sweeper.run_sweep(
        diverges_from_epoch_3(digits_space),
        n_trials=2,
        max_epochs=3,
        objectives=("val_accuracy:max", "params:min"),
        constraints=("params<=5000",),
        pruner="none",
        starting_points=False,
        results_dir=tmp_path,
        workers=None,
    )
    complete, diverged = result.study.trials
    record = TrialRecord.of(diverged)
    assert diverged.state == optuna.trial.TrialState.PRUNED and diverged.values is None
    assert record.stopped_by == "diverged" and record.fail_reason == "loss became NaN at epoch 3"
    params = weighed_params(48) + 1  # and the breaking layer's count of steps
    assert record.costs["params"] == params
    assert diverged.system_attrs["constraints:params<=5000"] == params - 5000

    board = pd.read_csv(tmp_path / "digits_space" / "leaderboard.csv")
    row = board[board["trial"] == 1].iloc[0]
    assert row["state"] == "pruned" and bool(row["feasible"]) and pd.isna(row["pareto_rank"])
    assert row["value"] == pytest.approx(max(record.history["val_accuracy"][:2]))
    assert StudyGoals.of(result.study).choose(result.study).trial.number == complete.number
