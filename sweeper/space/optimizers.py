"""Optimizers and gradient clipping, by name: the registry every space draws from.

Each entry names a Keras optimizer class and declares the extra parameters it needs (sampled
only when that optimizer is chosen); it is built from the sampled learning rate (a float or a
schedule), those extras and the clipping keyword. Keras is imported only when building, so
declaring, listing and validating spaces stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeper.space.params import Float, Param

MOMENTUM = Float("momentum", 0.5, 0.99)
WEIGHT_DECAY = Float("weight_decay", 1e-6, 1e-2, log=True)
CLIP_THRESHOLD = Float("clip_threshold", 0.1, 10.0, log=True)

# "none" plus the three clipping keywords every Keras 3 optimizer accepts.
CLIPPING_MODES = ("none", "clipvalue", "clipnorm", "global_clipnorm")


@dataclass(frozen=True)
class OptimizerSpec:
    """A Keras optimizer class, the keywords fixed for this name, and the sampled extras.

    Each extra's name is the Keras keyword it is passed as (``momentum``, ``weight_decay``).
    ``start`` is a setting known to train well (learning rate and extras), for the
    configurations a sweep tries first (``sweeper.search.head_start``).
    """

    keras_class: str
    extras: tuple[Param, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    start: Mapping[str, Any] = field(default_factory=dict)

    def build(self, learning_rate: Any, params: Mapping[str, Any], common: dict[str, Any]):
        import keras

        sampled = {extra.name: params[extra.name] for extra in self.extras}
        optimizer_class = getattr(keras.optimizers, self.keras_class)
        return optimizer_class(learning_rate=learning_rate, **self.fixed, **{**common, **sampled})


# The starting settings are the optimizers' well-worn ones: Keras' default learning rates for
# the adaptive ones, and 0.01 with momentum 0.9 for SGD, as the papers that use it train.
OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("SGD", start={"learning_rate": 1e-2}),
    "momentum": OptimizerSpec("SGD", (MOMENTUM,), start={"learning_rate": 1e-2, "momentum": 0.9}),
    "nesterov": OptimizerSpec(
        "SGD", (MOMENTUM,), {"nesterov": True}, start={"learning_rate": 1e-2, "momentum": 0.9}
    ),
    "adam": OptimizerSpec("Adam", start={"learning_rate": 1e-3}),
    "adamw": OptimizerSpec(
        "AdamW", (WEIGHT_DECAY,), start={"learning_rate": 1e-3, "weight_decay": 4e-3}
    ),
    "rmsprop": OptimizerSpec("RMSprop", start={"learning_rate": 1e-3}),
    "adagrad": OptimizerSpec("Adagrad", start={"learning_rate": 1e-2}),
}

# Whose starting setting a sweep tries first: the first of these the space declares, most
# dependable first (Adam trains most models well at its default).
START_ORDER = ("adam", "nesterov", "momentum", "adamw", "rmsprop", "sgd", "adagrad")


def start_learning_rate(params: Mapping[str, Any]) -> float | None:
    """The registry's well-worn rate for the optimizer ``params`` names, if it has one."""
    optimizer = params.get("optimizer")
    spec = OPTIMIZERS.get(optimizer) if isinstance(optimizer, str) else None
    return None if spec is None else spec.start.get("learning_rate")


def clipping_kwargs(params: Mapping[str, Any]) -> dict[str, float]:
    """The optimizer keyword for the trial's clipping mode: {} or e.g. {"clipnorm": 1.0}."""
    mode = params.get("clipping", "none")
    return {} if mode == "none" else {mode: params["clip_threshold"]}


def build_optimizer(
    learning_rate: Any, params: Mapping[str, Any], averaging: Mapping[str, Any] | None = None
) -> Any:
    """The Keras optimizer a trial's parameters describe, with the training options every
    optimizer takes (weight decay, gradient accumulation) and ``averaging``'s keywords
    (``options.weight_averaging``)."""
    from sweeper.space.options import optimizer_kwargs

    spec = OPTIMIZERS[params["optimizer"]]
    common = {**optimizer_kwargs(params), **clipping_kwargs(params), **(averaging or {})}
    return spec.build(learning_rate, params, common)
