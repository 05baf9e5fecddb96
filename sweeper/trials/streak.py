"""The failure streak: that many trials failed in a row stop the sweep."""

from __future__ import annotations

import optuna

from sweeper.errors import SweeperError
from sweeper.storage.record import TrialRecord


class FailureStreak:
    """Counts trials failed in a row; that many failures mean the space cannot train at all
    (a model that never builds, a model that does not fit its data). Two kinds of trial say
    nothing of that, and neither count nor reset the streak: trials lost to a dead or stopped
    worker, and trials whose training diverged (pruned; older studies failed them): a NaN
    loss is an answer about that configuration, a range that reaches rates too high for the
    model, not a broken space."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    def add(self, trial: optuna.trial.FrozenTrial) -> SweeperError | None:
        """The error to stop the sweep with, once the streak reaches the limit."""
        record = TrialRecord.of(trial)
        if record.is_lost or record.diverged:
            return None
        self.count = self.count + 1 if trial.state == optuna.trial.TrialState.FAIL else 0
        if self.count < self.limit:
            return None
        return SweeperError(
            f"{self.count} trials failed in a row (last: {record.fail_reason}); fix the space "
            "and re-run to resume"
        )
