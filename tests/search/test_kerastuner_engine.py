"""KerasTuner as the search engine: the space as KerasTuner hyperparameters, its oracles
choosing the trials of a real sweep (through the CLI, interrupted and resumed to the exact
budget), and the settings it refuses."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import keras_tuner as kt
import optuna
import pandas as pd
import pytest
from conftest import DIGITS_SOURCE
from optuna.trial import TrialState

import sweeper
from sweeper import Categorical, Float, Int, Space, Training
from sweeper.errors import TrialDiverged
from sweeper.search.kerastuner import KerasTunerSampler, to_hyperparameters
from sweeper.storage.record import TrialRecord, count_finished
from sweeper.trials.loop import run_trial
from sweeper.trials.observer import SweepObserver


def every_kind_space(digits_space) -> Space:
    return Space(
        params=[
            Categorical("activation", ("relu", "tanh")),
            Float("slope", 0.01, 0.3, when={"activation": "relu"}),
            Int("units", 16, 128, step=16),
            Int("filters", 8, 256, log=True),
            Float("decay", 0.1, 0.9, step=0.2),
        ],
        training=Training(optimizers=("adam", "momentum"), schedules=("constant", "plateau")),
        build_model=digits_space.build_model,
        load_data=digits_space.load_data,
        name="every_kind",
    )


def test_every_parameter_kind_becomes_its_kerastuner_hyperparameter(digits_space):
    space = every_kind_space(digits_space)
    hps = {hp.name: hp for hp in to_hyperparameters(space).space}
    assert list(hps) == [p.name for p in space.all_params]  # in order, none left out
    assert isinstance(hps["activation"], kt.engine.hyperparameters.Choice)
    assert hps["activation"].values == ["relu", "tanh"]
    assert (hps["units"].min_value, hps["units"].max_value, hps["units"].step) == (16, 128, 16)
    assert hps["filters"].sampling == "log" and hps["filters"].step is None
    assert hps["decay"].step == 0.2 and hps["learning_rate"].sampling == "log"
    assert hps["batch_size"].values == [32, 64, 128]
    parents = {name: [(c.name, list(c.values)) for c in hp.conditions] for name, hp in hps.items()}
    assert parents["slope"] == [("activation", ["relu"])]
    assert parents["momentum"] == [("optimizer", ["momentum"])]
    assert parents["plateau_factor"] == [("lr_schedule", ["plateau"])]
    assert parents["clip_threshold"] == [("clipping", ["clipvalue", "clipnorm", "global_clipnorm"])]


def test_a_conditional_parameter_is_active_in_kerastuner_trials_only_when_it_holds(digits_space):
    oracle = kt.oracles.RandomSearchOracle(
        objective=kt.Objective("val_accuracy", "max"),
        hyperparameters=to_hyperparameters(every_kind_space(digits_space)),
        max_trials=None,
        seed=0,
    )
    seen = set()
    for i in range(40):
        values = oracle._random_values()  # what the oracle would run: active values only
        seen |= {values["activation"], values["optimizer"]}
        assert ("slope" in values) == (values["activation"] == "relu"), i
        assert ("momentum" in values) == (values["optimizer"] == "momentum"), i
        assert ("clip_threshold" in values) == (values["clipping"] != "none"), i
    assert seen == {"relu", "tanh", "adam", "momentum"}  # both sides of each condition


def test_a_hyperband_sweep_gives_each_trial_its_epochs_and_a_winner(tmp_path, digits_space):
    result = sweeper.run(
        digits_space,
        engine="kerastuner",
        algorithm="hyperband",
        n_trials=6,
        max_epochs=4,
        workers=None,
        results_dir=tmp_path,
    )
    assert result.results.path == tmp_path / "digits_space-kerastuner-hyperband"
    board = pd.read_csv(result.results.leaderboard_csv)
    assert len(board) == 6 and set(board["engine"]) == {"kerastuner-hyperband"}
    budgets = [t.user_attrs["epoch_budget"] for t in result.study.trials]
    assert budgets[:5] == [2] * 5 and budgets[5] == 4  # a first round, then a promotion
    assert all(
        t.user_attrs["epochs_run"] <= t.user_attrs["epoch_budget"] for t in result.study.trials
    )
    promoted = result.study.trials[5].params
    assert promoted in [t.params for t in result.study.trials[:5]]  # a first-round config
    assert result.winner is not None and result.winner_model is not None
    assert not (tmp_path / "digits_space").exists()  # the Optuna engine's study untouched


SLOW_DIGITS = DIGITS_SOURCE.replace("patience=2", "patience=1000")  # no early stopping


def start_sweep(tmp_path, *args):
    path = tmp_path / "spaces" / "digits_space.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SLOW_DIGITS)
    return subprocess.Popen(
        [sys.executable, "-m", "sweeper", "run", str(path), "--engine", "kerastuner"]
        + ["--algorithm", "random", "--results-dir", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_interrupted_kerastuner_sweep_resumes_to_the_exact_budget(tmp_path):
    folder = tmp_path / "digits_space-kerastuner-random"
    proc = start_sweep(tmp_path, "--trials", "4", "--max-epochs", "30", "--no-retrain")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # interrupt once a trial has finished, mid-trial
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        try:
            trials = sweeper.load(str(folder)).study.get_trials()
        except (sweeper.SweeperError, KeyError):
            continue
        if any(t.state == TrialState.COMPLETE for t in trials) and any(
            t.state == TrialState.RUNNING for t in trials
        ):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]

    resumed = start_sweep(tmp_path, "--trials", "4", "--max-epochs", "2")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    study = sweeper.load(str(folder)).study
    assert count_finished(study) == 4
    assert not study.get_trials(states=(TrialState.RUNNING,))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len({tuple(sorted(t.params.items())) for t in complete}) == len(complete)  # no repeats
    assert (folder / "winner.json").is_file() and (folder / "leaderboard.html").is_file()


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--workers", "2"],
            "--workers (or --in-process) is 2, but the KerasTuner engine runs one worker",
        ),
        (["--algorithm", "grid"], "argument --algorithm: invalid choice: 'grid'"),
        (["--engine", "nevergrad"], "argument --engine: invalid choice: 'nevergrad'"),
    ],
    ids=["workers", "algorithm", "engine"],
)
def test_engine_settings_it_cannot_run_are_one_line_and_write_nothing(tmp_path, args, expected):
    command = [sys.executable, "-m", "sweeper", "run", "digits_space", "--engine", "kerastuner"]
    done = subprocess.run(
        [*command, *args, "--results-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr
    assert not (tmp_path / "r").exists()


def test_run_sweep_with_the_engine_keeps_to_its_own_study(tmp_path):
    import fakes  # the loop without Keras training (tests/fakes.py)

    result = sweeper.run_sweep(
        fakes.SPACE,
        engine="kerastuner",
        algorithm="random",
        n_trials=3,
        workers=None,
        results_dir=tmp_path,
        make_objective=fakes.quick,
    )
    assert result.results.path == tmp_path / "fake_space-kerastuner-random"
    assert set(result.leaderboard["engine"]) == {"kerastuner-random"}
    assert not (tmp_path / "fake_space").exists()  # the Optuna engine's folder untouched


def test_report_finds_the_engines_study_by_its_flags(tmp_path, capsys):
    import fakes

    from sweeper.cli import main

    sweeper.run_sweep(
        fakes.SPACE,
        engine="kerastuner",
        algorithm="random",
        n_trials=2,
        workers=None,
        results_dir=tmp_path,
        make_objective=fakes.quick,
    )
    space_file = str(Path(fakes.__file__))
    flags = ["--results-dir", str(tmp_path)]
    assert main(["report", space_file, *flags]) == 1  # the Optuna engine's study: none
    assert "no study 'fake_space'" in capsys.readouterr().err
    engine = ["--engine", "kerastuner", "--algorithm", "random"]
    assert main(["report", space_file, *engine, *flags]) == 0
    assert (tmp_path / "fake_space-kerastuner-random" / "leaderboard.html").is_file()


def test_a_reloaded_oracle_repeats_no_trial_it_has_ended(tmp_path, digits_space):
    """KerasTuner's reload() queues the trials it had saved as ongoing for a retry, an ended
    one included; a resumed sweep must not run that trial again."""
    study = optuna.create_study(direction="maximize")

    def one_trial(sampler):
        study.sampler = sampler
        trial = study.ask()
        params = digits_space.suggest(trial)
        study.tell(trial, params["learning_rate"])
        return sampler.oracle.trials[sampler.oracle.start_order[-1]].trial_id

    def sampler():
        return KerasTunerSampler(digits_space, "random", 4, 0, tmp_path)

    first = [one_trial(sampler()) for _ in range(3)]  # each a fresh process' oracle, reloaded
    assert len(set(first)) == 3
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 3


@pytest.mark.parametrize(
    "settings, setting",
    [({"engine": "nevergrad"}, "engine"), ({"algorithm": "grid"}, "algorithm")],
)
def test_engine_settings_from_python_name_the_setting(settings, setting):
    with pytest.raises(sweeper.SettingError) as caught:
        sweeper.SweepConfig(**settings)
    assert caught.value.setting == setting and "must be one of" in str(caught.value)


def test_a_diverged_trial_is_pruned_in_the_study_and_failed_in_the_oracle(tmp_path, digits_space):
    """KerasTuner's oracles have no pruned state: the oracle skips a diverged trial as a
    failed one, while the study records it pruned, as under Optuna, and the sweep goes on."""
    sampler = KerasTunerSampler(digits_space, "bayesian", 4, 0, tmp_path)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def diverges(trial):
        digits_space.suggest(trial)
        trial.report(0.5, step=0)
        raise TrialDiverged("loss became NaN at epoch 2")

    def completes(trial):
        return digits_space.suggest(trial)["learning_rate"]

    diverged = run_trial(study, study.ask(), diverges, SweepObserver())
    complete = run_trial(study, study.ask(), completes, SweepObserver())
    assert diverged.state == TrialState.PRUNED and TrialRecord.of(diverged).diverged
    assert complete.state == TrialState.COMPLETE
    statuses = [sampler.oracle.trials[key].status for key in sampler.oracle.start_order]
    assert statuses == ["FAILED", "COMPLETED"]
