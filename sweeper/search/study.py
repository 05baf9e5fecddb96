"""A study's life: created (with its head start) or resumed, given this process' engine,
the sweep's configuration recorded on it, and the trials a dead process left running
recovered (``StudyOpener``, what every backend opens its sweep's study with).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.storages import BaseStorage

from sweeper.errors import SweeperError, not_writable
from sweeper.search.head_start import begin
from sweeper.storage.journal import refuse_damaged
from sweeper.storage.outage import RideOut
from sweeper.storage.recovery import recover
from sweeper.storage.standing import OBJECTIVES, StudyGoals
from sweeper.storage.storages import open_storage

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space

log = logging.getLogger("sweeper")


def derive_seed(seed: int, n_existing: int, worker: int = 0, session: int = 0) -> int:
    """A sampler seed for this session's worker: resuming must not replay the first session's
    draws, and parallel workers, or sessions that share the study, must not draw the same
    ones. The session that creates a study (``session`` 0) seeds its first worker with
    ``seed`` itself, so a sweep in one process is reproducible."""
    if n_existing == 0 and worker == 0 and session == 0:
        return seed
    entropy = [seed, n_existing, worker, *([session] if session else [])]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


def new_session() -> int:
    """A session number for a process that opens a study someone else created (another
    ``run`` started at the same time, a worker joining, a resumed sweep): its samplers draw
    apart from every other session's, even at the same study size and worker number."""
    return 1 + int.from_bytes(os.urandom(4), "big")


def attach_engine(
    study: optuna.Study, space: Space, config: SweepConfig, worker: int = 0, session: int = 0
) -> int:
    """Give this session's ``worker`` its engine's sampler (seeded for it) and pruner;
    returns the sampler seed."""
    seed = derive_seed(config.seed, len(study.trials), worker, session)
    config.search_engine().attach(study, space, seed)
    return seed


def open_study(
    space: Space, storage: BaseStorage, config: SweepConfig, warm_source=None, worker: int = 0
) -> optuna.Study:
    """``start_session``'s study."""
    return start_session(space, storage, config, warm_source, worker)[0]


def start_session(
    space: Space, storage: BaseStorage, config: SweepConfig, warm_source=None, worker: int = 0
) -> tuple[optuna.Study, int]:
    """Create the space's study (with its head start: ``warm_source``, the earlier study
    ``head_start.open_source`` opened, and the configurations to try first) or resume it,
    with a sampler seeded for this session, and record the sweep's configuration on it.
    Returns the study and the session number its workers seed their samplers with: 0 for
    the process that created the study, another for each that found it there."""
    study, created = _create_or_load(space, storage)
    session = 0 if created else new_session()
    goals = StudyGoals(space.goals, space.constraint_list, space.winner_rule)
    if not created:
        _check_same_goals(study, space, goals)
    attach_engine(study, space, config, worker, session)
    begin(study, space, config, warm_source)
    settings = {
        **config.record(),
        "space": space.name,
        "objective": space.objective,
        "direction": space.direction,
        **goals.record(),
        "params": [param.name for param in space.all_params],
    }
    for key, value in settings.items():
        study.set_user_attr(key, value)
    return study, session


def _check_same_goals(study: optuna.Study, space: Space, goals: StudyGoals) -> None:
    """A study resumed or joined must be swept for what it was created for: its objectives
    in their directions (Optuna's values are theirs), its constraints and winner rule. A
    study from before several objectives recorded its direction alone."""
    recorded = StudyGoals.of(study)
    named = bool(study.user_attrs.get(OBJECTIVES))
    same = (
        recorded.goals == goals.goals
        if named
        else [g.direction for g in recorded.goals] == [g.direction for g in goals.goals]
    )
    if not same:
        raise SweeperError(
            f"study {space.name!r} in this storage was created for "
            f"{', '.join(map(str, recorded.goals))}, but this sweep asks for "
            f"{', '.join(map(str, goals.goals))}; sweep it as it was created, or use another "
            "{results_dir} or {storage}"
        )
    if named and (recorded.constraints, recorded.rule) != (goals.constraints, goals.rule):
        raise SweeperError(
            f"study {space.name!r} in this storage was created with "
            f"{_picking(recorded)}, but this sweep gives {_picking(goals)}; sweep it as it "
            "was created, or use another {results_dir} or {storage}"
        )


def _picking(goals: StudyGoals) -> str:
    """Its constraints and winner rule, in words."""
    constraints = " and ".join(map(str, goals.constraints)) or "no constraint"
    return f"{constraints} and winner rule '{goals.rule or 'the best'}'"


def _create_or_load(space: Space, storage: BaseStorage) -> tuple[optuna.Study, bool]:
    """The space's study, and whether this call created it: of several processes opening a
    new study at once, the storage lets exactly one create it. An existing study is loaded
    first: on a journal, a creation that finds the study there still appends a record, and a
    sweep refused after it must leave the study as it was. Optuna's "A new study created"
    line is left out: the sweep's own view and sweep.log say what happens."""
    directions = [optuna.study.StudyDirection[goal.direction.upper()] for goal in space.goals]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        with contextlib.suppress(KeyError):  # none yet
            return optuna.load_study(study_name=space.name, storage=storage), False
        return optuna.create_study(
            study_name=space.name, storage=storage, directions=directions
        ), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=space.name, storage=storage), False
    finally:
        optuna.logging.set_verbosity(verbosity)


class StudyOpener:
    """Opens a sweep's study when its backend is ready for it (its data loaded, its model
    checked against the data), so bad input never touches the study: refuses a damaged
    journal, creates the study or resumes it (``open_study``), starts sweep.log, and fails and
    queues for a retry the trials a dead process left running. Called once; ``study`` is
    what it opened (None before), ``close`` ends sweep.log."""

    def __init__(
        self,
        space: Space,
        config: SweepConfig,
        *,
        warm_source=None,
        worker: int = 0,
        where: str = "",
        notify: Callable[[str | None], None] | None = None,
    ) -> None:
        """``where``: where the trials run, for sweep.log (the backend's ``describe``).
        ``notify``: told when the database cannot be reached, and when it is back."""
        self.space, self.config, self.warm_source = space, config, warm_source
        self.worker, self.where = worker, where
        self.ride_out = RideOut(config.storage_retry)
        if notify is not None:
            self.ride_out = RideOut(config.storage_retry, notify)
        self.study: optuna.Study | None = None
        self.session = 0  # what start_session gave: the workers seed their samplers with it
        self._handler: logging.Handler | None = None

    def __call__(self) -> optuna.Study:
        space, config = self.space, self.config
        results = config.results(space.name)
        refuse_damaged(config.storage, results.path, space.source or space.name)
        try:
            storage = open_storage(config.storage, results.path, config.heartbeat, self.ride_out)
            study, self.session = start_session(
                space, storage, config, self.warm_source, worker=self.worker
            )
            results.path.mkdir(parents=True, exist_ok=True)  # a database does not create it
            self._handler = _log_to(results.log)
        except OSError as exc:  # a read-only folder: the journal's lock, sweep.log
            raise not_writable(results.path, exc) from exc
        self.study = study
        log.info("sweep %s: %s, %s", space.name, config.record(), self.where)
        died, retried = recover(study)
        if died:
            log.warning("trials left running by a dead process, now failed: %s", died)
        if retried:
            log.warning("lost trials queued for a retry: %s", retried)
        return study

    def close(self) -> None:
        if self._handler is not None:
            log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None


def _log_to(path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler
