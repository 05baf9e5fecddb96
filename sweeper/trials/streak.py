"""The failure streak: that many trials failed in a row stop the sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from sweeper.errors import SweeperError
from sweeper.storage.record import FAIL_REASON, is_lost

if TYPE_CHECKING:
    pass


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
