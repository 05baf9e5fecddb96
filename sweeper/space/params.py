"""Hyperparameter declarations: what a space author writes, validated when written.

Each parameter knows how to ask an Optuna trial for a value (``suggest``) and when it is
active (``when``: the values of earlier parameters it depends on). Sampling in declaration
order lets a condition look at what was already sampled, which is how Optuna's define-by-run
API expresses conditional spaces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

from sweeper.errors import SpaceError

# Values Optuna can store for a categorical choice.
_CHOICE_TYPES = (type(None), bool, int, float, str)


def _normalize_when(name: str, when: Mapping[str, Any] | None) -> dict[str, tuple]:
    if when is None:
        return {}
    if not isinstance(when, Mapping):
        raise SpaceError(
            f"parameter {name!r}: when= must be a dict like {{'optimizer': 'adamw'}}, "
            f"but got {when!r}"
        )
    return {
        parent: tuple(values) if isinstance(values, (list, tuple, set, frozenset)) else (values,)
        for parent, values in when.items()
    }


@dataclass(frozen=True)
class Param:
    """Base of all parameters: a name and the condition under which it is sampled."""

    name: str
    when: Mapping[str, Any] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpaceError(
                f"parameter name must be a Python identifier, but got {self.name!r}; rename it"
            )
        object.__setattr__(self, "when", _normalize_when(self.name, self.when))

    def is_active(self, sampled: Mapping[str, Any]) -> bool:
        """True when every parent was sampled with one of the values this parameter needs."""
        return all(
            parent in sampled and sampled[parent] in values
            for parent, values in (self.when or {}).items()
        )

    def suggest(self, trial: BaseTrial) -> Any:
        raise NotImplementedError

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution this parameter samples from."""
        raise NotImplementedError

    def center(self) -> Any:
        """A middle-of-the-range value: what a starting configuration takes when it names none."""
        raise NotImplementedError

    def problem_with(self, value: Any) -> str | None:
        """Why ``value`` is not one this parameter can take, or None when it is."""
        raise NotImplementedError

    def describe_range(self) -> str:
        raise NotImplementedError

    def describe_when(self) -> str:
        return " and ".join(
            f"{parent} in {{{', '.join(map(str, values))}}}"
            if len(values) > 1
            else f"{parent} = {values[0]}"
            for parent, values in (self.when or {}).items()
        )


@dataclass(frozen=True)
class Categorical(Param):
    """One value out of a list of choices."""

    choices: tuple = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise SpaceError(f"parameter {self.name!r}: choices is empty; list at least one")
        if len(set(self.choices)) != len(self.choices):
            raise SpaceError(
                f"parameter {self.name!r}: choices repeat a value, but got {self.choices!r}; "
                "list each value once"
            )
        bad = [c for c in self.choices if not isinstance(c, _CHOICE_TYPES)]
        if bad:
            raise SpaceError(
                f"parameter {self.name!r}: choices must be str, int, float, bool or None, "
                f"but got {bad[0]!r}; use a name and build the object in the model builder"
            )

    def suggest(self, trial: BaseTrial) -> Any:
        return trial.suggest_categorical(self.name, self.choices)

    def distribution(self) -> BaseDistribution:
        return CategoricalDistribution(self.choices)

    def center(self) -> Any:
        return self.choices[0]  # the first choice, as KerasTuner's Choice defaults to

    def problem_with(self, value: Any) -> str | None:
        return None if value in self.choices else f"must be one of {self.describe_range()}"

    def describe_range(self) -> str:
        return "{" + ", ".join(map(str, self.choices)) + "}"


@dataclass(frozen=True)
class _Numeric(Param):
    low: float = 0
    high: float = 0
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"parameter {self.name!r}"
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise SpaceError(f"{where}: {bound} must be a finite number, but got {value!r}")
        if self.low > self.high:
            raise SpaceError(
                f"{where}: low must not exceed high, but got low={self.low}, high={self.high}; "
                "swap them"
            )
        if self.log and self.low <= 0:
            raise SpaceError(
                f"{where}: a log-scale range must stay above 0, but got low={self.low}; "
                "raise low (e.g. 1e-5) or set log=False"
            )
        if self.step is not None and self.step <= 0:
            raise SpaceError(f"{where}: step must be positive, but got step={self.step}")
        if self.log and self.step not in (None, 1):
            raise SpaceError(
                f"{where}: log=True and step={self.step} cannot be combined; drop one of them"
            )

    def center(self) -> float:
        if self.log:
            return math.sqrt(self.low * self.high)
        middle = (self.low + self.high) / 2
        if self.step is None:
            return middle
        return self.low + round((middle - self.low) / self.step) * self.step

    def problem_with(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number in {self.describe_range()}"
        if not self.low <= value <= self.high:
            return f"must lie in {self.describe_range()}"
        off_grid = self.step is not None and not math.isclose(
            (value - self.low) / self.step, round((value - self.low) / self.step)
        )
        return f"must lie on the grid {self.describe_range()}" if off_grid else None

    def describe_range(self) -> str:
        text = f"[{self.low:g}, {self.high:g}]"
        if self.log:
            text += " log"
        if self.step not in (None, 1):
            text += f" step {self.step:g}"
        return text


@dataclass(frozen=True)
class Float(_Numeric):
    """A real number in [low, high], optionally on a log scale or on a grid of ``step``."""

    def suggest(self, trial: BaseTrial) -> float:
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def distribution(self) -> BaseDistribution:
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class Int(_Numeric):
    """An integer in [low, high], optionally on a log scale or every ``step``."""

    step: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for attr in ("low", "high", "step"):
            if not isinstance(getattr(self, attr), int) or isinstance(getattr(self, attr), bool):
                raise SpaceError(
                    f"parameter {self.name!r}: Int needs integer {attr}, but got "
                    f"{attr}={getattr(self, attr)!r}; use Float for real numbers"
                )

    def distribution(self) -> BaseDistribution:
        return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step))

    def center(self) -> int:
        return int(round(super().center()))

    def problem_with(self, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number in {self.describe_range()}"
        return super().problem_with(value)

    def suggest(self, trial: BaseTrial) -> int:
        return trial.suggest_int(
            self.name, int(self.low), int(self.high), step=int(self.step), log=self.log
        )
