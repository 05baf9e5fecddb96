"""Training options beyond optimizer and schedule: precision, compilation, gradient
accumulation, weight decay, weight averaging, the loss (label smoothing included) and class
weights.

``Training`` declares each one fixed or swept (``option_params``); the trial's values then
arrive in ``params`` like any other, and the helpers here turn them into Keras settings in
the one build path (``objective.compile_model`` and ``fit_model``), for the sweep and the
winner's re-training alike. Keras is imported only when building.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweeper.errors import SpaceError, TrialFailed
from sweeper.space.params import Categorical, Float, Param

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
CLASS_WEIGHTS = ("none", "balanced")
HUBER_DELTA = Float("huber_delta", 0.1, 10.0, log=True)
FOCAL_GAMMA = Float("focal_gamma", 0.5, 5.0)


@dataclass(frozen=True)
class LossSpec:
    """A Keras loss class and the extras it takes (sampled only when it is chosen), each
    passed as the keyword ``keywords`` names; ``smoothable``: it takes label smoothing."""

    keras_class: str
    extras: tuple[Param, ...] = ()
    keywords: Mapping[str, str] = field(default_factory=dict)
    smoothable: bool = False


LOSSES: dict[str, LossSpec] = {
    "mse": LossSpec("MeanSquaredError"),
    "mae": LossSpec("MeanAbsoluteError"),
    "huber": LossSpec("Huber", (HUBER_DELTA,), {"huber_delta": "delta"}),
    "log_cosh": LossSpec("LogCosh"),
    "binary_crossentropy": LossSpec("BinaryCrossentropy", smoothable=True),
    "binary_focal_crossentropy": LossSpec(
        "BinaryFocalCrossentropy", (FOCAL_GAMMA,), {"focal_gamma": "gamma"}, smoothable=True
    ),
    "categorical_crossentropy": LossSpec("CategoricalCrossentropy", smoothable=True),
    "sparse_categorical_crossentropy": LossSpec("SparseCategoricalCrossentropy", smoothable=True),
}
# Keras' long names for the same losses, as a space may spell its fixed loss.
ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "huber_loss": "huber",
    "logcosh": "log_cosh",
}


def loss_spec(loss: Any) -> LossSpec | None:
    """The registry entry of a loss given by name, or None (an object, or a name of Keras'
    that the registry does not carry)."""
    if not isinstance(loss, str):
        return None
    return LOSSES.get(ALIASES.get(loss, loss))


def _choices(name: str, value: Any, allowed: Sequence[Any], default: Any) -> Categorical | None:
    """A discrete option: None at its default, else one choice (fixed: recorded with the
    trial like a swept one, so retrain and winner.json carry it) or several (swept)."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    for v in values:
        if v not in allowed or type(v) is not type(next(a for a in allowed if a == v)):
            raise SpaceError(
                f"Training({name}=...) takes {', '.join(map(repr, allowed))} or a list of "
                f"them, but got {v!r}"
            )
    return None if values == (default,) else Categorical(name, values)


def _positive_ints(name: str, value: Any, default: int) -> Categorical | None:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        raise SpaceError(
            f"Training({name}=...) takes a positive whole number or a list of them, "
            f"but got {value!r}"
        )
    return None if values == (default,) else Categorical(name, values)


def _amount(name: str, value: Any, *, log: bool, below: float | None = None) -> Param | None:
    """A real-valued option: 0 or None off, a number fixed, a (low, high) pair swept."""
    if value is None or (not isinstance(value, (tuple, list)) and value == 0):
        return None
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int | float) for v in pair):
        raise SpaceError(
            f"Training({name}=...) takes a number or a (low, high) pair, but got {value!r}"
        )
    if min(pair) < 0 or (below is not None and max(pair) >= below):
        limit = f"in [0, {below:g})" if below is not None else "at least 0"
        raise SpaceError(f"Training({name}=...) must be {limit}, but got {value!r}")
    if pair[0] == pair[1]:
        return Categorical(name, (float(pair[0]),))
    return Float(name, float(pair[0]), float(pair[1]), log=log)


