"""The Optuna side: samplers and pruners by name, the storage, and opening a study.

The default storage is Optuna's journal file under ``results/<space>/``: several processes on
one box can share it (SQLite locks under parallel writers). ``--storage`` takes a database URL
(PostgreSQL for many machines) or a journal file path.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from sweeper.errors import SweeperError, UsageError, not_writable
from sweeper.results import ResultsDir
from sweeper.space.optimizers import OPTIMIZERS
from sweeper.storage.record import FAIL_REASON, counted, is_lost

if TYPE_CHECKING:
    from sweeper.config import SweepConfig
    from sweeper.space.space import Space

JOURNAL_SUFFIXES = (".journal", ".log", ".jsonl")


def _needs(module: str, sampler: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise SweeperError(
            f"sampler {sampler!r} needs {module}, which is not installed; "
            f"pip install 'sweeper[{extra}]' or choose another sampler"
        )


def _gp(seed: int) -> optuna.samplers.BaseSampler:
    _needs("torch", "gp", "gp")
    return optuna.samplers.GPSampler(seed=seed)


def startup_trials(budget: int | None) -> int:
    """Random trials before TPE models the results, sized to the budget: Optuna's 10 left a
    30-trial sweep a third random, and a short one all random (the starting points, tried
    first, count among them)."""
    return 10 if budget is None else min(10, max(5, budget // 10))


# How far a start-up trial's learning rate strays from its optimizer's well-worn one: the
# standard deviation of its log10, so two in three fall within a factor of 3.2 of it.
LR_PRIOR_DECADES = 0.5


class RegistryTPESampler(optuna.samplers.TPESampler):
    """TPE whose random start-up trials draw the learning rate near the chosen optimizer's
    well-worn one (``OptimizerSpec.start``: Adam 1e-3, SGD 1e-2), log-normally within the
    space's range, instead of uniformly over it.

    Over a range such as 1e-4..1e-1 a uniform draw gives Adam 1e-1 (diverges) or SGD 1e-4
    (barely moves) as often as a rate that trains, and in a short sweep the start-up trials
    are most of the trials. Every other parameter, and every trial once TPE models the
    results, is drawn as TPE draws it. Optuna's TPE takes no prior that depends on another
    parameter (here the optimizer), so this one is ours.
    """

    def __init__(self, *, seed: int, n_startup_trials: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, **kwargs)
        self._startup = n_startup_trials
        self._prior_rng = np.random.RandomState(seed)

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self._prior_rng.seed()

    def sample_independent(self, study, trial, param_name, param_distribution):
        start = _start_learning_rate(trial) if param_name == "learning_rate" else None
        if (
            start is not None
            and isinstance(param_distribution, optuna.distributions.FloatDistribution)
            and param_distribution.log
            and param_distribution.low <= start <= param_distribution.high
            and len(study.get_trials(deepcopy=False, states=TPE_COUNTS)) < self._startup
        ):
            return self._near(start, param_distribution)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def _near(self, start: float, distribution: optuna.distributions.FloatDistribution) -> float:
        low, high = np.log10(distribution.low), np.log10(distribution.high)
        # Truncated to the range by redrawing, so its edges gather no extra weight. A range
        # so narrow that draws keep missing it is one where the prior is flat anyway.
        for _ in range(100):
            exponent = self._prior_rng.normal(np.log10(start), LR_PRIOR_DECADES)
            if low <= exponent <= high:
                break
        else:
            exponent = self._prior_rng.uniform(low, high)
        # 10 ** log10(x) may round a hair past the range's ends.
        return float(np.clip(10**exponent, distribution.low, distribution.high))


# The trials TPE counts towards its start-up (failed ones are not: unlike record.FINISHED).
TPE_COUNTS = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _start_learning_rate(trial: optuna.trial.FrozenTrial) -> float | None:
    """The registry's starting rate for the optimizer this trial drew, if it has one."""
    optimizer = trial.params.get("optimizer")
    spec = OPTIMIZERS.get(optimizer) if isinstance(optimizer, str) else None
    return None if spec is None else spec.start.get("learning_rate")


