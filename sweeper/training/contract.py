"""The contract between a space's model and its data, checked once before any trial.

A model whose input or output does not fit the data fails every trial the same way, and
TensorFlow says so deep inside a graph error. So one configuration's model is built before
the study opens and its shapes compared with the data's: a mismatch stops the sweep with one
line naming both, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from sweeper.errors import SpaceError
from sweeper.space.data import Dataset
from sweeper.space.space import Space

# Losses whose model output has one unit per class: sparse labels, or one-hot labels.
CLASS_LOSSES = {"sparse_categorical_crossentropy": "sparse", "categorical_crossentropy": "onehot"}


def loss_name(loss: Any) -> str | None:
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None)


def check_model_fits_data(space: Space, data: Dataset) -> None:
    """Raise ``SpaceError`` naming both shapes when the space's model cannot take its data."""
    import optuna

    problem = _class_weight_problem(space, data)
    if problem is not None:
        raise SpaceError(f"search space {space.name!r}: {problem}")
    sampler = optuna.samplers.RandomSampler(seed=0)
    params = space.suggest(optuna.create_study(sampler=sampler).ask())
    if space.hypermodel is not None and set(params) <= {p.name for p in space.all_params}:
        raise SpaceError(
            f"search space {space.name!r}: its hypermodel asks hp for no hyperparameter, so "
            "there is nothing of its own to sweep; declare them with hp.Choice, hp.Int, "
            "hp.Float or hp.Boolean"
        )
    # No clear_session() around it: every trial starts with one, and this model goes with it.
    try:
        model = space.build(params, data)
    except Exception:  # noqa: BLE001 - that configuration fails its own trial, with its reason
        return
    if space.training is None and not getattr(model, "compiled", True):
        raise SpaceError(
            f"search space {space.name!r}: its hypermodel returns a model it has not compiled; "
            "compile it in build_model(hp), or give the space training=Training(...) so "
            "sweeper compiles it"
        )
    problem = input_problem(model, data) or output_problem(space, model, data)
    if problem is not None:
        raise SpaceError(f"search space {space.name!r}: {problem}")


def _class_weight_problem(space: Space, data: Dataset) -> str | None:
    training = space.training
    if training is None or training.class_weight in (None, "none", ("none",), ["none"]):
        return None
    from sweeper.space.options import class_indices

    if class_indices(data.y_train) is not None:
        return None
    return (
        f"Training(class_weight=...) weighs classes, but the data's labels are "
        f"{data.y_train.dtype} (a continuous target or named classes); drop class_weight, "
        "or label the classes 0, 1, ..."
    )


def _single_shape(model: Any, attr: str) -> tuple | None:
    try:
        shape = getattr(model, attr)
    except Exception:  # noqa: BLE001 - a subclassed model not built yet: nothing to compare
        return None
    return tuple(shape) if isinstance(shape, tuple) else None  # several inputs/outputs: skip


def input_problem(model: Any, data: Dataset) -> str | None:
    shape = _single_shape(model, "input_shape")
    if shape is None:
        return None
    takes, given = shape[1:], data.input_shape
    if len(takes) == len(given) and all(
        t is None or t == g for t, g in zip(takes, given, strict=True)
    ):
        return None
    return (
        f"the model takes inputs of shape {takes}, but the data's are {given}; build it on "
        "keras.Input(shape=data.input_shape)"
    )


def output_problem(space: Space, model: Any, data: Dataset) -> str | None:
    loss = loss_name(space.loss if space.training is not None else getattr(model, "loss", None))
    kind = CLASS_LOSSES.get(loss or "")
    shape = _single_shape(model, "output_shape")
    if kind is None or not shape or shape[-1] is None:
        return None
    units = shape[-1]
    if kind == "sparse":
        classes = data.num_classes or int(max(data.y_train.max(), data.y_val.max())) + 1
        labels = f"{classes} classes"
    else:
        classes = data.y_train.shape[-1]
        labels = f"one-hot labels of width {classes}"
    if units == classes:
        return None
    return (
        f"the model outputs {units} units (shape {shape}), but the data has {labels} for "
        f"loss {loss}; give its last layer {classes} units (data.num_classes)"
    )
