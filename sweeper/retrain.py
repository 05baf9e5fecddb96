"""Deprecated: where ``retrain`` was before sweeper's stages became packages, kept so that
scripts written against the earlier README still run. Use ``sweeper.retrain_winner``, which
also rewrites the leaderboard to show the winner's test. Imports Keras, as it did."""

import warnings

from sweeper.training.retrain import Winner, retrain

warnings.warn(
    "sweeper.retrain is deprecated; use sweeper.retrain_winner",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Winner", "retrain"]
