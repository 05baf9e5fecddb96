import optuna
from optuna.trial import TrialState
from rich.console import Console

from sweeper.report.live import RichProgress, describe_trial, format_duration


def make_trial(number, state, value=None, **attrs):
    trial = optuna.trial.create_trial(
        state=state,
        value=value,
        params={"optimizer": "adam", "learning_rate": 0.0123456},
        distributions={
            "optimizer": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
            "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1, log=True),
        },
        user_attrs={"epochs_run": 3, "wall_time_s": 1.25, **attrs},
        intermediate_values={0: 0.5} if state == TrialState.PRUNED else None,
    )
    trial.number = number
    return trial


def diverged(number, value, epoch):
    """A trial pruned because its loss became NaN, as the trial loop records it."""
    reason = f"loss became NaN at epoch {epoch}"
    return make_trial(number, TrialState.PRUNED, value, fail_reason=reason, stopped_by="diverged")


def test_live_view_shows_counts_best_and_the_running_epoch():
    console = Console(record=True, width=120, force_terminal=False)
    progress = RichProgress("digits_space", "val_accuracy", "maximize", 8, console)
    earlier = [make_trial(0, TrialState.COMPLETE, 0.91)]
    progress.sweep_started(earlier, budget=10)
    progress.trial_started(1)
    progress.epoch_ended(1, 2, {"val_accuracy": 0.875, "loss": 0.4})
    console.print(progress._render())
    progress.trial_finished(make_trial(1, TrialState.COMPLETE, 0.95))
    progress.trial_finished(make_trial(2, TrialState.FAIL, fail_reason="out of memory: OOM"))
    console.print(progress._render())
    progress.sweep_finished()
    text = console.export_text()
    assert "running  trial 1  epoch 2/8  val_accuracy=0.8750" in text
    assert "1/10 trials" in text and "3/10 trials" in text
    assert "2 complete  0 pruned  1 failed" in text
    assert "val_accuracy=0.9500  trial 1  optimizer=adam learning_rate=0.0123" in text
    assert "left" in text  # an estimate once a trial of this session finished


def test_trial_lines_say_outcome_epochs_and_time():
    assert (
        describe_trial(make_trial(3, TrialState.COMPLETE, 0.9), "val_accuracy")
        == "trial    3 complete val_accuracy=0.9000  (3 epochs, 1.2s)"
    )
    failed = make_trial(4, TrialState.FAIL, fail_reason="out of memory: OOM")
    assert "fail     out of memory: OOM  (3 epochs" in describe_trial(failed, "val_accuracy")
    assert describe_trial(diverged(5, 0.5, epoch=4), "val_accuracy") == (
        "trial    5 pruned   val_accuracy=0.5000 diverged (loss became NaN at epoch 4)  "
        "(3 epochs, 1.2s)"
    )
    at_once = describe_trial(diverged(6, None, epoch=1), "val_accuracy")  # reported nothing
    assert "pruned   diverged (loss became NaN at epoch 1)  (3 epochs" in at_once


def test_format_duration():
    assert format_duration(65) == "1:05"
    assert format_duration(3725) == "1:02:05"


def test_live_view_has_one_line_per_worker_with_its_device_and_trial():
    console = Console(record=True, width=120, force_terminal=False)
    progress = RichProgress("digits_space", "val_accuracy", "maximize", 8, console)
    progress.worker_changed(0, "gpu 0", "starting")
    progress.worker_changed(1, "gpu 1", "starting")
    progress.sweep_started([], budget=4)
    progress.trial_started(0, worker=0)
    progress.epoch_ended(0, 3, {"val_accuracy": 0.5}, worker=0)
    progress.worker_changed(1, "gpu 1", "idle")
    console.print(progress._render())
    progress.trial_finished(make_trial(0, TrialState.COMPLETE, 0.9), worker=0)
    progress.trial_started(1, worker=1)
    console.print(progress._render())
    progress.sweep_finished()
    text = console.export_text()
    assert "worker 0  gpu 0  trial 0  epoch 3/8  val_accuracy=0.5000" in text
    assert "worker 1  gpu 1  idle" in text
    assert "worker 0  gpu 0  idle" in text and "worker 1  gpu 1  trial 1  epoch 0/8" in text


def test_live_view_estimates_from_epochs_and_shows_lost_trials_as_such():
    console = Console(record=True, width=120, force_terminal=False)
    progress = RichProgress("digits_space", "val_accuracy", "maximize", 8, console)
    lost = make_trial(0, TrialState.FAIL, fail_reason="interrupted")  # retried on resume
    progress.sweep_started([make_trial(1, TrialState.COMPLETE, 0.9), lost], budget=4)
    progress.trial_started(2)
    progress.epoch_ended(2, 1, {"val_accuracy": 0.5})
    console.print(progress._render())  # no trial of this session has finished yet
    progress.sweep_finished()
    text = console.export_text()
    assert "1/4 trials" in text  # the lost trial does not count against the budget
    assert "1 complete  0 pruned  0 failed  1 lost to a stopped worker (retried)" in text
    assert "left at most" in text  # estimated from the epoch already run


def test_warm_started_trials_count_for_the_best_but_not_against_the_budget():
    console = Console(record=True, width=120, force_terminal=False)
    progress = RichProgress("digits_space", "val_accuracy", "maximize", 8, console)
    warm = make_trial(0, TrialState.COMPLETE, 0.95, warm_start_from="results-old")
    progress.sweep_started([warm, make_trial(1, TrialState.COMPLETE, 0.5)], budget=4)
    assert sum(progress.counts.values()) == 1  # the earlier sweep's trial is not one of the 4
    assert progress.best is warm
    progress.sweep_finished()


def test_the_first_epoch_prints_an_estimate_of_the_whole_sweep_once():
    console = Console(record=True, width=200)
    view = RichProgress("mnist_space", "val_accuracy", "maximize", 10, console)
    view.sweep_started([], 20)
    view.worker_changed(0, "cpu 0", "idle")
    view.worker_changed(1, "cpu 1", "idle")
    view.trial_started(0, worker=0)
    view._trial_began[0] -= 12.0  # as if the trial had started twelve seconds ago
    view.epoch_ended(0, 1, {"val_accuracy": 0.9}, worker=0)
    view.epoch_ended(0, 2, {"val_accuracy": 0.95}, worker=0)
    view.trial_started(1, worker=1)
    view.epoch_ended(1, 1, {"val_accuracy": 0.9}, worker=1)
    view.sweep_finished()
    said = console.export_text()
    # 12 s an epoch, 10 epochs, 20 trials, two at a time: at most 20 minutes.
    assert (
        "trial 0's first epoch took 12.0s: at that pace the 20 trials left take up to 20:00" in said
    )
    assert said.count("first epoch took") == 1 and "(--timeout) caps the sweep" in said
