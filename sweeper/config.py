"""A sweep's configuration: what to sweep and how (``SweepConfig``), and where it runs
(``Placement``). Frozen, validated once when built; workers receive it whole and the study
records it whole, so a new run-level option is a field here, the code that uses it, a CLI
flag and a test.

The configuration knows no engine, storage or backend: it checks the engine's and backend's
names against the registries (``sweeper.registry``), and asks the registered engines and the
chosen backend to check the settings that are theirs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeper.errors import SettingError, SpaceError, UsageError
from sweeper.registry import BACKENDS, ENGINES
from sweeper.results import ResultsDir
from sweeper.space.goals import parse_constraint, parse_goal, parse_rule
from sweeper.space.space import Space
from sweeper.space.starting import complete
from sweeper.urls import check_storage_url, hide_password

if TYPE_CHECKING:
    import optuna

    from sweeper.search.engine import Engine

# A worker restarts once what it keeps per trial adds up to 10% of its size: Keras and
# TensorFlow keep ~5 MiB of every trial even after clear_session() (benchmarks/memory.py).
DEFAULT_MEMORY_GROWTH = 0.10


def _at_least(setting: str, value: Any, low: float, kind: Any = int) -> None:
    if value is None:
        return
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SettingError(
            setting, f"must be {'a whole number' if kind is int else 'a number'}, but got {value!r}"
        )
    if value < low:
        raise SettingError(setting, f"must be at least {low}, but got {value}")


def label(choice: object) -> str:
    """A sampler or pruner as the study records it: its name, or an object's class name."""
    return choice if isinstance(choice, str) else type(choice).__name__


