"""A sweep's configuration: what to sweep and how (``SweepConfig``), and where it runs
(``Placement``). Frozen, validated once when built; workers receive it whole and the study
records it whole, so a new run-level option is a field here, the code that uses it, a CLI
flag and a test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sweeper.backends.devices import WorkerSlot, detect_gpus, plan_workers
from sweeper.errors import SettingError
from sweeper.results import ResultsDir
from sweeper.search.pruners import PrunerLike, make_pruner
from sweeper.search.samplers import SamplerLike, make_sampler
from sweeper.space.space import Space
from sweeper.storage.storages import check_storage_url

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


def _shown(where: str | Path) -> str:
    """A storage or folder as the study records it: a database URL without its password."""
    if "://" not in str(where):
        return str(where)
    from sqlalchemy.engine import make_url

    return make_url(str(where)).render_as_string(hide_password=True)


def label(choice: SamplerLike | PrunerLike) -> str:
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
                "drop gpus, trials_per_gpu and trials_per_process",
            )

    @property
    def in_process(self) -> bool:
        return self.workers is None

    def slots(self) -> list[WorkerSlot]:
        """One slot per worker process (none in-process)."""
        if self.workers is None:
            return []
        return plan_workers(
            self.workers,
            gpus=detect_gpus() if self.gpus is None else self.gpus,
            trials_per_gpu=self.trials_per_gpu,
        )


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep and how. ``None`` for ``n_trials``, ``max_epochs`` and ``patience`` means
    the space's own; ``resolve(space)`` fills them in."""

    n_trials: int | None = None
    timeout: float | None = None
    sampler: SamplerLike = "tpe"
    pruner: PrunerLike = "epoch_behind"
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
    # Per-trial TensorBoard logs with HParams, in results/<space>/tensorboard/ (off: they cost
    # disk and a little time every epoch).
    tensorboard: bool = False
    # On a database storage, trials record a heartbeat this often (seconds); one silent for
    # two intervals (its machine or process gone) is failed and retried once.
    heartbeat: int = 60
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
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or self.timeout <= 0
        ):
            raise SettingError(
                "timeout", f"must be a number of seconds above 0, but got {self.timeout!r}"
            )
        make_sampler(self.sampler, self.seed)  # unknown names fail here, before any I/O
        make_pruner(self.pruner, self.max_epochs or 1)
        if self.storage is not None:
            check_storage_url(self.storage)
        object.__setattr__(self, "enqueue", tuple(self.enqueue))
        if not all(isinstance(point, Mapping) for point in self.enqueue):
            raise SettingError("enqueue", "must be a list of {parameter: value} dicts")
        if self.warm_start is not None and "://" in str(self.warm_start):
            check_storage_url(str(self.warm_start))
        self._check_engine()
        self._check_tensorboard()
        self._check_dask()

    def _check_dask(self) -> None:
        """A Dask cluster's workers share the study through a database they all reach, one
        worker per Dask worker slot; checked before anything connects."""
        import importlib.util

        if self.dask is None:
            return
        if not isinstance(self.dask, str) or not self.dask.strip():
            raise SettingError(
                "dask", f"must be a scheduler address or scheduler file, not {self.dask!r}"
            )
        if importlib.util.find_spec("distributed") is None:
            raise SettingError(
                "dask", "needs dask.distributed, not installed here; pip install 'sweeper[dask]'"
            )
        from sweeper.backends.dask_cluster import scheduler_target

        scheduler_target(self.dask)  # an address, or a scheduler file that exists
        local = self.storage is None or check_storage_url(self.storage) == "journal"
        if local or str(self.storage).startswith("sqlite"):
            raise SettingError(
                "dask",
                "needs a database storage that every Dask worker reaches, such as "
                "postgresql://user@host/db (a journal file or SQLite lives on one machine)",
            )
        if self.engine != "optuna":
            raise SettingError(
                "dask", "runs the Optuna engine only: a KerasTuner oracle lives in one process"
            )
        placement = self.placement
        if placement.workers != 1 or placement.gpus is not None or placement.trials_per_gpu:
            raise SettingError(
                "dask",
                "places one worker per Dask worker slot (a unit of its GPU resource, else a "
                "thread), so it takes no workers, gpus or trials_per_gpu (--workers, "
                "--in-process, --gpus, --trials-per-gpu)",
            )

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

    def _check_engine(self) -> None:
        from sweeper.search.kerastuner import ALGORITHMS, ENGINES

        if self.engine not in ENGINES:
            raise SettingError(
                "engine", f"must be one of {', '.join(ENGINES)}, not {self.engine!r}"
            )
        if self.algorithm not in ALGORITHMS:
            raise SettingError(
                "algorithm", f"must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}"
            )
        if self.engine == "kerastuner" and self.placement.workers not in (None, 1):
            raise SettingError(
                "workers",
                f"is {self.placement.workers!r}, but the KerasTuner engine runs one worker: its "
                "oracle lives in the process that trains (KerasTuner's own chief/worker mode "
                "hangs when a worker dies); use 1, or the Optuna engine for parallel workers",
            )

    def engine_space(self, space: Space) -> Space:
        """The space as this engine sweeps it: under a KerasTuner oracle, a study (and results
        folder) of its own, ``<space>-kerastuner-<algorithm>``, beside the Optuna one, and no
        starting points (the oracle picks its own first trials)."""
        suffix = f"-kerastuner-{self.algorithm}"
        if self.engine == "optuna" or space.name.endswith(suffix):
            return space
        return dataclasses.replace(space, name=space.name + suffix, starting_points=[])

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
        from sweeper.space.starting import complete

        for i, point in enumerate(self.enqueue):
            complete(space, point, f"--enqueue entry {i + 1}")
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
            "warm_start": None if self.warm_start is None else _shown(self.warm_start),
            "engine": self.engine if self.engine == "optuna" else f"kerastuner-{self.algorithm}",
            "tensorboard": self.tensorboard,
            "heartbeat": self.heartbeat,
            "workers": self.placement.workers,
            "trials_per_process": self.placement.trials_per_process,
            "memory_growth": self.placement.memory_growth,
        }
