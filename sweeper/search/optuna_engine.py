"""The Optuna engine, sweeper's default: a sampler and a pruner by name (``SAMPLERS``,
``PRUNERS``; TPE and ``EpochBehindPruner`` unless told otherwise), or Optuna objects given as
they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweeper.search.engine import Engine
from sweeper.search.pruners import make_pruner
from sweeper.search.samplers import make_sampler

if TYPE_CHECKING:
    import optuna

    from sweeper.config import SweepConfig
    from sweeper.space.space import Space


class OptunaEngine(Engine):
    @classmethod
    def check_settings(cls, config: SweepConfig) -> None:
        make_sampler(config.sampler, config.seed)  # an unknown name fails here
        make_pruner(config.pruner, config.max_epochs or 1)

    def attach(self, study: optuna.Study, space: Space, seed: int) -> None:
        study.sampler = make_sampler(self.config.sampler, seed, self.config.budget)
        study.pruner = make_pruner(self.config.pruner, self.config.epochs)
