"""The worker-processes backend (the default): supervised worker processes on this machine,
one per slot of the GPU and CPU plan (``devices``), sharing the study. A dead worker is
replaced and its trial retried; a worker restarts to give back memory (``worker``)."""

from __future__ import annotations

from optuna.trial import FrozenTrial

from sweeper.backends.base import Backend, SweepRun
from sweeper.backends.devices import plan_slots
from sweeper.backends.supervisor import Supervisor
from sweeper.backends.worker import WorkerSpec, pickle_space


class WorkerProcesses(Backend):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.slots = plan_slots(config.placement)  # a plan that does not fit: before any I/O

    def describe(self) -> str:
        return f"workers on {', '.join(slot.label for slot in self.slots)}"

    def run(self, run: SweepRun) -> list[FrozenTrial]:
        spec = WorkerSpec(
            space=pickle_space(run.space),
            space_source=run.space.source,
            config=run.config,
            slot=self.slots[0],
            make_objective=run.make_objective,
        )
        results = run.config.results(run.space.name)
        supervisor = Supervisor(
            spec, self.slots, results, run.open_study, run.observer, run.first_worker
        )
        return supervisor.run()
