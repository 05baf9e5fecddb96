"""Worker processes on one study: exact budget, a killed worker, Ctrl-C, stale trials, recycling.

Real processes, real signals, a real journal file: the sweeps run as `python -m sweeper` in a
subprocess when a test needs to signal or kill them.
"""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import psutil
import pytest
from conftest import DIGITS_SOURCE, wait_for
from optuna.trial import TrialState

from sweeper import SweeperError, run_sweep
from sweeper.cli import main
from sweeper.storage.record import TrialRecord, count_finished
from sweeper.storage.recovery import OWNER, RETRY_OF, owner_record
from sweeper.storage.storages import open_storage

SLOW_DIGITS = DIGITS_SOURCE.replace("patience=2", "patience=1000")  # no early stopping


def load_study(results_dir, name="digits_space"):
    return optuna.load_study(study_name=name, storage=open_storage(None, results_dir / name))


def slow_space(tmp_path):
    """digits_space without early stopping, so trials last as long as their epoch budget."""
    path = tmp_path / "spaces" / "digits_space.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SLOW_DIGITS)
    return str(path)


def start_sweep(tmp_path, *args):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sweeper",
            "run",
            slow_space(tmp_path),
            "--pruner",
            "none",
            "--no-retrain",
            "--results-dir",
            str(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def alive(pid):
    """Running, not a zombie: an orphan's exit status may wait for a reaper that never comes."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for_running_trials(tmp_path, proc, count, min_epochs=2, timeout=180):
    """RUNNING trials that have reported ``min_epochs`` epochs: workers mid-trial."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        trials = []
        if (tmp_path / "digits_space" / "study.journal").exists():
            # The file is there before the record that creates the study.
            with contextlib.suppress(KeyError):
                trials = load_study(tmp_path).get_trials(states=(TrialState.RUNNING,))
        running = [t for t in trials if len(t.intermediate_values) >= min_epochs]
        if len(running) >= count:
            return running
        time.sleep(0.1)
    raise AssertionError("no trial got going in time")


def test_two_workers_finish_the_exact_budget_each_trial_once(tmp_path, capsys):
    args = [
        "run",
        "digits_space",
        "--workers",
        "2",
        "--trials",
        "7",
        "--max-epochs",
        "2",
        "--no-retrain",
        "--results-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert "7 trials run" in capsys.readouterr().out
    trials = load_study(tmp_path).trials
    assert len(trials) == 7 and all(t.state.is_finished() for t in trials)
    assert sorted(t.number for t in trials) == list(range(7))
    owners = [t.user_attrs[OWNER] for t in trials]
    assert {o["worker"] for o in owners} == {0, 1}  # both workers trained
    assert len({o["sampler_seed"] for o in owners}) == 2  # each with a sampler seed of its own
    assert len({t.user_attrs["seed"] for t in trials}) == 7  # and each trial a seed of its own
    assert len({o["device"] for o in owners}) == 2  # on disjoint cores
    # The budget holds across sessions too: nothing more to do.
    assert main(args) == 0
    assert "0 trials run" in capsys.readouterr().out


def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_retried(tmp_path):
    proc = start_sweep(tmp_path, "--workers", "2", "--trials", "5", "--max-epochs", "10")
    victim = wait_for_running_trials(tmp_path, proc, 1)[0]
    os.kill(victim.user_attrs[OWNER]["pid"], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]

    study = load_study(tmp_path)
    died = study.trials[victim.number]
    assert died.state == TrialState.FAIL and died.user_attrs["fail_reason"] == "worker died"
    retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF) == victim.number]
    assert len(retries) == 1 and retries[0].params == died.params
    assert retries[0].state.is_finished()
    assert count_finished(study) == 5  # the budget, the lost trial aside
    assert len(study.trials) == 6
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    log = (tmp_path / "digits_space" / "sweep.log").read_text()
    assert f"retrying trial(s) [{victim.number}]" in log
    assert log.count("started on") == 3  # two workers and the replacement


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_parent_stops_all_workers_and_a_resumed_run_finishes(tmp_path, signum):
    proc = start_sweep(tmp_path, "--workers", "2", "--trials", "6", "--max-epochs", "40")
    wait_for_running_trials(tmp_path, proc, 2)
    pids = {
        t.user_attrs[OWNER]["pid"]
        for t in load_study(tmp_path).get_trials(states=(TrialState.RUNNING,))
    }
    sent = time.monotonic()
    proc.send_signal(signum)  # to the parent only, as `kill` or a scheduler would
    _, err = proc.communicate(timeout=60)
    stopped_in = time.monotonic() - sent
    assert proc.returncode == 130, err[-2000:]
    assert stopped_in < 10, f"took {stopped_in:.1f}s to stop"
    assert not any(map(alive, pids))  # no worker outlives the sweep

    study = load_study(tmp_path)
    assert not study.get_trials(states=(TrialState.RUNNING,))
    interrupted = [t for t in study.trials if t.user_attrs.get("fail_reason") == "interrupted"]
    assert len(interrupted) == 2 and all(t.state == TrialState.FAIL for t in interrupted)
    assert (tmp_path / "digits_space" / "leaderboard.csv").is_file()

    # Resume with short trials: the interrupted ones are retried and the budget is met.
    resumed = start_sweep(tmp_path, "--workers", "2", "--trials", "6", "--max-epochs", "1")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    study = load_study(tmp_path)
    assert count_finished(study) == 6
    retried = Counter(t.user_attrs.get(RETRY_OF) for t in study.trials)
    assert all(retried[t.number] == 1 for t in interrupted)


