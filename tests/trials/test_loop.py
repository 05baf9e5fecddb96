"""The rules of the trial loop, the budget and the supervisor, checked without Keras.

The in-process tests take milliseconds: fake objectives (tests/fakes.py) on an in-memory
study. The worker tests spawn real processes, which load no Keras, so each takes a second or
two; the real end-to-end runs are in test_workers.py.
"""

import os
import signal
import threading

import fakes
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweeper import SweepConfig, SweeperError, run_sweep
from sweeper.backends.supervisor import Budget
from sweeper.errors import SettingError
from sweeper.storage.record import FAIL_REASON, OWNER, RETRY_OF, WORKER_DIED, count_finished
from sweeper.storage.storages import open_storage
from sweeper.trials.loop import BudgetGate, run_trials
from sweeper.trials.observer import SweepObserver
from sweeper.trials.stop import StopFlag
from sweeper.trials.streak import FailureStreak

CONFIG = SweepConfig.of(max_epochs=2, workers=None).resolve(fakes.SPACE)


def loop(study, make=fakes.quick, budget=3, flag=None, streak=None):
    flag = flag or StopFlag()
    objective = make(fakes.SPACE, None, CONFIG, SweepObserver(), flag)
    return run_trials(
        study,
        objective,
        BudgetGate(study, budget),
        flag=flag,
        observer=SweepObserver(),
        owner={},
        streak=streak,
    )


def test_the_loop_runs_exactly_the_budget_and_counts_what_the_study_holds():
    study = optuna.create_study(direction="maximize")
    assert len(loop(study, budget=3)) == 3
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={FAIL_REASON: WORKER_DIED}))
    assert len(loop(study, budget=5)) == 2  # the lost trial does not count
    assert len(study.trials) == 6 and count_finished(study) == 5


def test_a_stop_request_ends_the_running_trial_as_interrupted():
    study = optuna.create_study(direction="maximize")
    flag = StopFlag()
    threading.Timer(0.3, flag.request).start()  # mid-trial: each "epoch" takes a second
    with pytest.raises(KeyboardInterrupt):
        loop(study, make=fakes.slow, budget=3, flag=flag)
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    assert study.trials[0].user_attrs[FAIL_REASON] == "interrupted"


def test_failures_in_a_row_stop_the_loop_with_the_last_reason():
    study = optuna.create_study(direction="maximize")
    with pytest.raises(SweeperError, match="2 trials failed in a row .*fake failure"):
        loop(study, make=fakes.failing, budget=10, streak=FailureStreak(2))
    assert len(study.trials) == 2


def test_a_signal_sets_the_flag_and_a_second_one_escalates_only_when_asked():
    before = signal.getsignal(signal.SIGINT)
    with StopFlag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: a worker must finish writes
    assert flag.count == 2
    with pytest.raises(KeyboardInterrupt), StopFlag(escalate=True) as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.requested
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_the_budget_answers_go_wait_and_stop():
    study = optuna.create_study()
    for state, reason in ((TrialState.COMPLETE, None), (TrialState.FAIL, WORKER_DIED)):
        study.add_trial(
            create_trial(
                state=state,
                value=0.5 if reason is None else None,
                user_attrs={FAIL_REASON: reason} if reason else {},
            )
        )
    trials = study.trials  # one counted trial, one lost one
    budget = Budget(3)
    assert budget.verdict(trials, []) == "go"
    assert budget.verdict(trials, [None]) == "go"  # 1 counted + 1 in flight < 3
    assert budget.verdict(trials, [None, 7]) is None  # full, unless one in flight is lost
    assert budget.verdict(trials, [0]) == "go"  # a ticket whose trial is finished is free
    assert Budget(1).verdict(trials, []) == "stop"
    assert Budget(3, timeout=1e-9).verdict(trials, []) == "stop"
    assert budget.has_room(trials, [None]) and not budget.has_room(trials, [None, None])


