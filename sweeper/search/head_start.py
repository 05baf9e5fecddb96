"""What a new study starts from: configurations tried first, and an earlier sweep's trials.

- Starting points: the space's own (``Space.starting_points``), else one built from the
  optimizer registry's well-worn settings (Adam at 1e-3, or the next optimizer of
  ``START_ORDER`` the space declares), so trial 0 is already a good model. Users add their
  own with ``--enqueue FILE``.
- Warm start (``--warm-start``): an earlier sweep's finished trials of the same space, added
  to the new study so the sampler builds on them from its first trial. They do not count
  against the budget.

Both go in through Optuna (``enqueue_trial``, ``add_trial``); this module decides what.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from sweeper.errors import SpaceError, SweeperError, UsageError
from sweeper.space.optimizers import OPTIMIZERS, START_ORDER
from sweeper.space.params import Categorical
from sweeper.storage.record import WARM_START_FROM

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space, Training

log = logging.getLogger("sweeper")

# One: Adam at its default trained well on both of the search-efficiency benchmark's tasks;
# a second start (SGD with Nesterov momentum at 1e-2) never beat it there and spent a fifth
# of a 45-second budget that a sampled trial put to better use.
N_REGISTRY_POINTS = 1


def registry_points(training: Training) -> list[dict[str, Any]]:
    """The optimizer registry's starting settings for a space's training block, partial
    (model parameters are filled in by ``complete``)."""
    chosen = [name for name in START_ORDER if name in training.optimizers][:N_REGISTRY_POINTS]
    common: dict[str, Any] = {
        "lr_schedule": "constant" if "constant" in training.schedules else training.schedules[0],
        "clipping": "none" if "none" in training.clipping else training.clipping[0],
        # The middle batch size: the smallest train slowly, the largest take few steps.
        "batch_size": sorted(training.batch_sizes)[(len(training.batch_sizes) - 1) // 2],
    }
    return [{"optimizer": name, **common, **OPTIMIZERS[name].start} for name in chosen]


def complete(space: Space, point: Mapping[str, Any], origin: str | None = None) -> dict[str, Any]:
    """A full configuration from a partial one: each active parameter it does not name takes
    its range's middle. ``origin`` names where a user's point came from, for the error that
    refuses a value out of range; None: the registry's own point, whose values are moved into
    the space's ranges instead."""
    params = {p.name: p for p in space.all_params}
    unknown = sorted(set(point) - set(params))
    if unknown and origin is not None:
        raise SpaceError(
            f"{origin}: unknown parameter {unknown[0]!r}; the space has {', '.join(params)}"
        )
    full: dict[str, Any] = {}
    for param in space.all_params:
        if not param.is_active(full):
            continue
        value = point.get(param.name, param.center())
        problem = param.problem_with(value)
        if problem is not None and origin is None:
            value = _nearest(param, value)
        elif problem is not None:
            raise SpaceError(f"{origin}: {param.name}={value!r} {problem}")
        full[param.name] = value
    return full


def _nearest(param: Any, value: Any) -> Any:
    if isinstance(param, Categorical):
        return param.center()
    return type(param.center())(min(max(value, param.low), param.high))


def starting_points(space: Space) -> list[dict[str, Any]]:
    """The configurations a new study of this space tries first."""
    if space.starting_points is not None:
        return [
            complete(space, point, f"starting point {i + 1} of space {space.name!r}")
            for i, point in enumerate(space.starting_points)
        ]
    if space.training is None:  # a hypermodel compiling its own: the registry has no say
        return []
    return [complete(space, point) for point in registry_points(space.training)]


def load_points(path: str | Path) -> list[dict[str, Any]]:
    """Configurations from a JSON or YAML file holding a list of {parameter: value}."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --enqueue file {path}: {exc.strerror}") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            points = yaml.safe_load(text)
        else:
            points = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - JSON's and YAML's errors alike
        first = str(exc).strip().splitlines()[0]
        raise UsageError(f"--enqueue file {path} is not valid JSON or YAML ({first})") from exc
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise UsageError(
            f"--enqueue file {path} must hold a list of {{parameter: value}} objects, "
            f'e.g. [{{"optimizer": "adam", "learning_rate": 0.001}}]'
        )
    return points


def enqueue(study: optuna.Study, space: Space, given: Sequence[Mapping[str, Any]], auto: bool):
    """Queue the user's configurations (``given``), then the space's starting points (when
    ``auto``): a new study runs them first, in that order."""
    points = [complete(space, p, f"--enqueue entry {i + 1}") for i, p in enumerate(given)]
    if auto:
        points += starting_points(space)
    seen: list[dict[str, Any]] = []
    for point in points:
        if point not in seen:
            study.enqueue_trial(point)
            seen.append(point)


def warm_start(study: optuna.Study, space: Space, source: optuna.Study, where: str) -> int:
    """Add ``source``'s complete trials that fit this space to ``study``, marked as coming
    from ``where``; returns how many. Its own warm-started trials are passed on too."""
    params = {p.name: p for p in space.all_params}
    added = 0
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        fits = all(
            name in params and params[name].problem_with(value) is None
            for name, value in trial.params.items()
        )
        if not fits:  # from before the space's ranges changed: it would mislead the sampler
            continue
        origin = trial.user_attrs.get(WARM_START_FROM) or where
        attrs = {**trial.user_attrs, WARM_START_FROM: origin}
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.params,
                # This space's ranges, so the sampler sees one distribution per parameter.
                distributions={name: params[name].distribution() for name in trial.params},
                value=trial.value,
                user_attrs=attrs,
                intermediate_values=trial.intermediate_values,
            )
        )
        added += 1
    return added


def open_source(space: Space, config: SweepConfig) -> tuple[optuna.Study, str] | None:
    """The earlier sweep ``config.warm_start`` names (a results folder, a journal file or a
    database URL), opened for reading before this sweep writes anything; None without one."""
    from sweeper.search.study import JOURNAL_SUFFIXES, journal_path, load_existing_study

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
        raise UsageError(
            f"--warm-start {where} is this sweep's own study; name an earlier sweep's results "
            "folder, journal or database"
        )
    try:
        return load_existing_study(space.name, storage, folder), where
    except SweeperError as exc:
        raise UsageError(f"--warm-start {where}: {exc}") from exc


def begin(study: optuna.Study, space: Space, config: SweepConfig, source) -> None:
    """A new study's head start: the earlier sweep's trials (``source``, from
    ``open_source``), then the configurations to try first. A resumed study had its own."""
    if study.get_trials(deepcopy=False):
        return
    if source is not None:
        added = warm_start(study, space, *source)
        log.info("warm start: %d trials from %s", added, source[1])
    enqueue(study, space, config.enqueue, config.starting_points)
