"""Where each trial stands when a sweep weighs accuracy against cost: its value of each
objective, whether it keeps the constraints, its Pareto rank, and the trial the winner rule
picks (``StudyGoals``).

All of it is read from the study alone (the goals it recorded when it was created, each
trial's metrics and measured costs), so the leaderboard, the library's view and ``retrain``
agree, and a study written before costs were measured still reports: its one objective, no
costs, every trial feasible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import SweeperError, UsageError
from sweeper.space.goals import (
    Constraint,
    Goal,
    WinnerRule,
    measured,
    parse_constraint,
    parse_goal,
    parse_rule,
)
from sweeper.space.optimizers import start_learning_rate
from sweeper.storage.record import TrialRecord, before_divergence

# Trials that can be re-trained: they trained to a best epoch.
RETRAINABLE = (TrialState.COMPLETE, TrialState.PRUNED)

# Study user attributes: what the sweep optimizes and picks by. Part of the storage format.
OBJECTIVES = "objectives"  # ["val_accuracy:max", "params:min"], the primary first
CONSTRAINTS = "constraints"  # ["latency_ms<=2"]
WINNER_RULE = "winner_rule"  # "min params within 0.005 of val_accuracy", or null


def tie_order(trial: FrozenTrial) -> tuple[float, int]:
    """Where a trial goes among trials tied on what they are ranked by: the gentlest learning
    rate first, as a multiple of its optimizer's well-worn rate (``OptimizerSpec.start``, so
    SGD's 1e-2 and Adam's 1e-3 weigh alike), then the earliest; trials without a rate last.

    Ties at the top are common where validation saturates or counts few examples, and a
    winner is re-trained from another seed: the tied trial at the highest rate validated
    nearest divergence and re-trains least reliably (measured in docs/benchmarks.md).
    """
    rate = trial.params.get("learning_rate")
    if not isinstance(rate, int | float) or not rate > 0:
        return (math.inf, trial.number)
    start = start_learning_rate(trial.params)
    return (rate / start if start else rate, trial.number)


def _of_tied(chosen: FrozenTrial, values: Sequence[float], value: float | None) -> str:
    """How ``tie_order`` chose among the trials that tie at ``value``, or "" without a tie."""
    tied = sum(v == value for v in values)
    if tied < 2:
        return ""
    how = "earliest" if math.isinf(tie_order(chosen)[0]) else "gentlest learning rate"
    return f"; the {how} of the {tied} tied"


@dataclass(frozen=True)
class Choice:
    """The trial a study's rule picks to re-train, and why, in a sentence."""

    trial: FrozenTrial
    why: str


