"""The Optuna engine, sweeper's default: a sampler and a pruner by name (``SAMPLERS``,
``PRUNERS``; TPE and ``EpochBehindPruner`` unless told otherwise), or Optuna objects given as
they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweeper.search.engine import Engine
from sweeper.search.pruners import check_several_objectives, make_pruner
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

    def sweep_space(self, space: Space) -> Space:
        """The space as it is; with several objectives, refused unless the sampler and the
        pruner can sweep them."""
        if len(space.goals) > 1:
            check_several_objectives(self.config.sampler, self.config.pruner)
        return space

    def attach(self, study: optuna.Study, space: Space, seed: int) -> None:
        study.sampler = make_sampler(self.config.sampler, seed, self.config.budget)
        study.pruner = make_pruner(self.config.pruner, self.config.epochs)
