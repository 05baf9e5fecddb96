"""What a new study starts from: configurations tried first, and an earlier sweep's trials.

- Starting points (``sweeper.space.starting``) and the user's ``--enqueue`` configurations,
  queued to run first.
- Warm start (``--warm-start``): an earlier sweep's finished trials of the same space, added
  to the new study so the sampler builds on them from its first trial. They do not count
  against the budget.

Both go in through Optuna (``enqueue_trial``, ``add_trial``); this module decides what.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from sweeper.errors import SettingError, SweeperError
from sweeper.space.starting import complete, starting_points
from sweeper.storage.record import STARTING_POINT, WARM_START_FROM
from sweeper.storage.standing import StudyGoals
from sweeper.storage.storages import journal_path, load_existing_study
from sweeper.urls import JOURNAL_SUFFIXES, hide_password

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space

log = logging.getLogger("sweeper")


def enqueue(
    study: optuna.Study,
    space: Space,
    given: Sequence[Mapping[str, Any]],
    auto: bool,
    budget: int | None = None,
):
    """Queue the user's configurations (``given``), then the space's starting points (when
    ``auto``; as many as the trial ``budget`` leaves room for, so a one-trial sweep does not
    end with a trial queued): a new study runs them first, in that order. A starting point's
    trial is marked with its number (``STARTING_POINT``): the default pruner lets it train."""
    points: list[tuple[dict[str, Any], dict[str, int]]] = [
        (complete(space, p, f"enqueue entry {i + 1}"), {}) for i, p in enumerate(given)
    ]
    if auto:
        room = None if budget is None else max(0, budget - len(points))
        starts = starting_points(space)[:room]
        points += [(point, {STARTING_POINT: i}) for i, point in enumerate(starts, start=1)]
    seen: list[dict[str, Any]] = []
    for point, attrs in points:
        if point not in seen:
            study.enqueue_trial(point, user_attrs=attrs or None)
            seen.append(point)


def warm_start(study: optuna.Study, space: Space, source: optuna.Study, where: str) -> int:
    """Add ``source``'s complete trials that fit this space to ``study``, marked as coming
    from ``where``; returns how many. Its own warm-started trials are passed on too."""
    params = {p.name: p for p in space.all_params}
    # This sweep's objectives, read from each earlier trial's metrics and costs: the earlier
    # sweep may have optimized others. A trial that lacks one (from before costs) is left out.
    goals = StudyGoals(space.goals)
    added = 0
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        values = [v for v in goals.values(trial) if v is not None]
        fits = all(
            name in params and params[name].problem_with(value) is None
            for name, value in trial.params.items()
        )
        if not fits or len(values) < len(goals.goals):  # from before the space's ranges
            continue  # changed (it would mislead the sampler), or without this sweep's values
        origin = trial.user_attrs.get(WARM_START_FROM) or where
        attrs = {**trial.user_attrs, WARM_START_FROM: origin}
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.params,
                # This space's ranges, so the sampler sees one distribution per parameter.
                distributions={name: params[name].distribution() for name in trial.params},
                values=values,
                user_attrs=attrs,
                intermediate_values=trial.intermediate_values,
            )
        )
        added += 1
    return added


def open_source(space: Space, config: SweepConfig) -> tuple[optuna.Study, str] | None:
    """The earlier sweep ``config.warm_start`` names (a results folder, a journal file or a
    database URL), opened for reading before this sweep writes anything; None without one."""
    if config.warm_start is None:
        return None
    where = str(config.warm_start)
    if "://" in where or Path(where).suffix in JOURNAL_SUFFIXES:
        storage, folder = where, Path(".")
    else:  # the results folder, or the space's own folder inside it
        storage, folder = None, Path(where)
        if not (folder / "study.journal").is_file():
            folder = folder / space.name
    own = journal_path(config.storage, config.results(space.name).path)
    if own is not None and journal_path(storage, folder) == own:
        raise SettingError(
            "warm_start",
            f"{where} is this sweep's own study; name an earlier sweep's results folder, "
            "journal or database",
        )
    try:  # recorded on each trial it gives (warm_start_from): never with a password
        return load_existing_study(space.name, storage, folder), hide_password(where)
    except SweeperError as exc:
        raise SettingError("warm_start", f"{hide_password(where)}: {exc.template}") from exc


def begin(study: optuna.Study, space: Space, config: SweepConfig, source) -> None:
    """A new study's head start: the earlier sweep's trials (``source``, from
    ``open_source``), then the configurations to try first. A resumed study had its own."""
    if study.get_trials(deepcopy=False):
        return
    if source is not None:
        added = warm_start(study, space, *source)
        log.info("warm start: %d trials from %s", added, source[1])
    enqueue(study, space, config.enqueue, config.starting_points, config.n_trials)
