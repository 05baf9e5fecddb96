"""The backend contract: where a sweep's trials run.

A backend is handed the sweep whole (``SweepRun``: the space, the resolved configuration,
how to open the study, who watches, what trains a trial) and runs trials until the budget is
met or the time is up. Built in, in ``sweeper.registry.BACKENDS``: this process
(``in_process``), supervised worker processes (``processes``) and a Dask cluster (``dask``);
the configuration picks one (``SweepConfig.backend``). A backend never calls back into the
sweep stage: what it needs comes in the ``SweepRun``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial

from sweeper.trials.loop import MakeObjective, Objective
from sweeper.trials.observer import SweepObserver
from sweeper.trials.stop import StopFlag

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space


@dataclass(frozen=True)
class SweepRun:
    """One sweep, as a backend runs it."""

    space: Space  # as the engine sweeps it
    config: SweepConfig  # resolved
    # Opens the study (creating or resuming it) once the backend knows its data loads and its
    # model fits it, so bad input never touches the study.
    open_study: Callable[[], optuna.Study]
    observer: SweepObserver
    make_objective: MakeObjective | None = None  # None: KerasObjective.for_sweep
    first_worker: int = 0  # ids seed the workers' samplers: runs that share a study differ


class Backend(ABC):
    """Where one sweep's trials run. Built from the resolved configuration, before anything
    is written: a backend that cannot run (a GPU plan that does not fit, a scheduler that does
    not answer) says so then. Used as a context manager, which frees what it holds."""

    def __init__(self, config: SweepConfig) -> None:
        self.config = config

    @classmethod
    def check(cls, config: SweepConfig) -> None:
        """Refuse settings this backend cannot run with (``SettingError``), as the
        configuration is built."""
        return None  # by default, nothing to refuse

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    @abstractmethod
    def describe(self) -> str:
        """Where the trials run, for sweep.log: "in one process", "workers on gpu 0, gpu 1"."""

    @abstractmethod
    def run(self, run: SweepRun) -> list[FrozenTrial]:
        """Trials until the budget is met or the time is up; the trials finished here (those
        lost to a dead or stopped worker aside). Raises KeyboardInterrupt after a stop
        request, the failure streak's error, or a ``SweeperError`` that stops the sweep."""


def build_objective(
    make_objective: MakeObjective | None,
    space,
    data,
    config,
    observer: SweepObserver,
    flag: StopFlag,
) -> Objective:
    """The objective a sweep runs: Keras' (imported only now), unless another is given."""
    if make_objective is None:
        from sweeper.training.objective import KerasObjective

        make_objective = KerasObjective.for_sweep
    return make_objective(space, data, config, observer, flag)
