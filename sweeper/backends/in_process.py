"""The in-process backend: trials in the calling process (``workers=None``), e.g. to step
through one in a debugger. No dead-worker recovery, and memory grows a few MiB a trial."""

from __future__ import annotations

import time

from optuna.trial import FrozenTrial

from sweeper.backends.base import Backend, SweepRun, build_objective
from sweeper.space.data import load_dataset
from sweeper.storage.recovery import owner_record
from sweeper.trials.loop import BudgetGate, run_trials
from sweeper.trials.stop import StopFlag
from sweeper.trials.streak import FailureStreak


class InProcess(Backend):
    """The data and the objective first (Keras loads, the model is checked against the
    data), then the study opens and the trial loop runs: bad data or a model that cannot
    take it stops the sweep before the study is touched."""

    def describe(self) -> str:
        return "in one process"

    def run(self, run: SweepRun) -> list[FrozenTrial]:
        space, config, observer = run.space, run.config, run.observer
        data = load_dataset(space, config.data_dir)
        flag = StopFlag(escalate=True)
        objective = build_objective(run.make_objective, space, data, config, observer, flag)
        study = run.open_study()
        with flag:
            observer.sweep_started(study.get_trials(deepcopy=False), config.budget)
            if config.timeout is not None:  # the clock starts with the first trial
                flag.deadline = time.time() + config.timeout
            return run_trials(
                study,
                objective,
                BudgetGate(study, config.budget, flag, observer),
                flag=flag,
                observer=observer,
                owner=owner_record(0, "this process"),
                streak=FailureStreak(config.max_consecutive_failures),
                budget=config.budget,
                engine=config.search_engine().label,
            )
