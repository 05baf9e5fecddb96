"""The Dask backend: a sweep's workers on an existing Dask cluster (``--dask ADDRESS``).

The run process reaches the scheduler before anything is written, opens the study on the
shared database, then submits one task per Dask worker slot (``dask_slot``): per unit of a
``GPU`` resource where workers advertise one, else per worker thread (more as workers join).

Dask reschedules a lost worker's task by itself; the trial that worker was training is failed
once its heartbeat stops and retried once (``loop.admit``), and the budget holds exactly under
the study's lock, as across machines. The run process draws the live view from the study,
read every second (``StudyWatcher``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
from optuna.trial import FrozenTrial

from sweeper.backends.base import Backend, SweepRun
from sweeper.backends.dask_slot import GPU, POLL_S, STOP_GRACE_S, SlotJob, SlotResult, serve_slot
from sweeper.backends.study_watcher import StudyWatcher
from sweeper.backends.worker import pickle_space
from sweeper.config import SweepConfig
from sweeper.errors import SettingError, SweeperError
from sweeper.space.space import Space
from sweeper.storage.record import counted
from sweeper.trials.stop import StopFlag
from sweeper.urls import check_storage_url

log = logging.getLogger("sweeper")

CONNECT_TIMEOUT_S = 5.0  # to reach the scheduler, and for it to have a worker


class DaskCluster(Backend):
    """A connection to a Dask cluster, and the sweep's tasks on it."""

    def __init__(self, config: SweepConfig) -> None:
        super().__init__(config)
        assert config.dask is not None
        self.address = config.dask
        self.client = connect(self.address)
        self.tasks: list[Any] = []  # distributed.Future, one per slot submitted
        self._checked: set[int] = set()  # tasks whose result was read
        self._workers: set[str] = set()
        self._resources: dict[str, int] | None = None
        self._prefix = ""

    @classmethod
    def check(cls, config: SweepConfig) -> None:
        """A Dask cluster's workers share the study through a database they all reach, one
        worker per Dask worker slot; checked before anything connects."""
        if not isinstance(config.dask, str) or not config.dask.strip():
            raise SettingError(
                "dask", f"must be a scheduler address or scheduler file, not {config.dask!r}"
            )
        if importlib.util.find_spec("distributed") is None:
            raise SettingError(
                "dask", "needs dask.distributed, not installed here; pip install 'sweeper[dask]'"
            )
        scheduler_target(config.dask)  # an address, or a scheduler file that exists
        local = config.storage is None or check_storage_url(config.storage) == "journal"
        if local or str(config.storage).startswith("sqlite"):
            raise SettingError(
                "dask",
                "needs a database storage that every Dask worker reaches, such as "
                "postgresql://user@host/db (a journal file or SQLite lives on one machine)",
            )
        placement = config.placement
        if placement.workers != 1 or placement.gpus is not None or placement.trials_per_gpu:
            raise SettingError(
                "dask",
                "places one worker per Dask worker slot (a unit of its GPU resource, else a "
                "thread), so it takes the default {workers} (1, in processes) and no {gpus} or "
                "{trials_per_gpu}",
            )

    def describe(self) -> str:
        return f"workers on the Dask cluster at {self.address}"

    def __exit__(self, *exc_info: object) -> None:
        with _distributed_quiet(), contextlib.suppress(Exception):
            self.client.close(timeout=CONNECT_TIMEOUT_S)

    def run(self, run: SweepRun) -> list[FrozenTrial]:
        """Open the study, sweep it on the cluster until the budget is met; the trials
        finished meanwhile (lost ones aside). Raises KeyboardInterrupt after a signal."""
        from distributed import Event

        space, config, observer = run.space, run.config, run.observer
        payload = space_bytes(space)  # one that cannot travel fails before the study opens
        study = run.open_study()
        observer.sweep_started(study.get_trials(deepcopy=False), config.budget)
        watcher = StudyWatcher(study, observer, space.objective)
        deadline = None if config.timeout is None else time.time() + config.timeout
        job = SlotJob(payload, space.name, config, run.make_objective, deadline)
        self._prefix = f"sweeper-{space.name}-{uuid.uuid4().hex[:8]}"
        done = Event(f"{self._prefix}-done", self.client)
        stop = Event(f"{self._prefix}-stop", self.client)
        self._resources = {GPU: 1} if self._capacity(gpu=True) else None
        log.info(
            "Dask cluster at %s: %d worker slot(s), one per %s",
            self.address,
            self._capacity(gpu=self._resources is not None),
            "GPU" if self._resources else "worker thread",
        )
        try:
            with StopFlag(escalate=True) as flag:
                self._supervise(job, watcher, done, flag)
        except BaseException:
            self._stop(stop)
            raise
        finally:
            with _distributed_quiet(), contextlib.suppress(Exception):
                self.client.cancel(self.tasks)
                done.clear()
                stop.clear()
        watcher.poll()  # what changed since the last look
        return watcher.finished

    def _supervise(self, job: SlotJob, watcher: StudyWatcher, done, flag: StopFlag) -> None:
        """Until every task ended with the budget met (or the time up), topping up slots."""
        met = False
        while True:
            trials = watcher.poll()
            if not met and counted(trials) >= job.config.budget:
                met = True
                with contextlib.suppress(Exception):  # else a late task finds no room itself
                    done.set()  # tasks not started yet need not start
            self._check_tasks()
            if flag.requested:
                raise KeyboardInterrupt
            timed_out = job.deadline is not None and time.time() >= job.deadline
            if all(task.done() for task in self.tasks) and (met or timed_out):
                return
            if not (met or timed_out):
                self._top_up(job)
            time.sleep(POLL_S)

    def _capacity(self, gpu: bool) -> int:
        """Slots the cluster has now: units of GPU resources, or worker threads."""
        try:
            workers = self.client.scheduler_info()["workers"]
        except Exception as exc:  # the scheduler went away
            raise SweeperError(
                f"lost the Dask scheduler at {self.address} ({_first_line(exc)}); run the same "
                "command again to resume"
            ) from exc
        self._note_workers(set(workers))
        if gpu:
            return sum(int(w.get("resources", {}).get(GPU, 0)) for w in workers.values())
        return sum(int(w.get("nthreads", 1)) for w in workers.values())

    def _note_workers(self, now: set[str]) -> None:
        for gone in sorted(self._workers - now):
            log.warning(
                "Dask worker %s left; Dask reschedules its task, and the trial it was "
                "training is retried once its heartbeat stops",
                gone,
            )
        for joined in sorted(now - self._workers):
            log.info("Dask worker %s joined", joined)
        self._workers = now

    def _top_up(self, job: SlotJob) -> None:
        """A task for every slot without one: at the start, and as workers join. (A lost
        worker's task is still pending: Dask runs it elsewhere.)"""
        pending = sum(not task.done() for task in self.tasks)
        for _ in range(self._capacity(gpu=self._resources is not None) - pending):
            index = len(self.tasks)
            self.tasks.append(
                self.client.submit(
                    serve_slot,
                    job,
                    index,
                    self._prefix,
                    key=f"{self._prefix}-slot-{index}",
                    resources=self._resources,
                )
            )

    def _check_tasks(self) -> None:
        """A task that failed fails the sweep, with its one line."""
        for index, task in enumerate(self.tasks):
            if index in self._checked or not task.done():
                continue
            self._checked.add(index)
            if task.status == "error":
                raise SweeperError(
                    f"a sweep task failed on the Dask cluster at {self.address} "
                    f"({type(task.exception()).__name__}: {_first_line(task.exception())}); "
                    "see the Dask workers' logs"
                )
            if task.status != "finished":
                continue  # cancelled
            result: SlotResult = task.result()
            if result.error is not None:
                error = SweeperError(f"on Dask worker {result.worker}: {result.error}")
                error.exit_code = result.exit_code
                raise error
            log.info(
                "Dask worker %s ran %d trial(s)%s",
                result.worker,
                result.trials_run,
                ", then was interrupted" if result.interrupted else "",
            )

    def _stop(self, stop) -> None:
        """Stop every slot: their processes end the trials they run as interrupted (retried
        when the sweep resumes)."""
        from distributed import wait

        log.info("stopping the sweep's tasks on the Dask cluster")
        with _distributed_quiet(), contextlib.suppress(Exception):
            stop.set()
            wait([t for t in self.tasks if not t.done()], timeout=STOP_GRACE_S)


def connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address`` (or in that scheduler file),
    with a worker; otherwise one line saying which and why, having written nothing."""
    from distributed import Client

    where, timeout = scheduler_target(address), CONNECT_TIMEOUT_S
    with _distributed_quiet():
        try:
            client = Client(**where, timeout=timeout, set_as_default=False)
        except Exception as exc:  # refused, timed out, a bad address
            raise SweeperError(
                f"cannot reach the Dask scheduler at {address} ({_first_line(exc)}); check "
                "{dask} and that the scheduler runs"
            ) from exc
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception as exc:
            client.close()
            join = f"--scheduler-file {address}" if "scheduler_file" in where else address
            raise SweeperError(
                f"the Dask cluster at {address} has no workers; start some "
                f"(dask worker {join}) and run again"
            ) from exc
    return client


def scheduler_target(address: str) -> dict[str, str]:
    """The Client's keyword for ``address``: a scheduler file (which must exist: Dask would
    wait for it forever), or an address such as tcp://host:8786 or host:8786."""
    if Path(address).is_file():
        return {"scheduler_file": address}
    if "://" in address or re.fullmatch(r"[\w.\-\[\]:]+:\d+", address):
        return {"address": address}
    raise SettingError(
        "dask",
        f"is neither a scheduler address (tcp://host:8786) nor a scheduler file (no file "
        f"{address} here)",
    )


@contextlib.contextmanager
def _distributed_quiet() -> Iterator[None]:
    """distributed logs its connection attempts and closing comms as it goes; the run says
    what matters in one line. (Its client's logger has a level and a handler of its own.)"""
    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def space_bytes(space: Space) -> bytes:
    """The space as the Dask workers receive it. A space loaded from a .py file goes with its
    module by value, so workers on other machines need not have the file."""
    module = None
    if Path(space.source).suffix == ".py":  # loader.load_space's module name for the file
        module = sys.modules.get(f"sweeper_user_space_{Path(space.source).stem}")
    if module is None:
        return pickle_space(space)
    cloudpickle.register_pickle_by_value(module)
    try:
        return pickle_space(space)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