@dataclass(frozen=True)
class Placement:
    """Where trials run. ``workers=None``: in this process. A count or "auto": supervised
    worker processes, sharing ``gpus`` (None: those detected) with at most ``trials_per_gpu``
    on one; a worker restarts after ``trials_per_process`` trials, or once what it keeps per
    trial adds up to ``memory_growth`` (a fraction) of its size (``worker.should_retire``)."""

    workers: int | str | None = 1
    gpus: tuple[str, ...] | None = None
    trials_per_gpu: int | None = None
    trials_per_process: int | None = None
    memory_growth: float | None = DEFAULT_MEMORY_GROWTH

    def __post_init__(self) -> None:
        if self.workers != "auto":
            _at_least("workers", self.workers, 1)
        _at_least("trials_per_gpu", self.trials_per_gpu, 1)
        _at_least("trials_per_process", self.trials_per_process, 1)
        _at_least("memory_growth", self.memory_growth, 0.0, (int, float))
        if self.gpus is not None:
            object.__setattr__(self, "gpus", tuple(str(g) for g in self.gpus))
        if self.workers is None and (self.gpus or self.trials_per_gpu or self.trials_per_process):
            raise SettingError(
                "workers",
                "is None (in this process), which runs no workers; "
                "drop {gpus}, {trials_per_gpu} and {trials_per_process}",
            )

    @property
    def in_process(self) -> bool:
        return self.workers is None


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep and how. ``None`` for ``n_trials``, ``max_epochs`` and ``patience`` means
    the space's own; ``resolve(space)`` fills them in."""

    n_trials: int | None = None
    timeout: float | None = None
    sampler: str | optuna.samplers.BaseSampler = "tpe"  # the Optuna engine's
    pruner: str | optuna.pruners.BasePruner = "epoch_behind"
    seed: int = 0
    max_epochs: int | None = None
    patience: int | None = None
    storage: str | None = None
    results_dir: str | Path = "results"
    data_dir: str | Path | None = None
    max_consecutive_failures: int = 5
    # What a new study starts from (sweeper.search.head_start): configurations to try first (the
    # user's, then the space's starting points unless switched off), and an earlier sweep's
    # results folder, journal or database to seed the sampler with.
    enqueue: tuple[Mapping[str, Any], ...] = ()
    starting_points: bool = True
    warm_start: str | Path | None = None
    # What chooses each trial's values: Optuna's sampler and pruner, or a KerasTuner oracle
    # (sweeper.search.kerastuner) in their place, with its own study and results folder.
    engine: str = "optuna"
    algorithm: str = "hyperband"  # the KerasTuner oracle, with engine="kerastuner"
    # What the sweep optimizes and picks by, in place of the space's own declaration when
    # given (space.goals): objectives ("val_accuracy:max", "params:min"), constraints
    # ("latency_ms<=2"), and the winner rule ("min params within 0.005 of val_accuracy").
    objectives: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    winner: str | None = None
    # Per-trial TensorBoard logs with HParams, in results/<space>/tensorboard/ (off: they cost
    # disk and a little time every epoch).
    tensorboard: bool = False
    # On a database storage, trials record a heartbeat this often (seconds); one silent for
    # two intervals (its machine or process gone) is failed and retried once.
    heartbeat: int = 60
    # How long a database that cannot be reached (a restart, a failover) is retried before the
    # sweep stops, resumable (sweeper.storage.outage): within the heartbeat's grace of two
    # intervals, so the trials that trained through it are not taken for dead.
    storage_retry: float = 60.0
    # An existing Dask cluster that runs the workers (sweeper.backends.dask_cluster): its
    # scheduler's address (tcp://host:8786) or scheduler file. None: workers on this machine.
    dask: str | None = None
    placement: Placement = field(default_factory=Placement)

    def __post_init__(self) -> None:
        _at_least("n_trials", self.n_trials, 1)
        _at_least("max_epochs", self.max_epochs, 1)
        _at_least("patience", self.patience, 0)
        _at_least("max_consecutive_failures", self.max_consecutive_failures, 1)
        _at_least("seed", self.seed, 0)
        _at_least("heartbeat", self.heartbeat, 1)
        _at_least("storage_retry", self.storage_retry, 0.0, (int, float))
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or self.timeout <= 0
        ):
            raise SettingError(
                "timeout", f"must be a number of seconds above 0, but got {self.timeout!r}"
            )
        if self.storage is not None:
            check_storage_url(self.storage)
        object.__setattr__(self, "enqueue", tuple(self.enqueue))
        if not all(isinstance(point, Mapping) for point in self.enqueue):
            raise SettingError("enqueue", "must be a list of {parameter: value} dicts")
        if self.warm_start is not None and "://" in str(self.warm_start):
            check_storage_url(str(self.warm_start))
        self._check_goals()
        self._check_tensorboard()
        # Each engine checks the settings it owns, whichever is chosen (unknown names fail
        # here, before any I/O); then the chosen engine and backend, what they cannot run.
        for name in ENGINES.names():
            ENGINES.load(name).check_settings(self)
        ENGINES.load(self.engine).check(self)
        BACKENDS.load(self.backend).check(self)

    def _check_goals(self) -> None:
        """Each objective, constraint and the rule parse (names are checked against the
        space's metrics when the plan applies them to it)."""
        for setting in ("objectives", "constraints"):
            given = getattr(self, setting)
            if isinstance(given, str):
                given = (given,)
            object.__setattr__(self, setting, tuple(given))
        try:
            for objective in self.objectives:
                parse_goal(objective)
            for constraint in self.constraints:
                parse_constraint(constraint)
            if self.winner is not None:
                parse_rule(self.winner)
        except SpaceError as exc:
            raise UsageError(exc.template) from exc

    def with_goals(self, space: Space) -> Space:
        """The space with this configuration's objectives, constraints and winner rule in
        place of its own, where given."""
        given: dict[str, Any] = {
            "objectives": self.objectives,
            "constraints": self.constraints,
            "winner": self.winner,
        }
        given = {key: value for key, value in given.items() if value}
        return dataclasses.replace(space, **given) if given else space

    def _check_tensorboard(self) -> None:
        import importlib.util

        if not isinstance(self.tensorboard, bool):
            raise SettingError("tensorboard", f"must be True or False, not {self.tensorboard!r}")
        missing = [
            name
            for name in ("tensorflow", "tensorboard")
            if self.tensorboard and importlib.util.find_spec(name) is None
        ]
        if missing:
            raise SettingError(
                "tensorboard",
                f"needs {' and '.join(missing)}, not installed here (the logs are written "
                f"with TensorFlow's summary writer); pip install {' '.join(missing)}, or run "
                "without it",
            )

    @property
    def backend(self) -> str:
        """Where the trials run (a name in ``registry.BACKENDS``): on the Dask cluster given,
        in this process (``workers=None``), or in worker processes."""
        if self.dask is not None:
            return "dask"
        return "in_process" if self.placement.in_process else "processes"

    def search_engine(self) -> Engine:
        """This configuration's engine (a name in ``registry.ENGINES``), for this process."""
        return ENGINES.load(self.engine)(self)

    def engine_space(self, space: Space) -> Space:
        """The space as this configuration sweeps it: its objectives, constraints and winner
        rule (``with_goals``), and as its engine sweeps it (the KerasTuner engine: a study and
        results folder of its own, and no starting points)."""
        return self.search_engine().sweep_space(self.with_goals(space))

    @classmethod
    def of(cls, **settings: Any) -> SweepConfig:
        """A configuration from flat keyword settings, placement ones included."""
        own = {f.name for f in fields(cls)} - {"placement"}
        placed = {f.name for f in fields(Placement)}
        unknown = sorted(set(settings) - own - placed)
        if unknown:
            raise SettingError(
                unknown[0], f"is not a sweep setting; choose from {', '.join(sorted(own | placed))}"
            )
        placement = Placement(**{k: v for k, v in settings.items() if k in placed})
        return cls(**{k: v for k, v in settings.items() if k in own}, placement=placement)

    def resolve(self, space: Space) -> SweepConfig:
        """This configuration with the space's defaults filled in; the configurations to
        enqueue are checked against the space's ranges."""
        for i, point in enumerate(self.enqueue):
            try:
                complete(space, point, f"entry {i + 1}")
            except SpaceError as exc:
                raise SettingError("enqueue", exc.template) from exc
        return dataclasses.replace(
            self,
            n_trials=self.n_trials or space.n_trials,
            max_epochs=self.max_epochs or space.max_epochs,
            patience=space.patience if self.patience is None else self.patience,
        )

    @property
    def budget(self) -> int:
        assert self.n_trials is not None, "resolve(space) first"
        return self.n_trials

    @property
    def epochs(self) -> int:
        assert self.max_epochs is not None, "resolve(space) first"
        return self.max_epochs

    def results(self, space_name: str) -> ResultsDir:
        return ResultsDir.of(self.results_dir, space_name)

    def record(self) -> dict[str, Any]:
        """The configuration as the study records it (JSON values; objects by class name)."""
        return {
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "sampler": label(self.sampler),
            "pruner": label(self.pruner),
            "seed": self.seed,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "max_consecutive_failures": self.max_consecutive_failures,
            "enqueued": len(self.enqueue),
            "starting_points": self.starting_points,
            "warm_start": None if self.warm_start is None else hide_password(self.warm_start),
            "engine": self.search_engine().label,
            "tensorboard": self.tensorboard,
            "heartbeat": self.heartbeat,
            "workers": self.placement.workers,
            "trials_per_process": self.placement.trials_per_process,
            "memory_growth": self.placement.memory_growth,
        }