def _tpe(seed: int, budget: int | None = None) -> optuna.samplers.BaseSampler:
    # multivariate + group: TPE models parameters jointly (learning rate and batch size
    # interact), within each branch of the conditional space. Optuna still flags both
    # experimental, which says nothing actionable to our users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: parallel workers see each other's running trials as bad ones, so
        # they do not all sample the same promising point.
        return RegistryTPESampler(
            seed=seed,
            n_startup_trials=startup_trials(budget),
            multivariate=True,
            group=True,
            constant_liar=True,
        )


# Each takes the seed and the trial budget (None when not known yet).
SAMPLERS: dict[str, Callable[[int, int | None], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed, budget: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed, budget: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "gp": lambda seed, budget: _gp(seed),
    "qmc": lambda seed, budget: optuna.samplers.QMCSampler(
        seed=seed, warn_independent_sampling=False
    ),
}


class EpochBehindPruner(optuna.pruners.BasePruner):
    """Stops a trial once it is a whole epoch behind the finished trials: its best value so
    far is worse than their median one epoch earlier.

    Optuna's ``MedianPruner`` compares at the same epoch. With one finished trial (the
    starting point) that bar is a single noisy curve, and it stopped trials as good as the
    start on a handful of validation examples: at 3,000 images, 0.857 against 0.858. An
    epoch's progress is a tolerance in the objective's own units, wide while trials still
    learn fast and narrow once they level off; diverged draws are still far behind at once.

    The first epoch has no epoch before it, so there the bar is the finished trials' median
    less their median's next epoch of progress (epoch 1 minus the gain to epoch 2): the same
    tolerance as at epoch 2, one epoch sooner. A draw that has not learned stops after one
    epoch, not two to four: at 240 s (benchmarks/search_efficiency.py, five seeds a task) a
    pruned trial trained 1.5 epochs, not 2.5, and the median time to the upper target fell
    (MNIST 171 s against 214 s; Fashion-MNIST 228 s against never, in one sitting).

    It judges only while at least half of ``max_epochs`` is left to save. A trial that has kept
    up that long is a good one, and stopping it later saves a few epochs at the cost of the
    trials most likely to top the sweep: at 240 s on MNIST (benchmarks/search_efficiency.py)
    it stopped six trials at epochs 7 and 8 of 9 at 0.980 to 0.986, the best at 0.987.
    """

    def __init__(self, max_epochs: int) -> None:
        # Epochs are counted from 1; the pruner's steps from 0.
        self._last_step = max(1, max_epochs // 2 - 1)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step > self._last_step:
            return False
        finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
        bar = _bar(finished, step, sign)
        if bar is None:
            return False
        reached = [sign * v for v in trial.intermediate_values.values() if np.isfinite(v)]
        return not reached or max(reached) < bar


def _median_at(trials: list[optuna.trial.FrozenTrial], step: int, sign: int) -> float | None:
    """The trials' median value at ``step``, in maximising terms; None if none reported it
    (those that stopped before it are left out)."""
    values = [t.intermediate_values.get(step, np.nan) for t in trials]
    values = [sign * v for v in values if np.isfinite(v)]
    return float(np.median(values)) if values else None


def _bar(finished: list[optuna.trial.FrozenTrial], step: int, sign: int) -> float | None:
    """What a trial at ``step`` must have reached (maximising terms): the finished trials'
    median one epoch earlier, or at the first epoch that median less its next epoch's gain."""
    if step > 0:
        return _median_at(finished, step - 1, sign)
    first, second = _median_at(finished, 0, sign), _median_at(finished, 1, sign)
    if first is None or second is None or second <= first:
        return None  # no progress from epoch 1 to 2 to measure a tolerance by
    return first - (second - first)


PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    # From the second trial on, trial 0 (a known-good starting point, sweeper.search.head_start)
    # sets the bar. At 240 s, 12,000 / 3,000 images (benchmarks/search_efficiency.py), the
    # median rule at the same epoch stopped start-up trials on a tie with it that, let run,
    # beat it on Fashion-MNIST.
    "epoch_behind": lambda max_epochs: EpochBehindPruner(max_epochs),
    # The median rule from the second trial, judging from epoch 2. In 45-second searches it
    # stopped diverged draws that Hyperband, with too few trials per bracket to compare, let
    # run to their early stop.
    "median": lambda max_epochs: optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
    "hyperband": lambda max_epochs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=max_epochs, reduction_factor=3
    ),
    "successive_halving": lambda max_epochs: optuna.pruners.SuccessiveHalvingPruner(),
    "none": lambda max_epochs: optuna.pruners.NopPruner(),
}

