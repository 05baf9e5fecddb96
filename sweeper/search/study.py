"""A study's life: created (with its head start) or resumed, given a sampler and pruner
seeded for this process, and the sweep's configuration recorded on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.storages import BaseStorage

from sweeper.errors import SweeperError
from sweeper.search.pruners import make_pruner
from sweeper.search.samplers import make_sampler

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space


def derive_seed(seed: int, n_existing: int, worker: int = 0) -> int:
    """A sampler seed for this session's worker: resuming must not replay the first session's
    draws, and parallel workers must not draw the same ones."""
    if n_existing == 0 and worker == 0:
        return seed
    return int(np.random.SeedSequence([seed, n_existing, worker]).generate_state(1)[0] >> 1)


def seed_search(study: optuna.Study, config: SweepConfig, space: Space, worker: int = 0) -> int:
    """Give this session's ``worker`` its sampler (seeded for it) and the pruner; returns the
    sampler seed. Samplers and pruners live in the process, not in the storage. Under the
    KerasTuner engine its oracle is the sampler, and it prunes nothing: Hyperband gives each
    trial its epochs instead."""
    seed = derive_seed(config.seed, len(study.trials), worker)
    if config.engine == "kerastuner":
        from sweeper.search.kerastuner import KerasTunerSampler

        folder = config.results(space.name).path / "kerastuner"
        study.sampler = KerasTunerSampler(space, config.algorithm, config.epochs, seed, folder)
        study.pruner = optuna.pruners.NopPruner()
        return seed
    study.sampler = make_sampler(config.sampler, seed, config.budget)
    study.pruner = make_pruner(config.pruner, config.epochs)
    return seed


def open_study(
    space: Space, storage: BaseStorage, config: SweepConfig, warm_source=None, worker: int = 0
) -> optuna.Study:
    """Create the space's study (with its head start: ``warm_source``, the earlier study
    ``head_start.open_source`` opened, and the configurations to try first) or resume it,
    with a sampler seeded for this session, and record the sweep's configuration on it."""
    from sweeper.search.head_start import begin

    study = optuna.create_study(
        study_name=space.name,
        storage=storage,
        load_if_exists=True,
        direction=optuna.study.StudyDirection[space.direction.upper()],
    )
    if study.direction.name.lower() != space.direction:
        raise SweeperError(
            f"study {space.name!r} in this storage was created to {study.direction.name.lower()}"
            f", but the space says {space.direction}; use another --results-dir or --storage"
        )
    seed_search(study, config, space, worker)
    begin(study, space, config, warm_source)
    settings = {
        **config.record(),
        "space": space.name,
        "objective": space.objective,
        "direction": space.direction,
        "params": [param.name for param in space.all_params],
    }
    for key, value in settings.items():
        study.set_user_attr(key, value)
    return study
