"""The baseline every benchmark compares with: a hand-written Keras loop, no sweeper around it."""

from __future__ import annotations

from sweeper.training.build import compile_model


def bare_fit(space, data, params, epochs: int) -> None:
    """Build, compile and fit one configuration the way a careful user would by hand: the
    same model and optimizer as a trial, with no sampling, storage or callbacks of ours."""
    model, schedule_callbacks = compile_model(space, params, data, epochs)
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=params["batch_size"],
        epochs=epochs,
        callbacks=schedule_callbacks,
        verbose=0,
    )
