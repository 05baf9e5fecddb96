"""sweeper: hyperparameter sweeps for Keras models, on Optuna.

Declare a space (``Space``, ``Training``, ``Categorical``, ``Float``, ``Int``), then
``run_sweep(load_space("mnist_space"))`` or ``python -m sweeper run mnist_space``.
Importing this package does not import Keras; ``KerasObjective`` loads it on first use.
"""

from sweeper.data import Dataset, load_mnist_arrays, split_validation
from sweeper.errors import (DataError, FatalTrialError, SpaceError, SweeperError, TrialFailed,
                            UsageError)
from sweeper.loader import available_spaces, load_space
from sweeper.params import Categorical, Float, Int, Param
from sweeper.report import leaderboard, write_leaderboard
from sweeper.space import Space, Training
from sweeper.sweep import SweepResult, run_sweep

__all__ = [
    "Categorical", "DataError", "Dataset", "FatalTrialError", "Float", "Int", "KerasObjective",
    "Param", "Space", "SpaceError", "SweepResult", "SweeperError", "Training", "TrialFailed",
    "UsageError", "available_spaces", "leaderboard", "load_mnist_arrays", "load_space",
    "run_sweep", "split_validation", "write_leaderboard",
]


def __getattr__(name: str):
    if name == "KerasObjective":  # imports Keras, so only when asked for
        from sweeper.objective import KerasObjective

        return KerasObjective
    raise AttributeError(f"module 'sweeper' has no attribute {name!r}")
