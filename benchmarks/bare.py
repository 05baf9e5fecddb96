"""The baseline every benchmark compares with: a hand-written Keras loop, no sweeper around it."""

from __future__ import annotations

from sweeper.optimizers import build_optimizer
from sweeper.schedules import StepBudget, build_learning_rate


def bare_fit(space, data, params, epochs: int) -> None:
    """Build, compile and fit one configuration the way a careful user would by hand."""
    model = space.build_model(params, data)
    budget = StepBudget(len(data.x_train), params["batch_size"], epochs, space.objective,
                        space.keras_mode, space.patience)
    lr, callbacks = build_learning_rate(params, budget)
    model.compile(optimizer=build_optimizer(lr, params), loss=space.loss,
                  metrics=list(space.metrics))
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
              batch_size=params["batch_size"], epochs=epochs, callbacks=callbacks, verbose=0)
