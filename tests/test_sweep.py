"""Whole sweeps of digits_space, through the CLI in-process and through the library."""

import csv
import dataclasses

import optuna
import pytest
from conftest import (
    BASE_PARAMS,
    DIGITS_SOURCE,
    LATE_NAN_PARAMS,
    NAN_PARAMS,
    NEVER_BUILDS,
    diverges_from_epoch_3,
    never_builds,
)
from optuna.trial import TrialState

from sweeper import SweeperError, TrialRecord, run_sweep
from sweeper.cli import main
from sweeper.report.live import describe_trial
from sweeper.storage.standing import pick_trial
from sweeper.storage.storages import open_storage

JOURNAL_NAME = "study.journal"


def load_study(results_dir, name="digits_space"):
    storage = open_storage(None, results_dir / name)
    return optuna.load_study(study_name=name, storage=storage)


def read_leaderboard(results_dir, name="digits_space"):
    with open(results_dir / name / "leaderboard.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_cli_sweep_ranks_trials_and_resumes_only_what_is_missing(tmp_path, capsys):
    args = [
        "run",
        "digits_space",
        "--max-epochs",
        "3",
        "--results-dir",
        str(tmp_path),
        "--no-retrain",
    ]
    assert main([*args, "--trials", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 trials run" in out and "best val_accuracy=" in out

    study = load_study(tmp_path)
    assert len(study.trials) == 4
    assert study.user_attrs["sampler"] == "tpe" and study.user_attrs["max_epochs"] == 3
    assert (tmp_path / "digits_space" / JOURNAL_NAME).is_file()
    assert "trial 3" in (tmp_path / "digits_space" / "sweep.log").read_text()

    rows = read_leaderboard(tmp_path)
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    assert sorted(int(r["trial"]) for r in rows) == [0, 1, 2, 3]
    complete = [float(r["value"]) for r in rows if r["state"] == "complete"]
    assert complete and complete == sorted(complete, reverse=True)
    best = max(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.value)
    assert int(rows[0]["trial"]) == best.number
    for row, trial in ((r, study.trials[int(r["trial"])]) for r in rows):
        for name in ("momentum", "weight_decay", "clip_threshold"):
            cell = row.get(f"params_{name}", "")
            assert (cell != "") == (name in trial.params)  # inactive parameters stay empty

    # Same command with a bigger budget: only the missing trials run.
    assert main([*args, "--trials", "6"]) == 0
    assert "2 trials run" in capsys.readouterr().out
    assert [t.number for t in load_study(tmp_path).trials] == [0, 1, 2, 3, 4, 5]
    # Again with the same budget: nothing to do.
    assert main([*args, "--trials", "6"]) == 0
    assert "0 trials run" in capsys.readouterr().out
    assert len(read_leaderboard(tmp_path)) == 6


def test_resumed_sweep_does_not_replay_the_first_sessions_draws(tmp_path, digits_space):
    run_sweep(
        digits_space, n_trials=3, max_epochs=1, sampler="random", results_dir=tmp_path, workers=None
    )
    run_sweep(
        digits_space, n_trials=6, max_epochs=1, sampler="random", results_dir=tmp_path, workers=None
    )
    rates = [t.params["learning_rate"] for t in load_study(tmp_path).trials]
    assert len(set(rates)) == 6


def test_nan_trial_is_pruned_with_its_reason_and_the_sweep_finishes(tmp_path, digits_space):
    study = optuna.create_study(
        study_name="digits_space",
        direction="maximize",
        storage=open_storage(None, tmp_path / "digits_space"),
    )
    study.enqueue_trial(NAN_PARAMS)
    result = run_sweep(digits_space, n_trials=3, max_epochs=2, results_dir=tmp_path, workers=None)
    trials = result.study.trials
    assert len(trials) == 3 and result.trials_run == 3
    assert trials[0].state == TrialState.PRUNED and trials[0].intermediate_values == {}
    assert trials[0].user_attrs["stopped_by"] == "diverged"
    assert trials[0].user_attrs["fail_reason"] == "loss became NaN at epoch 1"
    assert trials[0].user_attrs["best_epoch"] is None  # the NaN epoch is never its best
    assert all(t.state != TrialState.FAIL for t in trials)
    diverged = [r for r in read_leaderboard(tmp_path) if r["stopped_by"] == "diverged"]
    assert [(r["trial"], r["state"], r["value"]) for r in diverged] == [("0", "pruned", "")]
    assert diverged[0]["fail_reason"] == "loss became NaN at epoch 1"


def test_a_trial_that_diverges_later_is_pruned_at_its_last_finite_epoch(tmp_path, digits_space):
    """It ranks with the pruned trials and is never the winner, though what it reported
    before diverging beats the one complete trial (SGD at 1e-5 learns next to nothing)."""
    study = optuna.create_study(
        study_name="digits_space",
        direction="maximize",
        storage=open_storage(None, tmp_path / "digits_space"),
    )
    study.enqueue_trial({**BASE_PARAMS, "optimizer": "sgd", "learning_rate": 1e-5})
    study.enqueue_trial(LATE_NAN_PARAMS)
    result = run_sweep(
        diverges_from_epoch_3(digits_space),
        n_trials=2,
        max_epochs=4,
        pruner="none",
        results_dir=tmp_path,
        workers=None,
    )
    complete, diverged = result.study.trials
    assert complete.state == TrialState.COMPLETE
    assert diverged.state == TrialState.PRUNED
    record = TrialRecord.of(diverged)
    assert record.diverged and record.stopped_by == "diverged"
    assert record.fail_reason == "loss became NaN at epoch 3"
    assert record.history["loss"][2] is None and record.epochs_run == 3
    # Reported: epochs 1 and 2 only. Its value, best epoch and costs come from them.
    assert list(diverged.intermediate_values) == [0, 1]
    assert diverged.value == diverged.intermediate_values[1]
    assert record.best_epoch in (1, 2) and record.costs["params"] > 0
    best_reported = max(diverged.intermediate_values.values())
    assert best_reported > complete.value

    rows = read_leaderboard(tmp_path)
    assert [(r["trial"], r["state"]) for r in rows] == [("0", "complete"), ("1", "pruned")]
    assert rows[1]["stopped_by"] == "diverged"
    assert rows[1]["fail_reason"] == "loss became NaN at epoch 3"
    assert float(rows[1]["value"]) == pytest.approx(best_reported)
    assert pick_trial(result.study).trial.number == 0
    line = describe_trial(diverged, "val_accuracy")
    assert line.startswith("trial    1 pruned   val_accuracy=")
    assert "diverged (loss became NaN at epoch 3)  (3 epochs" in line
    log = (tmp_path / "digits_space" / "sweep.log").read_text()
    assert "trial 1 pruned" in log and "reason=diverged (loss became NaN at epoch 3)" in log


def test_leaderboard_ranks_complete_then_pruned_then_failed(tmp_path, digits_space):
    """Pruned trials by the best value they reported; a trial that diverged at its first
    epoch reported none, so it comes last of them."""
    study = optuna.create_study(
        study_name="digits_space",
        direction="maximize",
        storage=open_storage(None, tmp_path / "digits_space"),
    )
    slow = {**BASE_PARAMS, "optimizer": "sgd", "learning_rate": 1e-5}  # ~chance after 1 epoch
    unbuildable = {**BASE_PARAMS, "units": 17}
    for params in (NAN_PARAMS, slow, BASE_PARAMS, {**BASE_PARAMS, "units": 64}, unbuildable):
        study.enqueue_trial(params)

    def build_model(params, data):
        return (never_builds if params["units"] == 17 else digits_space.build_model)(params, data)

    run_sweep(
        dataclasses.replace(digits_space, build_model=build_model),
        n_trials=5,
        max_epochs=2,
        results_dir=tmp_path,
        pruner=optuna.pruners.ThresholdPruner(lower=0.5),
        workers=None,
    )
    rows = read_leaderboard(tmp_path)
    assert [r["state"] for r in rows] == ["complete", "complete", "pruned", "pruned", "fail"]
    assert float(rows[0]["value"]) >= float(rows[1]["value"])
    assert rows[2]["trial"] == "1" and float(rows[2]["value"]) < 0.5
    assert rows[2]["fail_reason"] == "" and rows[2]["stopped_by"] == ""
    assert rows[3]["trial"] == "0" and rows[3]["value"] == ""
    assert rows[3]["fail_reason"].startswith("loss became NaN")
    assert rows[3]["stopped_by"] == "diverged"
    assert rows[4]["trial"] == "4" and NEVER_BUILDS in rows[4]["fail_reason"]


def test_repeated_failures_stop_the_sweep_with_a_clear_error(tmp_path, digits_space):
    """Failures that say the space cannot train (a model that never builds; a NaN loss does
    not count, tests/trials/test_streak.py)."""
    broken = dataclasses.replace(digits_space, build_model=never_builds)
    with pytest.raises(SweeperError, match="3 trials failed in a row .*never builds"):
        run_sweep(
            broken,
            n_trials=10,
            max_epochs=1,
            results_dir=tmp_path,
            max_consecutive_failures=3,
            workers=None,
        )
    assert len(read_leaderboard(tmp_path)) == 3  # the leaderboard is still written


@pytest.mark.parametrize("workers", [None, 1])
def test_timeout_cuts_the_running_trial_which_keeps_what_it_reached(
    tmp_path, digits_space, workers
):
    # Trials that would train for minutes: the time budget, not the trials, ends the sweep.
    timeout = 4.0 if workers is None else 12.0  # a worker's start-up counts against it
    result = run_sweep(
        digits_space,
        n_trials=50,
        max_epochs=500,
        patience=500,
        pruner="none",
        timeout=timeout,
        results_dir=tmp_path,
        workers=workers,
    )
    # A starting point the budget cut off before it began stays queued, for a re-run.
    *earlier, cut = [t for t in result.study.trials if t.state != TrialState.WAITING]
    last = TrialRecord.of(cut)
    assert last.stopped_by == "timeout" and last.state == TrialState.COMPLETE
    assert 0 < last.epochs_run < 500 and last.value == max(last.history["val_accuracy"])
    assert result.wall_time_s < timeout + 5  # was: the whole 500-epoch trial
    assert [TrialRecord.of(t).stopped_by for t in earlier] == [None] * len(earlier)


@pytest.mark.parametrize("sampler", ["random", "cmaes", "qmc", "tpe"])
def test_samplers_by_name_run(tmp_path, digits_space, sampler):
    result = run_sweep(
        digits_space,
        n_trials=2,
        max_epochs=1,
        sampler=sampler,
        pruner="none",
        results_dir=tmp_path,
        workers=None,
    )
    assert len(result.study.trials) == 2


@pytest.mark.parametrize("pruner", ["median", "successive_halving", "hyperband"])
def test_pruners_by_name_run(tmp_path, digits_space, pruner):
    result = run_sweep(
        digits_space, n_trials=2, max_epochs=2, pruner=pruner, results_dir=tmp_path, workers=None
    )
    assert len(result.study.trials) == 2


def test_gp_sampler_runs_or_names_its_missing_package(tmp_path, digits_space):
    pytest.importorskip("torch", reason="the gp extra (PyTorch) is not installed")
    result = run_sweep(
        digits_space, n_trials=2, max_epochs=1, sampler="gp", results_dir=tmp_path, workers=None
    )
    assert len(result.study.trials) == 2


def test_space_from_a_file_outside_the_repository(tmp_path, capsys):
    path = tmp_path / "my_digits.py"
    path.write_text(DIGITS_SOURCE)
    assert (
        main(
            [
                "run",
                str(path),
                "--trials",
                "1",
                "--max-epochs",
                "1",
                "--no-retrain",
                "--results-dir",
                str(tmp_path / "results"),
            ]
        )
        == 0
    )
    assert (tmp_path / "results" / "my_digits" / "leaderboard.csv").is_file()
    assert not (tmp_path / "results" / "my_digits" / "winner.json").exists()


def test_data_loads_once_and_keras_state_is_cleared_every_trial(
    tmp_path, digits_space, monkeypatch
):
    """And each clear runs with the pre-sweep heap frozen, which is unfrozen afterwards."""
    import dataclasses
    import gc

    import keras

    loads, clears = [], []
    space = dataclasses.replace(
        digits_space, load_data=lambda data_dir: loads.append(1) or digits_space.load_data()
    )
    real_clear = keras.backend.clear_session

    def spy(*args, **kwargs):  # records the call and lets the real one run
        clears.append(gc.get_freeze_count())
        return real_clear(*args, **kwargs)

    monkeypatch.setattr(keras.backend, "clear_session", spy)
    run_sweep(space, n_trials=3, max_epochs=1, results_dir=tmp_path, workers=None)
    assert len(loads) == 1
    assert len(clears) == 3
    assert all(frozen > 10_000 for frozen in clears)  # TensorFlow's own objects, at least
    assert gc.get_freeze_count() == 0


def test_ctrl_c_fails_the_running_trial_as_interrupted_and_exits_130(tmp_path):
    """A real Ctrl-C (SIGINT) to a real sweep process, mid-trial."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # digits_space without early stopping, so each trial trains for seconds, not a blink.
    space_file = tmp_path / "spaces" / "digits_space.py"
    space_file.parent.mkdir()
    space_file.write_text(DIGITS_SOURCE.replace("patience=2", "patience=1000"))
    log = tmp_path / "digits_space" / "sweep.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sweeper",
            "run",
            str(space_file),
            "--trials",
            "100",
            "--max-epochs",
            "50",
            "--pruner",
            "none",
            "--results-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "trial 0 " not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    time.sleep(2)  # well into trial 1, which trains 50 epochs without early stopping
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted; run the same command again to resume" in err
    trials = load_study(tmp_path).trials
    assert trials[-1].state == optuna.trial.TrialState.FAIL
    assert trials[-1].user_attrs["fail_reason"] == "interrupted"
    assert len(read_leaderboard(tmp_path)) == len(trials)  # the leaderboard is still written


def test_database_storage_url_holds_the_study_and_resumes(tmp_path, digits_space):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    run_sweep(
        digits_space, n_trials=2, max_epochs=1, storage=url, results_dir=tmp_path, workers=None
    )
    result = run_sweep(
        digits_space, n_trials=3, max_epochs=1, storage=url, results_dir=tmp_path, workers=None
    )
    assert result.trials_run == 1
    study = optuna.load_study(study_name="digits_space", storage=url)
    assert len(study.trials) == 3
    assert not (tmp_path / "digits_space" / JOURNAL_NAME).exists()
    assert len(read_leaderboard(tmp_path)) == 3


def test_patience_overrides_the_spaces_early_stopping(tmp_path, digits_space, digits_data):
    """A run-level option: the configuration, the objective that uses it, the flag, a test."""
    import keras

    from sweeper import SweepConfig
    from sweeper.training.costs import CostMeter
    from sweeper.training.objective import KerasObjective
    from sweeper.trials.observer import SweepObserver
    from sweeper.trials.stop import StopFlag

    config = SweepConfig(patience=0).resolve(digits_space)
    objective = KerasObjective.for_sweep(
        digits_space, digits_data, config, SweepObserver(), StopFlag()
    )
    meter = CostMeter(digits_data.x_val, largest_batch=32)
    callbacks = objective._callbacks(optuna.create_study().ask(), {}, meter)
    assert [c.patience for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)] == [0]

    assert (
        main(
            [
                "run",
                "digits_space",
                "--patience",
                "0",
                "--trials",
                "2",
                "--max-epochs",
                "8",
                "--pruner",
                "none",
                "--in-process",
                "--no-retrain",
                "--results-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    study = load_study(tmp_path)
    assert study.user_attrs["patience"] == 0
    for trial in study.trials:  # stopped at the first epoch without a strict gain
        values = trial.user_attrs["history"]["val_accuracy"]
        first_best = values.index(max(values)) + 1  # a tie with the best is no gain
        assert trial.user_attrs["epochs_run"] in (first_best + 1, 8)


def test_rerunning_a_finished_sweep_starts_no_worker_and_says_so(tmp_path, capsys):
    import fakes

    def sweep():
        return run_sweep(
            fakes.SPACE, n_trials=3, workers=2, results_dir=tmp_path, make_objective=fakes.quick
        )

    assert sweep().trials_run == 3
    log = tmp_path / "fake_space" / "sweep.log"
    started = log.read_text().count(" started on ")
    again = sweep()
    assert again.trials_run == 0 and again.wall_time_s < 1
    assert log.read_text().count(" started on ") == started  # no worker started this time
    # The CLI says so at once (the fake space's model is never built: no trial runs).
    args = ["run", fakes.__file__, "--trials", "3", "--no-retrain", "--results-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fake_space is finished: its study holds all 3 trials of its budget" in out
