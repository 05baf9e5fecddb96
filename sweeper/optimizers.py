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

from sweeper.params import Float, Param

MOMENTUM = Float("momentum", 0.5, 0.99)
WEIGHT_DECAY = Float("weight_decay", 1e-6, 1e-2, log=True)
CLIP_THRESHOLD = Float("clip_threshold", 0.1, 10.0, log=True)

# "none" plus the three clipping keywords every Keras 3 optimizer accepts.
CLIPPING_MODES = ("none", "clipvalue", "clipnorm", "global_clipnorm")


@dataclass(frozen=True)
class OptimizerSpec:
    """A Keras optimizer class, the keywords fixed for this name, and the sampled extras.

    Each extra's name is the Keras keyword it is passed as (``momentum``, ``weight_decay``).
    """

    keras_class: str
    extras: tuple[Param, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def build(self, learning_rate: Any, params: Mapping[str, Any], clip: dict[str, float]):
        import keras

        sampled = {extra.name: params[extra.name] for extra in self.extras}
        optimizer_class = getattr(keras.optimizers, self.keras_class)
        return optimizer_class(learning_rate=learning_rate, **self.fixed, **sampled, **clip)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("SGD"),
    "momentum": OptimizerSpec("SGD", (MOMENTUM,)),
    "nesterov": OptimizerSpec("SGD", (MOMENTUM,), {"nesterov": True}),
    "adam": OptimizerSpec("Adam"),
    "adamw": OptimizerSpec("AdamW", (WEIGHT_DECAY,)),
    "rmsprop": OptimizerSpec("RMSprop"),
    "adagrad": OptimizerSpec("Adagrad"),
}


def clipping_kwargs(params: Mapping[str, Any]) -> dict[str, float]:
    """The optimizer keyword for the trial's clipping mode: {} or e.g. {"clipnorm": 1.0}."""
    mode = params.get("clipping", "none")
    return {} if mode == "none" else {mode: params["clip_threshold"]}


def build_optimizer(learning_rate: Any, params: Mapping[str, Any]) -> Any:
    """The Keras optimizer a trial's parameters describe."""
    spec = OPTIMIZERS[params["optimizer"]]
    return spec.build(learning_rate, params, clipping_kwargs(params))
