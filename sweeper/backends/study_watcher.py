"""The live view of trials that other machines run: the study, read at each poll."""

from __future__ import annotations

import itertools

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.storage.record import FINISHED, OWNER, is_lost
from sweeper.trials.observer import SweepObserver, log_trial


class StudyWatcher:
    """The live view of trials that other machines run: the study, read at each ``poll``, as
    the observer's events. A row of the view per worker process training now."""

    def __init__(self, study: optuna.Study, observer: SweepObserver, objective: str) -> None:
        self.study, self.observer, self.objective = study, observer, objective
        trials = study.get_trials(deepcopy=False)
        self._done = {t.number for t in trials if t.state in FINISHED}  # sweep_started's
        self._epochs: dict[int, int] = {}  # trial shown running -> epochs shown
        self._rows: dict[tuple[str, int], int] = {}  # owner (host, pid) -> its row
        self._running: dict[int, int] = {}  # trial -> its row
        self.finished: list[FrozenTrial] = []  # since the watch began, lost ones aside

    def poll(self) -> list[FrozenTrial]:
        """Read the study, tell the observer what changed; the trials read."""
        trials = self.study.get_trials(deepcopy=False)
        for trial in trials:
            owner = trial.user_attrs.get(OWNER)
            if trial.number in self._done or trial.state == TrialState.WAITING or not owner:
                continue  # an owner-less trial was asked for just now: it has one next time
            row = self._row(trial.number, owner)
            if trial.number not in self._epochs:
                self._epochs[trial.number] = 0
                self.observer.trial_started(trial.number, worker=row)
            self._report_epochs(trial, row)
            if trial.state in FINISHED:
                self._done.add(trial.number)
                del self._epochs[trial.number], self._running[trial.number]
                log_trial(trial)
                self.observer.trial_finished(trial, worker=row)
                if not is_lost(trial):
                    self.finished.append(trial)
        return trials

    def _row(self, number: int, owner: dict) -> int:
        """The owner's row; a new owner takes the first row with no trial running."""
        if number in self._running:
            return self._running[number]
        key = (str(owner.get("host")), int(owner.get("pid") or 0))
        if key not in self._rows or self._rows[key] in self._running.values():
            busy = set(self._running.values())
            self._rows[key] = next(i for i in itertools.count() if i not in busy)
            device = f"{owner.get('host')} {owner.get('device') or ''}".strip()
            self.observer.worker_changed(self._rows[key], device, "idle")
        self._running[number] = self._rows[key]
        return self._rows[key]

    def _report_epochs(self, trial: FrozenTrial, row: int) -> None:
        """Each epoch reported since the last look (the objective, as the pruner saw it)."""
        steps = sorted(trial.intermediate_values)
        for step in steps[self._epochs[trial.number] :]:
            logs = {self.objective: trial.intermediate_values[step]}
            self.observer.epoch_ended(trial.number, step + 1, logs, worker=row)
        self._epochs[trial.number] = len(steps)