@dataclass(frozen=True)
class StudyGoals:
    """A study's objectives (the primary first), constraints and winner rule."""

    goals: tuple[Goal, ...]
    constraints: tuple[Constraint, ...] = ()
    rule: WinnerRule | None = None

    @classmethod
    def of(cls, study: optuna.Study) -> StudyGoals:
        """As the study recorded them; for a study from before several objectives, its one
        objective (named as recorded) in its direction, no constraint and no rule."""
        attrs = study.user_attrs
        if attrs.get(OBJECTIVES):
            goals = tuple(parse_goal(given) for given in attrs[OBJECTIVES])
        else:  # Optuna's own names for values a study did not name
            names = [attrs.get("objective", "value"), *(f"values_{i}" for i in range(1, 99))]
            goals = tuple(
                Goal(name, d.name.lower()) for name, d in zip(names, study.directions, strict=False)
            )
        constraints = tuple(parse_constraint(text) for text in attrs.get(CONSTRAINTS) or ())
        rule = parse_rule(attrs[WINNER_RULE]) if attrs.get(WINNER_RULE) else None
        return cls(goals, constraints, rule)

    def record(self) -> dict[str, object]:
        """The study attributes that say them."""
        return {
            OBJECTIVES: [str(goal) for goal in self.goals],
            CONSTRAINTS: [str(constraint) for constraint in self.constraints],
            WINNER_RULE: None if self.rule is None else str(self.rule),
        }

    @property
    def primary(self) -> Goal:
        return self.goals[0]

    @property
    def several(self) -> bool:
        return len(self.goals) > 1

    def goal(self, name: str) -> Goal | None:
        return next((goal for goal in self.goals if goal.name == name), None)

    # --- a trial's values ---------------------------------------------------------------

    def primary_value(self, trial: FrozenTrial) -> float | None:
        """A complete trial's primary objective; a pruned one's best value before it was
        stopped (its reported values, or with several objectives, which Optuna cannot report
        per epoch, its history before any epoch whose loss became NaN)."""
        if trial.state == TrialState.COMPLETE:
            return TrialRecord.of(trial).value
        if trial.state != TrialState.PRUNED:
            return None
        reported: list[float | None] = list(trial.intermediate_values.values())
        if not reported:
            history = TrialRecord.of(trial).history
            reported = before_divergence(history.get(self.primary.name, []), history)
        finite = [v for v in reported if v is not None and math.isfinite(v)]
        if not finite:
            return None
        return max(finite) if self.primary.maximize else min(finite)

    def value(self, trial: FrozenTrial, name: str) -> float | None:
        """The trial's value of an objective, metric (at its best epoch) or cost."""
        if name == self.primary.name:
            return self.primary_value(trial)
        record = TrialRecord.of(trial)
        return measured(record.metrics, record.costs, name)

    def values(self, trial: FrozenTrial) -> list[float | None]:
        return [self.value(trial, goal.name) for goal in self.goals]

    def violations(self, trial: FrozenTrial) -> list[float]:
        """How far the trial breaks each constraint (0 or less: kept); what Optuna's
        samplers take as ``constraints_func``."""
        return [c.violation(self.value(trial, c.name)) for c in self.constraints]

    def feasible(self, trial: FrozenTrial) -> bool:
        return all(v <= 0 for v in self.violations(trial))

    # --- the trials, together -----------------------------------------------------------

    def scored(self, trials: Iterable[FrozenTrial], name: str) -> list[tuple[FrozenTrial, float]]:
        """(trial, value of ``name``) for the trials that have a finite one."""
        pairs = ((trial, self.value(trial, name)) for trial in trials)
        return [(trial, v) for trial, v in pairs if v is not None and math.isfinite(v)]

    def pareto_ranks(self, trials: Iterable[FrozenTrial]) -> dict[int, int]:
        """Trial number -> Pareto rank (1: the front, no trial better on every objective)
        of the complete, feasible trials with every objective measured. Optuna's
        ``study.best_trials`` gives the front alone; the leaderboard ranks them all."""
        points: dict[int, list[float]] = {}
        for trial in self.candidates(trials):
            values = [self.value(trial, goal.name) for goal in self.goals]
            if all(v is not None and math.isfinite(v) for v in values):
                points[trial.number] = [
                    goal.better(v)  # type: ignore[arg-type]
                    for goal, v in zip(self.goals, values, strict=True)
                ]
        return nondominated_ranks(points)

    def candidates(self, trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
        """The trials that may win: complete, feasible, with a primary value."""
        complete = [t for t in trials if t.state == TrialState.COMPLETE and self.feasible(t)]
        return [t for t, _ in self.scored(complete, self.primary.name)]

    def best(self, trials: Iterable[FrozenTrial]) -> FrozenTrial | None:
        """The feasible complete trial best on the primary objective (ties: ``tie_order``)."""
        scored = self.scored(self.candidates(trials), self.primary.name)
        if not scored:
            return None
        return min(scored, key=lambda pair: (-self.primary.better(pair[1]), tie_order(pair[0])))[0]

    def choose(self, study: optuna.Study) -> Choice:
        """The trial to re-train: the best one, or the one the rule picks; an error naming
        why there is none."""
        trials = study.get_trials(deepcopy=False)
        pool = self.candidates(trials)
        best = self.best(pool)
        if best is None:
            self._refuse_none(study.study_name, trials)
        kept = f", of the trials that keep {self._constraint_text()}" if self.constraints else ""
        if self.rule is None:
            value = self.primary_value(best)
            values = [v for _, v in self.scored(pool, self.primary.name)]
            why = f"the best {self.primary.name} ({_shown(value)}){kept}"
            return Choice(best, why + _of_tied(best, values, value))
        return self._by_rule(pool, self.rule)

    def _by_rule(self, pool: Sequence[FrozenTrial], rule: WinnerRule) -> Choice:
        near = self.goal(rule.near) or Goal(rule.near, self.primary.direction)
        scored = self.scored(pool, near.name)
        if not scored:
            raise SweeperError(
                f"no completed trial measured {near.name}, which the winner rule "
                f"'{rule}' stays near; choose a trial with {{trial_number}}"
            )
        top, top_value = min(scored, key=lambda pair: (-near.better(pair[1]), pair[0].number))
        # Within the tolerance, give or take the last bits of a float's rounding.
        close = {
            t.number: v
            for t, v in scored
            if near.better(top_value) - near.better(v) <= rule.tolerance + 1e-12
        }
        ranked = self.scored([t for t, _ in scored if t.number in close], rule.by)
        if not ranked:
            raise SweeperError(
                f"no trial within {rule.tolerance:g} of the best {near.name} measured "
                f"{rule.by}, which the winner rule '{rule}' picks by; choose a trial with "
                "{trial_number}"
            )
        sign = 1 if rule.pick == "min" else -1
        chosen, by_value = min(  # ties: the one nearer the best, then ``tie_order``
            ranked,
            key=lambda pair: (
                sign * pair[1],
                -near.better(close[pair[0].number]),
                tie_order(pair[0]),
            ),
        )
        least = "least" if rule.pick == "min" else "most"
        plural = "s" if len(close) != 1 else ""
        return Choice(
            chosen,
            f"{least} {rule.by} ({_shown(by_value)}) of the {len(close)} trial{plural} within "
            f"{rule.tolerance:g} of the best {near.name} ({_shown(top_value)}, trial "
            f"{top.number})",
        )

    def _constraint_text(self) -> str:
        return " and ".join(str(c) for c in self.constraints)

    def _refuse_none(self, name: str, trials: Sequence[FrozenTrial]) -> NoReturn:
        if any(t.state == TrialState.COMPLETE for t in trials) and self.constraints:
            raise SweeperError(
                f"no completed trial of study {name!r} keeps {self._constraint_text()}; "
                "loosen the constraint or run more trials, or name a trial with {trial_number}"
            )
        raise SweeperError(
            f"study {name!r} has no completed trial yet; run more trials, or name a pruned one "
            "with {trial_number}"
        )


def _shown(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:,.0f}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.4g}"