def test_stale_running_trials_of_a_dead_process_are_failed_and_retried(tmp_path, digits_space):
    storage = open_storage(None, tmp_path / "digits_space")
    study = optuna.create_study(study_name="digits_space", storage=storage, direction="maximize")
    gone = subprocess.Popen(
        [sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE, text=True
    )
    gone_pid = int(gone.communicate()[0])
    stale = study.ask()
    digits_space.suggest(stale)
    stale.set_user_attr(OWNER, {**owner_record(0, "cpu 0"), "pid": gone_pid})
    alive = study.ask()  # owned by this very process, which is alive: left alone
    digits_space.suggest(alive)
    alive.set_user_attr(OWNER, owner_record(0, "cpu 0"))

    run_sweep(digits_space, n_trials=2, max_epochs=1, results_dir=tmp_path, workers=None)
    trials = load_study(tmp_path).trials
    assert trials[stale.number].state == TrialState.FAIL
    assert trials[stale.number].user_attrs["fail_reason"] == "worker died"
    assert trials[alive.number].state == TrialState.RUNNING
    retry = [t for t in trials if t.user_attrs.get(RETRY_OF) == stale.number]
    assert len(retry) == 1 and retry[0].params == trials[stale.number].params
    assert retry[0].state.is_finished()


def test_trials_per_process_one_runs_every_trial_in_a_fresh_process(tmp_path):
    run_sweep_args = [
        "run",
        "digits_space",
        "--trials",
        "2",
        "--max-epochs",
        "1",
        "--trials-per-process",
        "1",
        "--no-retrain",
        "--results-dir",
        str(tmp_path),
    ]
    assert main(run_sweep_args) == 0
    trials = load_study(tmp_path).trials
    assert len({t.user_attrs[OWNER]["pid"] for t in trials}) == 2
    assert "to give back its memory" in (tmp_path / "digits_space" / "sweep.log").read_text()


def test_workers_whose_supervisor_is_killed_stop_by_themselves(tmp_path):
    proc = start_sweep(tmp_path, "--workers", "2", "--trials", "6", "--max-epochs", "40")
    running = wait_for_running_trials(tmp_path, proc, 2)
    proc.kill()  # SIGKILL: the supervisor gets no chance to stop anyone
    proc.communicate()
    pids = {t.user_attrs[OWNER]["pid"] for t in running}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(map(alive, pids)):
        time.sleep(0.2)
    assert not any(map(alive, pids)), "orphaned workers kept training"
    trials = load_study(tmp_path).trials
    for trial in running:
        assert trials[trial.number].state == TrialState.FAIL
        assert trials[trial.number].user_attrs["fail_reason"] == "interrupted"


def unbuildable(params, data):
    raise ValueError("this model never builds")


def test_repeated_failures_in_workers_stop_the_sweep_with_a_clear_error(tmp_path, digits_space):
    """Failures that say the space cannot train (here, a model that never builds; not a NaN
    loss, tests/trials/test_streak.py), counted across the workers by the supervisor."""
    broken = dataclasses.replace(digits_space, build_model=unbuildable)
    with pytest.raises(SweeperError, match="3 trials failed in a row .*never builds"):
        run_sweep(
            broken,
            n_trials=10,
            max_epochs=1,
            results_dir=tmp_path,
            workers=1,
            max_consecutive_failures=3,
        )
    assert len(load_study(tmp_path).trials) == 3


def test_a_worker_retires_once_what_it_keeps_per_trial_adds_up_to_ten_percent_or_n_trials():
    from sweeper.backends.worker import should_retire
    from sweeper.config import Placement

    mib = 2**20
    default = Placement()  # by memory: the median growth per trial, times trials, over 10%
    leaking = [1000 * mib + n * 5 * mib for n in range(25)]  # 5 MiB kept per trial
    assert not should_retire(default, leaking[:20])  # 100 MiB: 10% of 1000, not over
    assert should_retire(default, leaking[:21])
    # Caches allocated once by the second trial (MNIST's grew 10% then) are not a leak.
    caching = [1000 * mib, 1150 * mib, *(1150 * mib + n * mib for n in range(1, 40))]
    assert not should_retire(default, caching)
    assert not should_retire(default, [1000 * mib, 2000 * mib])  # too few trials to tell
    counted = Placement(trials_per_process=3, memory_growth=None)
    assert not should_retire(counted, [5000 * mib, 5000 * mib])
    assert should_retire(counted, [1000 * mib] * 3)


def run_digits(tmp_path, *args, env=None):
    """`python -m sweeper run digits_space ARGS` in a fresh process, as a user runs it."""
    command = [sys.executable, "-m", "sweeper", "run", "digits_space", *args]
    return subprocess.run(
        [*command, "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_run_prints_no_tensorflow_start_up_lines(tmp_path):
    """TensorFlow writes them from C++ in every worker and in the re-train: they go to
    results/<space>/workers/, and the terminal shows only what sweeper says."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = run_digits(tmp_path, "--trials", "2", "--max-epochs", "1", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    assert "winner: trial" in done.stdout
    logs = tmp_path / "digits_space" / "workers"
    assert "--- worker 0" in (logs / "worker-0.log").read_text()
    assert (logs / "retrain.log").is_file()


def test_a_sweep_runs_on_the_jax_backend(tmp_path):
    """GPU machines often have JAX and no TensorFlow: workers and the winner run on it, and
    every cost is measured there too (in the first epoch, as the pruner of two objectives
    asks, or at the end)."""
    pytest.importorskip("jax", reason="the jax extra is not installed")
    import json

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    goals = ["--objective", "val_accuracy:max", "--objective", "params:min"]
    done = run_digits(tmp_path, "--trials", "2", "--max-epochs", "3", *goals, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    study = load_study(tmp_path)
    assert count_finished(study) == 2
    for trial in study.trials:
        record = TrialRecord.of(trial)
        assert record.cost_errors == {}
        assert all(value > 0 for value in record.costs.values()), record.costs
    card = json.loads((tmp_path / "digits_space" / "winner.json").read_text())
    assert card["versions"]["keras_backend"] == "jax"
    assert card["costs"]["params"] > 0


def test_a_worker_stops_at_its_next_batch_once_its_supervisor_is_gone(tmp_path):
    """Not at its epoch's end (its next write to the pipe): the fake's epochs last 6 s and it
    checks for a stop every 10 ms, as Keras' callbacks do between batches."""
    tests = Path(__file__).parents[1]
    script = (
        f"import sys; sys.path.insert(0, {str(tests)!r}); import fakes, sweeper\n"
        f"sweeper.run_sweep(fakes.SPACE, n_trials=3, workers=1, starting_points=False, "
        f"results_dir={str(tmp_path)!r}, make_objective=fakes.sluggish)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    journal = tmp_path / "fake_space" / "study.journal"

    def running():
        if proc.poll() is not None or not journal.exists():
            return None
        storage = open_storage(None, tmp_path / "fake_space")
        trials = optuna.load_study(study_name="fake_space", storage=storage).trials
        return [t for t in trials if t.state == TrialState.RUNNING and OWNER in t.user_attrs]

    [trial] = wait_for(running, 120, "the worker to start its first trial")
    worker = trial.user_attrs[OWNER]["pid"]
    proc.kill()
    proc.wait()
    killed = time.monotonic()
    while alive(worker) and time.monotonic() - killed < 10:
        time.sleep(0.05)
    assert time.monotonic() - killed < 3, "the worker trained on to its epoch's end"
    storage = open_storage(None, tmp_path / "fake_space")
    study = optuna.load_study(study_name="fake_space", storage=storage)
    assert study.trials[trial.number].user_attrs["fail_reason"] == "interrupted"
