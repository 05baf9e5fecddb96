"""What a sweep optimizes and picks: its objectives, the costs it measures, the constraints a
trial must meet, and the rule that picks the winner.

An objective is a metric Keras reports (``val_accuracy``) or a cost sweeper measures on every
trial (``COSTS``: ``params``, ``latency_ms``...), with a direction; the first is the primary
one, which early stopping and pruning watch. A constraint bounds a cost or metric
(``latency_ms<=2``): a trial that breaks one is infeasible, kept and marked, never the
winner. A winner rule (``min params within 0.005 of val_accuracy``) says which trial of
several good ones to re-train. All are declared in a space or given on the command line, and
parsed here into plain values, each bad one a single ``SpaceError`` line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeper.errors import SpaceError

# What sweeper measures on every trial, whatever the objective (training.costs): name -> what.
COSTS: dict[str, str] = {
    "params": "parameters in the model",
    "size_mb": "megabytes of the model saved as .keras",
    "latency_ms": "median milliseconds to predict one example at batch size 1",
    "latency_ms_batch": "median milliseconds per example, predicting at the largest batch size",
    "train_s": "seconds in model.fit",
}
DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}


@dataclass(frozen=True)
class Goal:
    """One objective: a metric or cost, and whether more or less is better."""

    name: str
    direction: str  # "maximize" or "minimize"

    @property
    def is_cost(self) -> bool:
        return self.name in COSTS

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def better(self, value: float) -> float:
        """``value`` in maximising terms: the higher, the better."""
        return value if self.maximize else -value

    def __str__(self) -> str:
        return f"{self.name}:{'max' if self.maximize else 'min'}"


def parse_goal(given: str | Sequence[str]) -> Goal:
    """``"val_accuracy:max"`` or ``("params", "minimize")``."""
    if isinstance(given, str):
        name, _, direction = given.partition(":")
    elif len(given) == 2:
        name, direction = given
    else:
        raise SpaceError(
            f"an objective is 'name:max', 'name:min' or a (name, direction) pair, not {given!r}"
        )
    name, direction = str(name).strip(), str(direction).strip().lower()
    if not name.isidentifier():
        raise SpaceError(f"objective {given!r} names no metric or cost; write name:max or name:min")
    if direction not in DIRECTIONS:
        got = f", not {direction!r}" if direction else ""
        raise SpaceError(f"objective {name!r} needs a direction: {name}:max or {name}:min{got}")
    return Goal(name, DIRECTIONS[direction])


@dataclass(frozen=True)
class Constraint:
    """A bound on a cost or metric that a feasible trial keeps: ``latency_ms<=2``."""

    name: str
    op: str  # "<=" or ">="
    bound: float

    def violation(self, value: float | None) -> float:
        """How far ``value`` breaks the bound (0 or less: kept), as Optuna's
        ``constraints_func`` wants it; a value not measured breaks it."""
        if value is None or not math.isfinite(value):
            return math.inf
        return value - self.bound if self.op == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.bound:g}"


_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_constraint(text: str) -> Constraint:
    """``"latency_ms<=2"``, ``"val_accuracy >= 0.98"`` (``<`` and ``>`` read as ``<=``, ``>=``)."""
    match = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if match is None:
        raise SpaceError(
            f"constraint {text!r} does not parse; write a cost or metric, <= or >=, and a "
            "number, such as latency_ms<=2"
        )
    name, op, bound = match.groups()
    return Constraint(name, "<=" if op.startswith("<") else ">=", float(bound))


@dataclass(frozen=True)
class WinnerRule:
    """Among the feasible completed trials within ``tolerance`` of the best ``near`` value,
    the one with the least (``pick`` "min") or most ``by``."""

    pick: str  # "min" or "max"
    by: str
    tolerance: float
    near: str

    def __str__(self) -> str:
        return f"{self.pick} {self.by} within {self.tolerance:g} of {self.near}"


_RULE = re.compile(
    r"^\s*(min|max|smallest|largest|least|most)\s+([A-Za-z_]\w*)\s+within\s+"
    r"(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)\s+of\s+([A-Za-z_]\w*)\s*$"
)


def parse_rule(text: str) -> WinnerRule:
    """``"min params within 0.005 of val_accuracy"`` (smallest/least read as min)."""
    match = _RULE.match(text) if isinstance(text, str) else None
    if match is None:
        raise SpaceError(
            f"winner rule {text!r} does not parse; write e.g. 'min params within 0.005 of "
            "val_accuracy'"
        )
    pick, by, tolerance, near = match.groups()
    return WinnerRule(
        "max" if pick in ("max", "largest", "most") else "min", by, float(tolerance), near
    )


def default_rule(goals: Sequence[Goal]) -> WinnerRule | None:
    """For several objectives: the least of the first cost (else of the second objective, in
    its direction) within 0.005 of the primary objective's best. None for one objective: the
    best trial wins."""
    if len(goals) < 2:
        return None
    by = next((g for g in goals[1:] if g.is_cost), goals[1])
    return WinnerRule("min" if not by.maximize else "max", by.name, 0.005, goals[0].name)


def measured(
    record_metrics: Mapping[str, Any], costs: Mapping[str, Any], name: str
) -> float | None:
    """A trial's value of a metric (at its best epoch) or a cost, or None if not measured."""
    value = costs.get(name) if name in COSTS else record_metrics.get(name)
    return None if value is None else float(value)