@dataclass(frozen=True)
class Options:
    """The training options of a ``Training`` block, as given (see ``Training``)."""

    precision: Any = "float32"
    jit_compile: Any = "auto"
    steps_per_execution: Any = "auto"
    gradient_accumulation_steps: Any = 1
    weight_decay: Any = None
    label_smoothing: Any = 0.0
    class_weight: Any = None
    losses: Sequence[str] | None = None
    extras: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    ema: Any = True

    def params(self) -> list[Param]:
        """The options' parameters, in sampling order: the loss and its extras, then each
        option that is not at its default."""
        params: list[Param] = []
        if self.losses is not None:
            params += self._loss_params()
        auto_steps = self.steps_per_execution == "auto"  # sweeper's choice for the batch size
        options = [
            None
            if auto_steps
            else _positive_ints("steps_per_execution", self.steps_per_execution, 0),
            _choices("precision", self.precision, PRECISIONS, "float32"),
            _choices("jit_compile", self.jit_compile, (True, False, "auto"), "auto"),
            _positive_ints("gradient_accumulation_steps", self.gradient_accumulation_steps, 1),
            _amount("weight_decay", self.weight_decay, log=True),
            _amount("label_smoothing", self.label_smoothing, log=False, below=1.0),
            self._class_weight_param(),
            _choices("ema", self.ema, (True, False), True),
        ]
        return params + [p for p in options if p is not None]

    def _loss_params(self) -> list[Param]:
        losses = self.losses
        if isinstance(losses, str) or not losses:
            raise SpaceError(f"Training(losses=...) must be a list of loss names, got {losses!r}")
        unknown = [name for name in losses if loss_spec(name) is None]
        if unknown:
            raise SpaceError(
                f"unknown loss {unknown[0]!r} in Training(losses=...); choose from "
                f"{', '.join(LOSSES)}, or give the space one fixed loss= of Keras' own"
            )
        params: list[Param] = [Categorical("loss", tuple(losses))]
        owners: dict[str, list[str]] = {}
        templates: dict[str, Float] = {}
        for name in losses:
            for extra in LOSSES[ALIASES.get(name, name)].extras:
                owners.setdefault(extra.name, []).append(name)
                templates[extra.name] = extra  # type: ignore[assignment]
        for name, template in templates.items():
            pair = tuple(self.extras.get(name, (template.low, template.high)))
            if len(pair) != 2:
                raise SpaceError(f"{name} must be a (low, high) pair, but got {pair!r}")
            low, high = pair
            params.append(
                Float(name, low, high, log=template.log, when={"loss": tuple(owners[name])})
            )
        return params

    def _class_weight_param(self) -> Categorical | None:
        if isinstance(self.class_weight, Mapping):
            _check_class_weight_dict(self.class_weight)
            return None  # fixed per class: applied from the space, not a parameter
        value = "none" if self.class_weight is None else self.class_weight
        return _choices("class_weight", value, CLASS_WEIGHTS, "none")

    def loss_names(self, space_loss: Any) -> list[Any]:
        """Every loss a trial may train with: the swept ones, or the space's fixed one."""
        return list(self.losses) if self.losses is not None else [space_loss]


def _check_class_weight_dict(weights: Mapping[Any, Any]) -> None:
    for key, value in weights.items():
        if (
            not isinstance(key, int)
            or isinstance(key, bool)
            or key < 0
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or value <= 0
        ):
            raise SpaceError(
                "Training(class_weight={...}) maps class indices (0, 1, ...) to weights above "
                f"0, but has {key!r}: {value!r}"
            )


# ---------------------------------------------------------------- applied in the build path


@contextlib.contextmanager
def dtype_policy(params: Mapping[str, Any]) -> Iterator[None]:
    """Keras' global dtype policy set to the trial's precision while its model is built
    (layers take it when created), and put back afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(params.get("precision", "float32"))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_outputs(model: Any, params: Mapping[str, Any]) -> Any:
    """The model with float32 outputs. Under mixed precision its last layer computes in
    float16 or bfloat16, whose softmax and loss lose precision or overflow; Keras' mixed
    precision guide ends the model with a float32 layer, which this adds where missing.
    Called inside ``dtype_policy``, so the new model keeps the policy (and, for float16,
    compile() wraps its optimizer in a LossScaleOptimizer)."""
    if params.get("precision", "float32") == "float32":
        return model
    import keras

    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs:  # a subclassed model: its call() decides its output dtype
        raise TrialFailed(
            "mixed precision needs the model's outputs in float32; build a functional or "
            "Sequential model, or give its last layer dtype='float32'"
        )
    if all(keras.backend.standardize_dtype(out.dtype) == "float32" for out in outputs):
        return model
    cast = [
        out
        if keras.backend.standardize_dtype(out.dtype) == "float32"
        else keras.layers.Activation("linear", dtype="float32")(out)
        for out in outputs
    ]
    return keras.Model(model.inputs, cast if len(cast) > 1 else cast[0], name=model.name)


def build_loss(params: Mapping[str, Any], space_loss: Any) -> Any:
    """The trial's loss: the swept one (with its extras) or the space's, label-smoothed
    when the trial says so. A name with nothing to configure stays a name, as Keras takes it."""
    loss = params.get("loss", space_loss)
    spec = loss_spec(loss)
    smoothing = float(params.get("label_smoothing", 0.0))
    if spec is None or (not spec.extras and not smoothing):
        return loss
    import keras

    kwargs = {spec.keywords[extra.name]: params[extra.name] for extra in spec.extras}
    if smoothing:
        kwargs["label_smoothing"] = smoothing
        if spec.keras_class == "SparseCategoricalCrossentropy":
            return _smoothed_sparse_crossentropy()(**kwargs)
    return getattr(keras.losses, spec.keras_class)(**kwargs)


@functools.cache
def _smoothed_sparse_crossentropy() -> type:
    """Sparse categorical cross-entropy with label smoothing, which Keras 3's own lacks
    (its categorical one has it): the integer labels become one-hot rows first. Registered
    with Keras, so a saved winner loads in a process that has called this once; or load it
    with ``keras.saving.load_model(path, compile=False)``."""
    import keras

    @keras.saving.register_keras_serializable(package="sweeper")
    class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
        def __init__(self, label_smoothing: float = 0.0, name: str = "smoothed_sparse_cce"):
            super().__init__(name=name)
            self.label_smoothing = label_smoothing

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ops = keras.ops
            labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
            one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
            return keras.losses.categorical_crossentropy(
                one_hot, y_pred, label_smoothing=self.label_smoothing
            )

        def get_config(self) -> dict[str, Any]:
            return {"label_smoothing": self.label_smoothing, "name": self.name}

    return SmoothedSparseCategoricalCrossentropy


def optimizer_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """Keywords every Keras 3 optimizer takes: weight decay (decoupled, applied by Keras to
    all of them: for SGD the same as an L2 penalty) and gradient accumulation."""
    kwargs: dict[str, Any] = {}
    if params.get("weight_decay"):
        kwargs["weight_decay"] = params["weight_decay"]
    if params.get("gradient_accumulation_steps", 1) > 1:
        kwargs["gradient_accumulation_steps"] = params["gradient_accumulation_steps"]
    return kwargs


# Weight averaging's window, in epochs: the average forgets a step's weights with a time
# constant of half an epoch's steps, whatever the batch size. Keras' fixed 0.99 (100 steps)
# spans two epochs at 47 steps an epoch (batch 256 on 12,000 images), and the first epoch's
# score then still weighs the starting weights: 0.68 against 0.95 without averaging on the
# benchmark's MNIST task, which a pruner judging that epoch holds against the trial. Half an
# epoch scored 0.92 there, and the best epoch as high as a whole epoch's window or higher.
EMA_EPOCHS = 0.5


def ema_momentum(steps_per_epoch: int) -> float:
    """Keras' ``ema_momentum`` for a window of ``EMA_EPOCHS`` epochs of this many steps."""
    return 1.0 - 1.0 / max(1.0, EMA_EPOCHS * steps_per_epoch)


