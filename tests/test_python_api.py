"""sweeper from Python as users write it: a space defined inline in a script, in ``python -``
(stdin) or in a notebook, swept by worker processes; and the result a sweep hands back.

The scripts run as real subprocesses with real Keras on generated data, so what a worker does
with a space it cannot import is what users get. Each run is tagged with an environment
variable that worker processes inherit, so a test can find any worker left behind.
"""

import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest

import sweeper
from sweeper import Dataset, Int, Space, Training

# A space as a user would write it at the top of a script or a notebook cell: every function
# in __main__, which worker processes cannot import.
INLINE_SPACE = """
import numpy as np
import sweeper
from sweeper import Dataset, Int, Space, Training

def load_data(data_dir=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return Dataset(x[:160], y[:160], x[160:200], y[160:200], x[200:], y[200:], num_classes=2)

def build_model(params, data):
    import keras
    inputs = keras.Input(data.input_shape)
    hidden = keras.layers.Dense(params["units"], activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))

space = Space(
    params=[Int("units", 4, 16)],
    training=Training(optimizers=("adam",), schedules=("constant",), batch_sizes=(32,)),
    build_model=build_model, load_data=load_data, max_epochs=2, n_trials=3, name="inline",
)
"""
SWEEP = 'result = sweeper.run_sweep(space, workers=2, results_dir="out")\n'
REPORT = 'print("trials", len(result.study.trials), result.trials_run)\n'


