"""What a trained model costs, measured on every trial whatever the objective
(``space.goals.COSTS``): its parameters, its size saved, its inference latency on the trial's
own device at batch size 1 and at the space's largest batch size, and its training time.

Latency is ``predict_on_batch`` (the model's compiled predict step, on every backend) timed
after two warm-up calls, repeated until about a tenth of a second has passed (3 to 50 calls),
and reported as the median per example; the whole measurement stays within a few hundred
milliseconds. A cost that cannot be measured (a model that will not save, a backend whose
predict fails) is left empty with its reason, never guessed.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sweeper.errors import describe_failure

WARM_UP_CALLS = 2
TIMED_S = 0.1  # per batch size: repeat the call for about this long
MIN_CALLS, MAX_CALLS = 3, 50


def measure_costs(
    model: Any, x: Any, largest_batch: int, train_s: float | None
) -> tuple[dict[str, float | None], dict[str, str]]:
    """(cost -> value or None, cost -> why it could not be measured) for a trained ``model``,
    its latency timed on examples from ``x``."""
    costs: dict[str, float | None] = {"train_s": None if train_s is None else round(train_s, 3)}
    errors: dict[str, str] = {}
    probes: dict[str, Callable[[], float]] = {
        "params": lambda: float(model.count_params()),
        "size_mb": lambda: _saved_mb(model),
        "latency_ms": lambda: _latency_ms(model, _examples(x, 1)),
        "latency_ms_batch": lambda: _latency_ms(model, _examples(x, largest_batch)),
    }
    for name, probe in probes.items():
        try:
            costs[name] = probe()
        except Exception as exc:  # noqa: BLE001 - one cost's failure leaves the others
            costs[name], errors[name] = None, describe_failure(exc)
    if costs["params"] is not None:
        costs["params"] = int(costs["params"])
    return costs, errors


class CostMeter:
    """Measures one trial's model once, whenever first asked: at its end, or sooner where a
    pruner of several objectives needs its costs (the weights' values change none but the
    training time, which ``costs`` takes at the end)."""

    def __init__(self, x: Any, largest_batch: int) -> None:
        self.x, self.largest_batch = x, largest_batch
        self.seconds = 0.0  # the time measuring took
        self._measured: tuple[dict[str, float | None], dict[str, str]] | None = None

    def measure(self, model: Any) -> tuple[dict[str, float | None], dict[str, str]]:
        """(cost -> value or None, cost -> why it is missing), all but the training time."""
        if self._measured is None:
            started = time.perf_counter()
            self._measured = measure_costs(model, self.x, self.largest_batch, None)
            self.seconds = time.perf_counter() - started
        return self._measured

    def costs(self, model: Any, train_s: float) -> tuple[dict[str, float | None], dict[str, str]]:
        """``measure``, with the training time."""
        costs, errors = self.measure(model)
        return {**costs, "train_s": round(train_s, 3)}, errors


def _examples(x: Any, count: int) -> Any:
    """``count`` examples from ``x`` (repeated where it holds fewer)."""
    if isinstance(x, dict):
        return {key: _examples(value, count) for key, value in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_examples(value, count) for value in x)
    x = np.asarray(x)
    return np.resize(x, (count, *x.shape[1:])) if len(x) < count else x[:count]


def _latency_ms(model: Any, batch: Any) -> float:
    """Median milliseconds per example of ``model.predict_on_batch(batch)``."""
    for _ in range(WARM_UP_CALLS):
        model.predict_on_batch(batch)
    times: list[float] = []
    deadline = time.perf_counter() + TIMED_S
    while len(times) < MAX_CALLS and (len(times) < MIN_CALLS or time.perf_counter() < deadline):
        started = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - started)
    size = (
        len(next(iter(batch.values())))
        if isinstance(batch, dict)
        else len(batch[0] if isinstance(batch, list | tuple) else batch)
    )
    return round(1000 * statistics.median(times) / size, 4)


def _saved_mb(model: Any) -> float:
    """The size of ``model`` saved as a .keras file, in megabytes (10^6 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sweeper-size-") as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return round(os.path.getsize(path) / 1e6, 4)
