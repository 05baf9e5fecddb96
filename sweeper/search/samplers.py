"""Optuna samplers by name (``SAMPLERS``), and the TPE that sweeps by default."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from sweeper.errors import SweeperError, UsageError
from sweeper.space.optimizers import start_learning_rate


def _needs(module: str, sampler: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise SweeperError(
            f"sampler {sampler!r} needs {module}, which is not installed; "
            f"pip install 'sweeper[{extra}]' or choose another sampler"
        )


def _gp(seed: int) -> optuna.samplers.BaseSampler:
    _needs("torch", "gp", "gp")
    return optuna.samplers.GPSampler(seed=seed)


def startup_trials(budget: int | None) -> int:
    """Random trials before TPE models the results, sized to the budget: Optuna's 10 left a
    30-trial sweep a third random, and a short one all random (the starting points, tried
    first, count among them)."""
    return 10 if budget is None else min(10, max(5, budget // 10))


# How far a start-up trial's learning rate strays from its optimizer's well-worn one: the
# standard deviation of its log10, so two in three fall within a factor of 3.2 of it.
LR_PRIOR_DECADES = 0.5


class RegistryTPESampler(optuna.samplers.TPESampler):
    """TPE whose random start-up trials draw the learning rate near the chosen optimizer's
    well-worn one (``OptimizerSpec.start``: Adam 1e-3, SGD 1e-2), log-normally within the
    space's range, instead of uniformly over it.

    Over a range such as 1e-4..1e-1 a uniform draw gives Adam 1e-1 (diverges) or SGD 1e-4
    (barely moves) as often as a rate that trains, and in a short sweep the start-up trials
    are most of the trials. Every other parameter, and every trial once TPE models the
    results, is drawn as TPE draws it. Optuna's TPE takes no prior that depends on another
    parameter (here the optimizer), so this one is ours.
    """

    def __init__(self, *, seed: int, n_startup_trials: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, **kwargs)
        self._startup = n_startup_trials
        self._prior_rng = np.random.RandomState(seed)

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self._prior_rng.seed()

    def sample_independent(self, study, trial, param_name, param_distribution):
        start = start_learning_rate(trial.params) if param_name == "learning_rate" else None
        if (
            start is not None
            and isinstance(param_distribution, optuna.distributions.FloatDistribution)
            and param_distribution.log
            and param_distribution.low <= start <= param_distribution.high
            and len(study.get_trials(deepcopy=False, states=TPE_COUNTS)) < self._startup
        ):
            return self._near(start, param_distribution)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def _near(self, start: float, distribution: optuna.distributions.FloatDistribution) -> float:
        low, high = np.log10(distribution.low), np.log10(distribution.high)
        # Truncated to the range by redrawing, so its edges gather no extra weight. A range
        # so narrow that draws keep missing it is one where the prior is flat anyway.
        for _ in range(100):
            exponent = self._prior_rng.normal(np.log10(start), LR_PRIOR_DECADES)
            if low <= exponent <= high:
                break
        else:
            exponent = self._prior_rng.uniform(low, high)
        # 10 ** log10(x) may round a hair past the range's ends.
        return float(np.clip(10**exponent, distribution.low, distribution.high))


# The trials TPE counts towards its start-up (failed ones are not: unlike record.FINISHED).
TPE_COUNTS = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _tpe(seed: int, budget: int | None = None) -> optuna.samplers.BaseSampler:
    # multivariate + group: TPE models parameters jointly (learning rate and batch size
    # interact), within each branch of the conditional space. Optuna still flags both
    # experimental, which says nothing actionable to our users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: parallel workers see each other's running trials as bad ones, so
        # they do not all sample the same promising point.
        return RegistryTPESampler(
            seed=seed,
            n_startup_trials=startup_trials(budget),
            multivariate=True,
            group=True,
            constant_liar=True,
        )


# Each takes the seed and the trial budget (None when not known yet).
SAMPLERS: dict[str, Callable[[int, int | None], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed, budget: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed, budget: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "gp": lambda seed, budget: _gp(seed),
    "qmc": lambda seed, budget: optuna.samplers.QMCSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "nsga2": lambda seed, budget: optuna.samplers.NSGAIISampler(
        seed=seed, population_size=nsga2_population(budget)
    ),
}


def nsga2_population(budget: int | None) -> int:
    """NSGA-II's generation size, sized to the budget: with Optuna's 50, a sweep of fewer
    than 50 trials is one random generation and never evolves. A quarter of the budget gives
    about four generations, never fewer than 8 trials a generation."""
    return 50 if budget is None else min(50, max(8, budget // 4))


SamplerLike = str | optuna.samplers.BaseSampler


def by_name(registry: dict[str, Callable], kind: str, name: str) -> Callable:
    if name not in registry:
        raise UsageError(f"unknown {kind} {name!r}; choose from {', '.join(registry)}")
    return registry[name]


def make_sampler(
    sampler: SamplerLike, seed: int, budget: int | None = None
) -> optuna.samplers.BaseSampler:
    """A sampler by registry name, seeded and sized to the trial ``budget``; an Optuna
    sampler object is used as it is."""
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    return by_name(SAMPLERS, "sampler", sampler)(seed, budget)