def test_settings_are_checked_once_with_their_names():
    with pytest.raises(SettingError, match="n_trials must be at least 1, but got 0"):
        SweepConfig(n_trials=0)
    with pytest.raises(SettingError, match="workers must be at least 1"):
        SweepConfig.of(workers=0)
    with pytest.raises(SettingError, match="n_trails is not a sweep setting; choose from"):
        SweepConfig.of(n_trails=3)
    resolved = SweepConfig(patience=0).resolve(fakes.SPACE)
    assert (resolved.n_trials, resolved.max_epochs, resolved.patience) == (4, 3, 0)


# --- supervised workers, with fake objectives ----------------------------------------------


def load_study(tmp_path):
    storage = open_storage(None, tmp_path / fakes.SPACE.name)
    return optuna.load_study(study_name=fakes.SPACE.name, storage=storage)


def test_workers_meet_the_exact_budget_and_the_study_records_the_configuration(tmp_path):
    # Trials of a second each: the second worker surely starts before the first is done.
    result = run_sweep(
        fakes.SPACE,
        n_trials=6,
        max_epochs=1,
        workers=2,
        results_dir=tmp_path,
        make_objective=fakes.slow,
    )
    trials = load_study(tmp_path).trials
    assert result.trials_run == 6 and len(trials) == 6
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs[OWNER]["worker"] for t in trials} == {0, 1}
    assert not any(t.user_attrs["keras_loaded"] for t in trials)
    recorded = result.study.user_attrs
    assert (recorded["n_trials"], recorded["workers"], recorded["max_epochs"]) == (6, 2, 1)


def test_failures_in_a_row_across_workers_stop_the_sweep(tmp_path):
    with pytest.raises(SweeperError, match="3 trials failed in a row .*fake failure"):
        run_sweep(
            fakes.SPACE,
            n_trials=20,
            workers=2,
            results_dir=tmp_path,
            max_consecutive_failures=3,
            make_objective=fakes.failing,
        )
    assert 3 <= len(load_study(tmp_path).trials) < 20


class KillFirstTrial(SweepObserver):
    """Kills the worker that runs the first trial, at its first epoch."""

    def __init__(self, tmp_path):
        self.tmp_path, self.killed = tmp_path, None

    def epoch_ended(self, number, epoch, logs, worker=0):
        if self.killed is None:
            self.killed = number
            owner = load_study(self.tmp_path).trials[number].user_attrs[OWNER]
            os.kill(owner["pid"], signal.SIGKILL)


def test_a_killed_worker_is_replaced_and_its_trial_retried_once(tmp_path):
    killer = KillFirstTrial(tmp_path)
    result = run_sweep(
        fakes.SPACE,
        n_trials=3,
        workers=1,
        results_dir=tmp_path,
        make_objective=fakes.slow,
        observer=killer,
    )
    study = load_study(tmp_path)
    lost = study.trials[killer.killed]
    assert lost.state == TrialState.FAIL and lost.user_attrs[FAIL_REASON] == WORKER_DIED
    retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF) == killer.killed]
    assert len(retries) == 1 and retries[0].params == lost.params
    assert count_finished(study) == 3 and len(study.trials) == 4
    assert result.trials_run == 3


def test_a_worker_that_crashes_on_start_says_why_and_writes_nothing(tmp_path, capfd):
    with pytest.raises(
        SweeperError, match="died 3 times before training .*the fake worker crashed on start"
    ):
        run_sweep(fakes.SPACE, workers=1, results_dir=tmp_path, make_objective=fakes.crashing)
    assert "fake start-up noise" not in capfd.readouterr().err  # said in one line, above
    assert not (tmp_path / fakes.SPACE.name).exists()


def test_a_workers_own_output_goes_to_its_log_not_the_terminal(tmp_path, capfd):
    run_sweep(fakes.SPACE, n_trials=2, workers=1, results_dir=tmp_path, make_objective=fakes.noisy)
    assert "fake oneDNN start-up line" not in capfd.readouterr().err
    log = (tmp_path / fakes.SPACE.name / "workers" / "worker-0.log").read_text()
    assert "fake oneDNN start-up line" in log and "--- worker 0" in log
