"""sweeper: hyperparameter sweeps for Keras models, on Optuna.

Declare a space (``Space``, ``Training``, ``Categorical``, ``Float``, ``Int``), then
``sweeper.run("mnist_space")``: what ``python -m sweeper run mnist_space`` does (sweep,
leaderboard, re-trained winner). ``run_sweep`` is the sweep stage alone; ``load`` reopens a
sweep, finished or running, from its results folder or storage.
Importing this package does not import Keras; ``KerasObjective`` loads it on first use.
"""

import warnings

with warnings.catch_warnings():
    # Optuna imports tqdm.auto, which warns in a Jupyter kernel without ipywidgets; sweeper
    # draws its own progress there, so the warning would only confuse.
    warnings.filterwarnings("ignore", message="IProgress not found")
    import tqdm.auto  # noqa: F401

from sweeper.config import Placement, SweepConfig
from sweeper.errors import (
    DataError,
    FatalTrialError,
    SettingError,
    SpaceError,
    SweeperError,
    TrialFailed,
    UsageError,
)
from sweeper.pipeline import RunResult, retrain_winner, run
from sweeper.report.leaderboard import leaderboard, write_leaderboard
from sweeper.report.view import SweepView, load
from sweeper.results import ResultsDir
from sweeper.search.engine import Engine
from sweeper.space.data import (
    Dataset,
    load_fashion_mnist_arrays,
    load_mnist_arrays,
    read_idx,
    split_validation,
)
from sweeper.space.loader import available_spaces, load_space
from sweeper.space.params import Categorical, Float, Int, Param
from sweeper.space.space import Space, Training
from sweeper.storage.record import TrialRecord
from sweeper.sweep import SweepResult, run_sweep
from sweeper.trials.observer import SweepObserver

__all__ = [
    "Categorical",
    "DataError",
    "Dataset",
    "Engine",
    "FatalTrialError",
    "Float",
    "Int",
    "KerasObjective",
    "Param",
    "Placement",
    "ResultsDir",
    "RunResult",
    "SettingError",
    "Space",
    "SpaceError",
    "SweepConfig",
    "SweepObserver",
    "SweepResult",
    "SweepView",
    "SweeperError",
    "Training",
    "TrialFailed",
    "TrialRecord",
    "UsageError",
    "available_spaces",
    "leaderboard",
    "load",
    "load_fashion_mnist_arrays",
    "load_mnist_arrays",
    "load_space",
    "read_idx",
    "retrain_winner",
    "run",
    "run_sweep",
    "split_validation",
    "write_leaderboard",
]


def __getattr__(name: str):
    if name == "KerasObjective":  # imports Keras, so only when asked for
        from sweeper.training.objective import KerasObjective

        return KerasObjective
    raise AttributeError(f"module 'sweeper' has no attribute {name!r}")
