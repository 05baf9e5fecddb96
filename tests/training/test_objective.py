"""The Keras objective on real (tiny) training runs of digits_space."""

import dataclasses
import math
import time

import keras
import optuna
import pytest
from conftest import BASE_PARAMS, NAN_PARAMS

from sweeper import FatalTrialError, TrialFailed
from sweeper.errors import TrialDiverged, describe_failure
from sweeper.space.schedules import StepBudget
from sweeper.storage.record import best_epoch
from sweeper.training.build import compile_model, steps_per_execution
from sweeper.training.objective import KerasObjective, trial_seed
from sweeper.trials.stop import StopFlag


def test_trial_records_history_best_epoch_timings_and_seed(digits_space, digits_data):
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(BASE_PARAMS)
    objective = KerasObjective(digits_space, digits_data, max_epochs=4, seed=7)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    attrs = trial.user_attrs
    history = attrs["history"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert len(history["val_accuracy"]) == attrs["epochs_run"] <= 4
    values = history["val_accuracy"]  # the latest epoch at the best, where epochs tie
    assert attrs["best_epoch"] == max(i for i, v in enumerate(values, 1) if v == max(values))
    assert trial.value == pytest.approx(max(history["val_accuracy"]))
    assert attrs["metrics"]["val_accuracy"] == pytest.approx(trial.value)
    assert attrs["seed"] == trial_seed(7, 0)
    assert 0 < attrs["fit_time_s"] <= attrs["wall_time_s"]
    # When each epoch's values were known: one time per epoch, rising, within the trial.
    ends = attrs["epoch_end_s"]
    assert len(ends) == attrs["epochs_run"] and ends[0] > 0
    assert ends == sorted(ends) and ends[-1] <= attrs["wall_time_s"]
    # The pruning callback reported the objective at every epoch.
    assert list(trial.intermediate_values) == list(range(attrs["epochs_run"]))


@pytest.mark.parametrize(
    ("direction", "values", "best"),
    [
        ("maximize", [0.5, 1.0, 1.0, 0.9, 1.0, 0.8], 5),  # a saturated accuracy
        ("minimize", [3.0, 1.0, 2.0, 1.0, 4.0], 4),
        ("maximize", [0.2, 0.7, math.nan, math.inf], 2),  # non-finite values are never best
        ("minimize", [math.nan, None], None),  # None: a recorded non-finite value
    ],
)
def test_epochs_tied_at_the_best_go_to_the_latest(direction, values, best):
    # The winner re-trains for this many epochs: the latest of epochs validation cannot
    # tell apart leaves a model that learns later from another seed the time to learn.
    assert best_epoch(values, direction) == best


def test_nan_loss_ends_the_trial_as_diverged_with_its_costs(digits_space, digits_data):
    trial = optuna.trial.FixedTrial(NAN_PARAMS)
    with pytest.raises(TrialDiverged, match="loss became NaN at epoch 1"):
        KerasObjective(digits_space, digits_data, max_epochs=3)(trial)
    assert trial.user_attrs["epochs_run"] == 1
    assert trial.user_attrs["history"]["loss"] == [None]  # stored JSON-safe
    # Its validation accuracy that epoch (chance, a broken model's) makes no best epoch.
    assert trial.user_attrs["history"]["val_accuracy"][0] is not None
    assert trial.user_attrs["best_epoch"] is None and trial.user_attrs["metrics"] == {}
    assert trial.user_attrs["costs"]["params"] > 0  # measured, as on a pruned trial


def test_unbuildable_model_fails_the_trial(digits_space, digits_data):
    def build_model(params, data):
        raise ValueError(f"{params['units']} units is too many")

    space = dataclasses.replace(digits_space, build_model=build_model)
    with pytest.raises(TrialFailed, match="model could not be built: ValueError: 32 units"):
        KerasObjective(space, digits_data, max_epochs=1)(optuna.trial.FixedTrial(BASE_PARAMS))


def test_missing_objective_metric_stops_the_sweep_after_one_epoch(digits_space, digits_data):
    # Metric objects skip the up-front name check; the first epoch's logs settle it.
    space = dataclasses.replace(
        digits_space, metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")]
    )
    trial = optuna.trial.FixedTrial(BASE_PARAMS)
    with pytest.raises(FatalTrialError, match="objective 'val_accuracy' is not among .*val_acc"):
        KerasObjective(space, digits_data, max_epochs=5)(trial)
    assert trial.user_attrs["epochs_run"] == 1


def _one_trial_pruned_when_asked(objective: KerasObjective) -> optuna.trial.FrozenTrial:
    """One trial of ``objective`` under a pruner that prunes at every step it judges."""
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(upper=0.0)
    )
    study.enqueue_trial(BASE_PARAMS)
    study.optimize(objective, n_trials=1)
    return study.trials[0]


def test_pruned_trial_keeps_its_history(digits_space, digits_data):
    trial = _one_trial_pruned_when_asked(KerasObjective(digits_space, digits_data, max_epochs=5))
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["epochs_run"] == 1
    assert len(trial.user_attrs["history"]["val_accuracy"]) == 1


def test_the_last_epoch_is_reported_not_pruned(digits_space, digits_data):
    # Pruning there saves no training: the trial finishes, its value in the study.
    trial = _one_trial_pruned_when_asked(KerasObjective(digits_space, digits_data, max_epochs=1))
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.intermediate_values == {0: pytest.approx(trial.value)}


def test_an_epoch_the_deadline_ends_is_reported_not_pruned(digits_space, digits_data):
    flag = StopFlag(deadline=time.time())  # the sweep's time is up at the first batch
    objective = KerasObjective(digits_space, digits_data, max_epochs=5, flag=flag)
    trial = _one_trial_pruned_when_asked(objective)
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.user_attrs["stopped_by"] == "timeout"
    assert list(trial.intermediate_values) == [0]


@pytest.mark.parametrize(
    "exc, reason",
    [
        (MemoryError(), "out of memory: MemoryError"),
        (
            type("ResourceExhaustedError", (Exception,), {})("OOM when allocating tensor"),
            "out of memory: OOM when allocating tensor",
        ),
        (
            RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"),
            "out of memory: RESOURCE_EXHAUSTED",
        ),
        (ValueError("bad shape\nmore detail"), "ValueError: bad shape"),
        (  # Keras' wrapper around an error inside a layer's call(), the reason in bold
            RuntimeError(
                "Exception encountered when calling F.call().\n\n\x1b[1mno kernel for "
                "this layer\x1b[0m\n\nArguments received by F.call():\n  • training=False"
            ),
            "RuntimeError: no kernel for this layer",
        ),
    ],
)
def test_failure_reasons_are_one_line_and_name_out_of_memory(exc, reason):
    text = describe_failure(exc)
    assert text.startswith(reason)
    assert "\n" not in text


def test_small_batches_run_several_steps_per_backend_call(digits_space, digits_data):
    def steps(batch_size, n_examples=60_000):
        return steps_per_execution(StepBudget(n_examples, batch_size, 1, "val_loss", "min", 0))

    if keras.config.backend() == "torch":  # Keras' PyTorch backend takes one step per call
        assert steps(16) == 1
        return
    assert (steps(16), steps(128), steps(512), steps(4096)) == (32, 4, 1, 1)
    assert steps(16, n_examples=100) == 7  # never more than one epoch
    model, _ = compile_model(digits_space, {**BASE_PARAMS, "batch_size": 64}, digits_data, 1)
    assert model.steps_per_execution == 8