def weight_averaging(params: Mapping[str, Any], steps_per_epoch: int) -> tuple[dict, list]:
    """The optimizer keywords and callbacks that make a model validate, stop early and end
    with the exponential moving average of its weights (Polyak averaging), unless the trial
    turns it off (``ema=False``). Keras keeps the average (``use_ema``); its
    ``SwapEMAWeights`` puts it in the model at each epoch's end, before validation and
    before EarlyStopping keeps the best epoch's weights, and takes it out for training."""
    if not params.get("ema", True):
        return {}, []
    return (
        {"use_ema": True, "ema_momentum": ema_momentum(steps_per_epoch)},
        [_swap_averaged_weights()(swap_on_epoch=True)],
    )


@functools.cache
def _swap_averaged_weights() -> type:
    """Keras' ``SwapEMAWeights``, with one fix for JAX (Keras 3.15): at the end of ``fit``,
    ``finalize_variable_values`` leaves each weight and its average holding one array, which
    the next compiled call donates, so an ``evaluate`` or ``save`` after ``fit`` finds it
    deleted. Each average gets an array of its own again when training ends."""
    import keras

    class SwapAveragedWeights(keras.callbacks.SwapEMAWeights):
        def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
            optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
            for average in optimizer._model_variables_moving_average:
                average.assign(keras.ops.copy(average))

    return SwapAveragedWeights


def class_weights(
    params: Mapping[str, Any], fixed: Mapping[int, float] | None, y: np.ndarray
) -> dict[int, float] | None:
    """The ``class_weight`` for ``model.fit``: the space's own dict, or "balanced" (each
    class weighted n / (classes x its count), as scikit-learn's "balanced"), or None."""
    if fixed is not None:
        return dict(fixed)
    if params.get("class_weight", "none") == "none":
        return None
    labels = class_indices(y)
    if labels is None:
        raise TrialFailed(
            "class_weight needs class labels 0, 1, ... (or one-hot rows), but y is "
            f"{np.asarray(y).dtype}; drop class_weight for a regression"
        )
    classes, counts = np.unique(labels, return_counts=True)
    weights = {
        int(c): len(labels) / (len(classes) * int(n)) for c, n in zip(classes, counts, strict=True)
    }
    # Keras wants a weight for every index up to the largest class.
    return {c: weights.get(c, 1.0) for c in range(int(classes.max()) + 1)}


def class_indices(y: np.ndarray) -> np.ndarray | None:
    """The class index of each example, as Keras' class_weight reads them: integer labels,
    one-hot rows, or 0/1 floats (a sigmoid's targets); None for anything else."""
    from sweeper.space.data import class_labels

    labels = class_labels(y)
    if labels is None:  # floats: whole non-negative values are classes too
        flat = np.asarray(y).reshape(len(y), -1)
        if flat.shape[1] != 1 or not np.all((flat >= 0) & (flat == np.round(flat))):
            return None
        labels = flat[:, 0].astype(np.int64)
    return labels if labels.dtype.kind in "iub" and labels.min() >= 0 else None
