"""Optimizers and gradient clipping, by name: the registry every space draws from.

Each entry builds a Keras optimizer from the sampled learning rate (a float or a schedule),
the trial's parameters and the clipping keyword, and declares the extra parameters it needs
(sampled only when that optimizer is chosen). Keras is imported inside the builders so that
declaring, listing and validating spaces stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sweeper.params import Float, Param

MOMENTUM = Float("momentum", 0.5, 0.99)
WEIGHT_DECAY = Float("weight_decay", 1e-6, 1e-2, log=True)
CLIP_THRESHOLD = Float("clip_threshold", 0.1, 10.0, log=True)

# "none" plus the three clipping keywords every Keras 3 optimizer accepts.
CLIPPING_MODES = ("none", "clipvalue", "clipnorm", "global_clipnorm")


@dataclass(frozen=True)
class OptimizerSpec:
    build: Callable[[Any, Mapping[str, Any], dict[str, float]], Any]
    extras: tuple[Param, ...] = ()


def _sgd(lr, params, clip):
    import keras

    return keras.optimizers.SGD(learning_rate=lr, **clip)


def _momentum(lr, params, clip):
    import keras

    return keras.optimizers.SGD(learning_rate=lr, momentum=params["momentum"], **clip)


def _nesterov(lr, params, clip):
    import keras

    return keras.optimizers.SGD(
        learning_rate=lr, momentum=params["momentum"], nesterov=True, **clip
    )


def _adam(lr, params, clip):
    import keras

    return keras.optimizers.Adam(learning_rate=lr, **clip)


def _adamw(lr, params, clip):
    import keras

    return keras.optimizers.AdamW(learning_rate=lr, weight_decay=params["weight_decay"], **clip)


def _rmsprop(lr, params, clip):
    import keras

    return keras.optimizers.RMSprop(learning_rate=lr, **clip)


def _adagrad(lr, params, clip):
    import keras

    return keras.optimizers.Adagrad(learning_rate=lr, **clip)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(_sgd),
    "momentum": OptimizerSpec(_momentum, (MOMENTUM,)),
    "nesterov": OptimizerSpec(_nesterov, (MOMENTUM,)),
    "adam": OptimizerSpec(_adam),
    "adamw": OptimizerSpec(_adamw, (WEIGHT_DECAY,)),
    "rmsprop": OptimizerSpec(_rmsprop),
    "adagrad": OptimizerSpec(_adagrad),
}


def clipping_kwargs(params: Mapping[str, Any]) -> dict[str, float]:
    """The optimizer keyword for the trial's clipping mode: {} or e.g. {"clipnorm": 1.0}."""
    mode = params.get("clipping", "none")
    return {} if mode == "none" else {mode: params["clip_threshold"]}


def build_optimizer(learning_rate: Any, params: Mapping[str, Any]) -> Any:
    """The Keras optimizer a trial's parameters describe."""
    spec = OPTIMIZERS[params["optimizer"]]
    return spec.build(learning_rate, params, clipping_kwargs(params))