def nondominated_ranks(points: dict[int, list[float]]) -> dict[int, int]:
    """Rank 1 for the points no other point dominates (at least as good on every
    coordinate, better on one; higher is better), rank 2 for those left once rank 1 is
    removed, and so on. Quadratic per rank: a sweep holds hundreds of trials, not millions."""
    ranks: dict[int, int] = {}
    left = dict(points)
    rank = 0
    while left:
        rank += 1
        front = [
            key
            for key, point in left.items()
            if not any(_dominates(other, point) for k, other in left.items() if k != key)
        ]
        for key in front:
            ranks[key] = rank
            del left[key]
    return ranks


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def pick_trial(study: optuna.Study, number: int | None = None) -> Choice:
    """The trial to re-train: the one the study's rule picks (``StudyGoals.choose``), or
    trial ``number``; a clear error when there is none."""
    if number is None:
        return StudyGoals.of(study).choose(study)
    trials = study.get_trials(deepcopy=False)
    if not 0 <= number < len(trials):
        held = f"its trials are 0 to {len(trials) - 1}" if trials else "it has no trials yet"
        raise UsageError(f"study {study.study_name!r} has no trial {number}; {held}")
    trial = trials[number]
    if trial.state not in RETRAINABLE or not TrialRecord.of(trial).best_epoch:
        reason = TrialRecord.of(trial).fail_reason
        raise SweeperError(
            f"trial {number} is {trial.state.name.lower()}{f' ({reason})' if reason else ''} "
            "and has no best epoch to re-train to; choose a complete or pruned trial from "
            "leaderboard.csv"
        )
    return Choice(trial, "named by its number")