SamplerLike = str | optuna.samplers.BaseSampler
PrunerLike = str | optuna.pruners.BasePruner


def _factory(registry: dict[str, Callable], kind: str, name: str) -> Callable:
    if name not in registry:
        raise UsageError(f"unknown {kind} {name!r}; choose from {', '.join(registry)}")
    return registry[name]


def make_sampler(
    sampler: SamplerLike, seed: int, budget: int | None = None
) -> optuna.samplers.BaseSampler:
    """A sampler by registry name, seeded and sized to the trial ``budget``; an Optuna
    sampler object is used as it is."""
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    return _factory(SAMPLERS, "sampler", sampler)(seed, budget)


def make_pruner(pruner: PrunerLike, max_epochs: int) -> optuna.pruners.BasePruner:
    """A pruner by registry name, sized to the epoch budget; an Optuna pruner object as it is."""
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    return _factory(PRUNERS, "pruner", pruner)(max_epochs)


def label(choice: SamplerLike | PrunerLike) -> str:
    return choice if isinstance(choice, str) else type(choice).__name__


def check_storage_url(url: str) -> str:
    """Validate a --storage value without connecting; returns the kind ("journal" or "rdb")."""
    if "://" not in url:
        if Path(url).suffix in JOURNAL_SUFFIXES:
            return "journal"
        raise UsageError(
            f"bad storage {url!r}: expected a database URL such as "
            "postgresql://user@host/db or sqlite:///study.db, or a journal file ending in .journal"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()  # parses host, port and database kind; connects nowhere
    except NoSuchModuleError as exc:  # a subclass of ArgumentError: test it first
        raise UsageError(
            f"bad storage URL {url!r}: unknown database kind "
            f"{url.split('://')[0]!r}; use postgresql://, mysql:// or sqlite://"
        ) from exc
    except (ArgumentError, ValueError) as exc:
        raise UsageError(
            f"bad storage URL {url!r} ({exc}); expected e.g. postgresql://user@host/db"
        ) from exc
    return "rdb"


def journal_path(url: str | None, folder: Path) -> Path | None:
    """The journal file a storage setting names (the default one in the space's results
    ``folder`` when there is none), or None for a database."""
    if url is None or check_storage_url(url) == "journal":
        return Path(url) if url else ResultsDir(folder).journal
    return None


# Connections each process keeps open to a database: a worker uses one at a time (its trial
# loop, or the heartbeat beside it), and PostgreSQL allows 100 in all by default.
POOL_SIZE, POOL_OVERFLOW = 2, 2
# Optuna 4.9 renamed RDBStorage's failed_trial_callback; take whichever this one has.
STALE_CALLBACK = (
    "heartbeat_stale_trial_callback"
    if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage).parameters
    else "failed_trial_callback"
)


def with_driver(url: str) -> str:
    """``postgresql://`` names SQLAlchemy's default driver, psycopg2; the ``postgres`` extra
    installs psycopg 3. Use it when psycopg2 is absent, so the plain URL works."""
    scheme = next((s for s in ("postgresql://", "postgres://") if url.startswith(s)), None)
    if scheme is None or importlib.util.find_spec("psycopg2") is not None:
        return url
    if importlib.util.find_spec("psycopg") is None:
        return url  # neither: opening it says which driver to install
    return "postgresql+psycopg://" + url[len(scheme) :]


def shown_storage(url: str | None, folder: Path) -> str:
    """A storage as messages show it: the journal file's path, or the URL without password."""
    path = journal_path(url, folder)
    if path is not None:
        return str(path)
    from sqlalchemy.engine import make_url

    assert url is not None
    return make_url(url).render_as_string(hide_password=True)