def tagged_processes(tag: str) -> list[psutil.Process]:
    """Processes still alive that inherited ``tag`` (the script's workers, if any)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SWEEPER_TEST_TAG") == tag:
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def run_python(args: list[str], cwd: Path, stdin: str | None = None, timeout: float = 120):
    tag = uuid.uuid4().hex
    env = {**os.environ, "SWEEPER_TEST_TAG": tag, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    time.sleep(0.5)  # a worker the script left behind would still be running now
    return done, tagged_processes(tag)


def test_a_script_without_the_main_guard_sweeps_with_workers(tmp_path):
    (tmp_path / "tune.py").write_text(INLINE_SPACE + SWEEP + REPORT)
    done, left = run_python(["tune.py"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trials 3 3" in done.stdout
    assert "bootstrapping phase" not in done.stderr  # multiprocessing's complaint
    assert not left
    assert (tmp_path / "out" / "inline" / "leaderboard.csv").is_file()


def test_a_space_typed_into_python_stdin_sweeps_with_workers(tmp_path):
    done, left = run_python(["-"], tmp_path, stdin=INLINE_SPACE + SWEEP + REPORT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trials 3 3" in done.stdout
    assert not left
    frame = pd.read_csv(tmp_path / "out" / "inline" / "leaderboard.csv")
    assert set(frame["state"]) <= {"complete", "pruned"}, frame  # trained, none failed
    assert frame["params_units"].between(4, 16).all()


def fake_space(**changes) -> Space:
    def load_data(data_dir=None):
        import numpy as np

        x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
        return Dataset(x, y, x, y, x, y, num_classes=2)

    space = Space(
        params=[Int("units", 4, 16)],
        training=Training(optimizers=("adam",), schedules=("constant",), batch_sizes=(8,)),
        build_model=lambda params, data: None,
        load_data=load_data,
        name="inline",
    )
    return dataclasses.replace(space, **changes)


def test_an_inline_space_without_a_name_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(sweeper.UsageError, match=r'give it one: Space\(\.\.\., name="my_space"\)'):
        sweeper.run_sweep(fake_space(name=""), n_trials=1, results_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["../up", "two words", ".hidden", 7])
def test_a_space_name_that_cannot_name_a_folder_is_refused(name):
    with pytest.raises(sweeper.SpaceError, match="cannot name a study and a folder"):
        fake_space(name=name)


def test_a_space_that_cannot_be_sent_to_workers_names_the_function_at_fault(tmp_path):
    lock = threading.Lock()

    def load_data(data_dir=None):
        with lock:  # a lock cannot be pickled, so this function cannot reach a worker
            return fake_space().load_data()

    with pytest.raises(sweeper.UsageError) as caught:
        sweeper.run_sweep(fake_space(load_data=load_data), n_trials=1, results_dir=tmp_path)
    message = str(caught.value)
    assert "cannot be sent to worker processes: its load_data (" in message
    assert "load_data)" in message and "'_thread.lock'" in message
    assert "\n" not in message and message.endswith("or run with workers=None")
    assert not any(tmp_path.iterdir())


# --- what a sweep hands back, and sweeper.load --------------------------------------------


def fake_sweep(results_dir: Path, n_trials: int) -> sweeper.SweepResult:
    import fakes  # the loop's rules without Keras (tests/fakes.py)

    return sweeper.run_sweep(
        fakes.SPACE,
        n_trials=n_trials,
        workers=None,
        results_dir=results_dir,
        make_objective=fakes.quick,
    )


def test_the_result_gives_the_leaderboard_best_parameters_and_plots(tmp_path):
    result = fake_sweep(tmp_path, n_trials=12)
    frame = result.leaderboard
    on_disk = pd.read_csv(result.results.leaderboard_csv)
    assert list(frame["trial"]) == list(on_disk["trial"]) and len(frame) == 12
    best = max(result.study.trials, key=lambda t: t.value)
    assert result.best_params == best.params == {"x": best.value}
    assert frame.iloc[0]["trial"] == best.number
    for kind in ("history", "importance", "parallel"):
        figure = result.plot(kind)
        assert figure.data, kind  # something drawn
    # The fake objective records no learning curve: the plot says why it has nothing to draw.
    with pytest.raises(sweeper.SweeperError, match="no curves plot .*finished an epoch yet"):
        result.plot("curves")
    with pytest.raises(sweeper.UsageError, match="unknown plot 'loss'; choose from history"):
        result.plot("loss")
    assert result.winner_card is None and result.winner_model is None  # not re-trained


def test_the_notebook_display_is_the_top_of_the_leaderboard(tmp_path):
    result = fake_sweep(tmp_path, n_trials=12)
    shown = result._repr_html_()
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", shown)  # rank, trial
    assert [int(trial) for _, trial in rows] == list(result.leaderboard["trial"].head(10))
    assert "<strong>fake_space</strong>: 12 trials (12 complete)" in shown
    assert f"best val_accuracy {result.best_trial.value:.4g}" in shown
    assert "2 more trials in" in shown and "leaderboard.html" in shown
    assert "&lt;NA&gt;" not in shown and "<td>nan</td>" not in shown.lower()


def test_load_reopens_a_sweep_and_sees_trials_added_after_it_opened(tmp_path):
    fake_sweep(tmp_path, n_trials=3)
    by_folder = sweeper.load(str(tmp_path / "fake_space"))
    import fakes

    by_space = sweeper.load(fakes.SPACE, results_dir=tmp_path)
    assert len(by_folder.leaderboard) == len(by_space.leaderboard) == 3
    fake_sweep(tmp_path, n_trials=5)  # the sweep goes on elsewhere: the views read afresh
    assert len(by_folder.leaderboard) == 5 and by_folder.best_params == by_space.best_params


def test_load_of_a_sweep_that_never_ran_is_an_error_and_creates_nothing(tmp_path):
    with pytest.raises(sweeper.SweeperError, match="no study 'digits_space' in"):
        sweeper.load("digits_space", results_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_script_gets_a_quiet_sweep_unless_it_asks_for_the_live_view():
    from sweeper.report.live import NotebookProgress, RichProgress, progress_for

    args = ("inline", "val_accuracy", "maximize", 3)
    assert type(progress_for(None, *args)) is sweeper.report.live.SweepObserver  # not a notebook
    assert type(progress_for(False, *args)) is sweeper.report.live.SweepObserver
    shown = progress_for(True, *args)
    assert isinstance(shown, RichProgress) and not isinstance(shown, NotebookProgress)


def test_a_sweep_shows_itself_in_one_line(tmp_path):
    result = fake_sweep(tmp_path, n_trials=3)
    best = result.best_trial
    shown = repr(result)
    assert shown.startswith("<SweepResult 'fake_space': 3 trials, best ")
    assert f"(trial {best.number})" in shown and "Study object" not in shown


def test_the_old_readme_imports_still_work_and_say_what_replaces_them(mixed_results):
    """README once showed `from sweeper.study import load_existing_study` and `from
    sweeper.retrain import retrain`: scripts written then still run, warned once."""
    import importlib

    for name in ("sweeper.study", "sweeper.retrain"):
        sys.modules.pop(name, None)
    with pytest.deprecated_call(match=r"use sweeper.load\(space\).study"):
        study_module = importlib.import_module("sweeper.study")
    with pytest.deprecated_call(match="use sweeper.retrain_winner"):
        retrain_module = importlib.import_module("sweeper.retrain")
    study = study_module.load_existing_study("digits_space", None, mixed_results / "digits_space")
    assert study.trials and callable(retrain_module.retrain)
    assert sweeper.retrain_winner is sweeper.pipeline.retrain_winner
