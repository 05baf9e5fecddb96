"""The engine contract: what chooses each trial's values.

An engine works behind Optuna's sampler and pruner interfaces: the trial loop asks the study
for a trial, and the study asks the sampler the engine gave it (``attach``). So every engine
shares the one trial loop, its workers and recovery, the trial record, the leaderboard and
the winner. Built in: Optuna's samplers and pruners (``optuna``), and KerasTuner's oracles
(``kerastuner``). A new engine is a subclass in a module of its own and one line in
``sweeper.registry.ENGINES``, or a ``sweeper.engines`` entry point in another package.

Every configuration asks each registered engine to check the settings it owns, so an engine
module imports its heavy libraries inside its methods, not at the top.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import optuna

    from sweeper.config import SweepConfig
    from sweeper.space.space import Space


class Engine(ABC):
    """One process' engine for one sweep, made from the sweep's resolved configuration."""

    #: Why the study it sweeps cannot be shared by several processes (worker processes,
    #: ``sweeper worker``, Dask), or None: any number may share it.
    single_process: ClassVar[str | None] = None

    def __init__(self, config: SweepConfig) -> None:
        self.config = config

    @classmethod
    def check_settings(cls, config: SweepConfig) -> None:
        """Refuse a bad value of a setting this engine owns (``SettingError``), whichever
        engine the configuration chose: as the configuration is built, before anything runs."""
        return None  # by default, nothing to refuse

    @classmethod
    def check(cls, config: SweepConfig) -> None:
        """Refuse, when this is the configuration's engine, the settings it cannot sweep with."""
        return None  # by default, nothing to refuse

    @property
    def label(self) -> str:
        """The engine as the study records it."""
        return self.config.engine

    def sweep_space(self, space: Space) -> Space:
        """The space as this engine sweeps it: its study's name, its starting points."""
        return space

    @abstractmethod
    def attach(self, study: optuna.Study, space: Space, seed: int) -> None:
        """Give this process' ``study`` the sampler (seeded with ``seed``) and the pruner
        that choose and stop its trials. Samplers and pruners live in the process, not in the
        storage: each process that trains attaches its own."""