def open_storage(url: str | None, folder: Path, heartbeat: int | None = None) -> BaseStorage:
    """The study storage: the default journal file in the space's results ``folder``, a
    journal path, or a database URL. On a database, a RUNNING trial records a heartbeat every
    ``heartbeat`` seconds; one silent for two of them is failed (by any process of the sweep,
    as it asks for its next trial) and retried once (``recovery.retry_lost``)."""
    path = journal_path(url, folder)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:  # a read-only file system, a folder not ours
            raise not_writable(path.parent, exc) from exc
    assert url is not None
    from sweeper.storage.recovery import retry_lost

    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not url.startswith("sqlite"):
        engine_kwargs |= {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    with _database_errors(url), warnings.catch_warnings():
        # Optuna flags heartbeats experimental since 2.9; nothing for our users to act on.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            with_driver(url),
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            **{STALE_CALLBACK: retry_lost if heartbeat else None},  # type: ignore[arg-type]
        )


def probe_storage(url: str | None) -> None:
    """Connect to a database storage and leave at once, writing nothing: an unreachable
    server fails the run in a second, before workers start. (Journal files and SQLite are
    local: opening them is the check.)"""
    if url is None or check_storage_url(url) == "journal" or url.startswith("sqlite"):
        return
    with _database_errors(url):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(with_driver(url), poolclass=NullPool)
        try:
            engine.connect().close()
        finally:
            engine.dispose()


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be opened, as one line naming it (without its password)."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    try:
        yield
    except ImportError as exc:  # Optuna re-raises the driver's ModuleNotFoundError like this
        raise SweeperError(
            f"storage {shown} needs a database driver that is not installed; "
            "pip install 'sweeper[postgres]' for PostgreSQL, or the driver the URL names"
        ) from exc
    except Exception as exc:  # connection refused, bad credentials, unknown dialect...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = "check the URL and server"
        if "too many clients" in reason or "remaining connection slots" in reason:
            fix = (
                "the server's max_connections is reached; stop some workers, raise it, or put "
                "PgBouncer in front (README: Many machines)"
            )
        raise SweeperError(f"cannot open storage {shown}: {reason}; {fix}") from exc


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


def count_finished(study: optuna.Study) -> int:
    """Trials that count against the budget (``record.counted``)."""
    return counted(study.get_trials(deepcopy=False))


class FailureStreak:
    """Counts trials failed in a row; that many failures mean every configuration fails the
    same way. Trials lost to a dead or stopped worker say nothing about the space: skipped."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    def add(self, trial: optuna.trial.FrozenTrial) -> SweeperError | None:
        """The error to stop the sweep with, once the streak reaches the limit."""
        if is_lost(trial):
            return None
        self.count = self.count + 1 if trial.state == optuna.trial.TrialState.FAIL else 0
        if self.count < self.limit:
            return None
        return SweeperError(
            f"{self.count} trials failed in a row (last: {trial.user_attrs.get(FAIL_REASON)}"
            "); fix the space and re-run to resume"
        )


def load_existing_study(
    name: str, storage: str | None, results_dir: Path, ref: str | None = None
) -> optuna.Study:
    """The study a sweep left, for reading (report, retrain): a missing one is an error and
    is never created, so a typo in a name or path leaves no empty study behind. ``ref`` is
    the space as the user named it (a path keeps its .py), for the hint."""

    def missing(where: str) -> SweeperError:
        return SweeperError(
            f"no study {name!r} in {where}; run `python -m sweeper run {ref or name}` first, "
            "or pass the --storage / --results-dir it ran with"
        )

    path = journal_path(storage, results_dir)
    if path is not None:
        if not path.is_file():
            raise missing(str(path))
        shown = str(path)
    else:
        from sqlalchemy.engine import make_url

        assert storage is not None
        url = make_url(storage)
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            raise missing(shown)  # SQLAlchemy would create an empty database file
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage, results_dir))
    except KeyError:  # Optuna's "study not found"
        raise missing(shown) from None
