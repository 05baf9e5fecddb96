"""The one model-building path, shared by the sweep's trials and the winner's re-training:
a configuration's model, compiled with its optimizer, schedule and training options, and
``fit`` as the space (or its hypermodel) trains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import optuna

from sweeper.errors import TrialFailed, describe_failure
from sweeper.space.data import Dataset
from sweeper.space.optimizers import build_optimizer
from sweeper.space.options import (
    build_loss,
    class_weights,
    dtype_policy,
    float32_outputs,
    weight_averaging,
)
from sweeper.space.schedules import StepBudget, build_learning_rate
from sweeper.space.space import Space


def compile_model(
    space: Space, params: Mapping[str, Any], data: Dataset, epochs: int, patience: int | None = None
):
    """Build and compile the space's model for one configuration: ``(model, callbacks)``.

    The one model-building path, shared by the sweep's trials and the winner's re-training.
    Decaying schedules and weight averaging are sized to ``epochs`` over ``data.x_train``;
    the callbacks are those they need (SwapEMAWeights; ReduceLROnPlateau, waiting
    ``patience`` epochs, by default the space's). An unbuildable configuration raises
    ``TrialFailed`` with the reason.
    """
    with dtype_policy(params):  # mixed precision: layers take the policy when created
        try:
            model = space.build(params, data)
        except Exception as exc:  # noqa: BLE001 - an unbuildable configuration is one bad trial
            raise TrialFailed(f"model could not be built: {describe_failure(exc)}") from exc
        model = float32_outputs(model, params)
    if space.training is None:  # a hypermodel that compiles its own: optimizer, loss, metrics
        return model, []
    budget = StepBudget(
        n_examples=len(data.x_train),
        batch_size=params["batch_size"],
        epochs=epochs,
        monitor=space.objective,
        mode=space.keras_mode,
        patience=space.patience if patience is None else patience,
    )
    learning_rate, schedule_callbacks = build_learning_rate(params, budget)
    averaging, averaging_callbacks = weight_averaging(params, budget.steps_per_epoch)
    model.compile(
        optimizer=build_optimizer(learning_rate, params, averaging),
        loss=build_loss(params, space.loss),
        metrics=list(space.metrics),
        steps_per_execution=params.get("steps_per_execution") or steps_per_execution(budget),
        jit_compile=params.get("jit_compile", "auto"),
    )
    # The averaged weights go in first, so every callback after them sees those.
    return model, [*averaging_callbacks, *schedule_callbacks]


# Examples one call into the backend should cover. Small models on small batches spend much
# of each step in Python: on 2 cores, a CNN on 3,000 MNIST images at batch size 32 took 2.0 s
# an epoch at one step per call and 1.3 s at 16 (a bare model.fit); batch size 256
# gains nothing. Callbacks then see every N-th batch, which is all the stop check needs.
EXAMPLES_PER_EXECUTION = 512


def steps_per_execution(budget: StepBudget) -> int:
    """Training steps per backend call (PyTorch's backend takes only 1)."""
    if keras.config.backend() == "torch":
        return 1
    return max(1, min(EXAMPLES_PER_EXECUTION // budget.batch_size, budget.steps_per_epoch))


def fit_model(space: Space, trial: optuna.trial.BaseTrial, params, model, x, y, **kwargs) -> None:
    """``model.fit``, or the hypermodel's ``fit`` (KerasTuner's ``HyperModel.fit``), whose
    ``hp`` draws what it asks for from ``trial`` (a ``FixedTrial`` when re-training). The
    batch size and class weights are the space's ``Training`` ones; without ``Training``,
    the hypermodel's."""
    if space.training is not None:
        kwargs["batch_size"] = params["batch_size"]
        kwargs["class_weight"] = class_weights(params, space.training.fixed_class_weight, y)
    if space.hypermodel is None:
        model.fit(x, y, **kwargs)
        return
    from sweeper.space.hypermodel import fit, trial_hyperparameters

    fit(space.hypermodel, trial_hyperparameters(trial, params), model, x, y, **kwargs)
