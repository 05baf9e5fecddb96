"""What the trial loop tells whoever watches a sweep (``SweepObserver``: nothing, by default),
and the line each finished trial leaves in sweep.log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from optuna.trial import FrozenTrial

from sweeper.storage.record import TrialRecord


class SweepObserver:
    """Hooks the sweep loop calls; override what you need. ``worker`` is the worker's slot
    (0 for a sweep in this process)."""

    def sweep_started(self, trials: list[FrozenTrial], budget: int) -> None: ...

    def worker_changed(self, worker: int, device: str, status: str) -> None: ...

    def trial_started(self, number: int, worker: int = 0) -> None: ...

    def epoch_ended(
        self, number: int, epoch: int, logs: Mapping[str, float], worker: int = 0
    ) -> None: ...

    def trial_finished(self, trial: FrozenTrial, worker: int = 0) -> None: ...

    def trial_lost(self, trial: FrozenTrial) -> None:
        """A trial some other process was running, failed here because that process stopped
        beating (its machine or process gone); it is retried."""

    def storage_notice(self, message: str | None, worker: int = 0) -> None:
        """The storage cannot be reached and is being retried (``message``), or is back
        (None)."""

    def sweep_finished(self) -> None: ...

    def winner_started(self, trial: int) -> None: ...

    def winner_finished(self) -> None: ...


def log_trial(trial: FrozenTrial) -> None:
    """One line per finished trial in sweep.log."""
    reason = TrialRecord.of(trial).why_ended
    logging.getLogger("sweeper").info(
        "trial %d %s value=%s params=%s%s",
        trial.number,
        trial.state.name.lower(),
        trial.values[0] if trial.values and len(trial.values) == 1 else trial.values,
        trial.params,
        f" reason={reason}" if reason else "",
    )
