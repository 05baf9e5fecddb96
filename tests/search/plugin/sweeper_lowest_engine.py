"""An engine that lives only in the tests, registered as a package would register one: a
``sweeper.engines`` entry point (``sweeper_lowest_engine-0.1.dist-info``, beside this file).
It takes every parameter's lowest value and the first of every choice, and prunes nothing."""

from __future__ import annotations

import optuna

from sweeper.errors import SettingError
from sweeper.search.engine import Engine


class LowestSampler(optuna.samplers.BaseSampler):
    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        if isinstance(param_distribution, optuna.distributions.CategoricalDistribution):
            return param_distribution.choices[0]
        return param_distribution.low


class LowestEngine(Engine):
    @classmethod
    def check(cls, config) -> None:
        if config.sampler != "tpe":
            raise SettingError("sampler", "is the Optuna engine's; the lowest engine takes none")

    @property
    def label(self) -> str:
        return "lowest-first"

    def attach(self, study: optuna.Study, space, seed: int) -> None:
        study.sampler = LowestSampler()
        study.pruner = optuna.pruners.NopPruner()
