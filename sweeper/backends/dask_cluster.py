"""The Dask engine: a sweep's workers on an existing Dask cluster (``--dask ADDRESS``).

The run process reaches the scheduler before anything is written, opens the study on the
shared database, then submits one task per Dask worker slot: per unit of a ``GPU`` resource
where workers advertise one, else per worker thread (more as workers join). Each task starts
a sweeper process on its Dask worker (``python -m sweeper.backends.dask_cluster``) that sweeps as
``sweeper worker`` does: one supervised worker process trains, so memory stays flat and a
crash in native code takes only that process, which the supervisor replaces. A process, not
a call in the task's thread: the supervisor sets signal handlers, which only a main thread
may.

Dask reschedules a lost worker's task by itself; the trial that worker was training is failed
once its heartbeat stops and retried once (``loop.admit``), and the budget holds exactly under
the study's lock, as across machines. The run process draws the live view from the study,
read every second (``StudyWatcher``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.backends.devices import WorkerSlot, detect_gpus, plan_workers
from sweeper.backends.worker import pickle_space
from sweeper.config import SweepConfig
from sweeper.errors import SettingError, SweeperError
from sweeper.report.live import SweepObserver, log_trial
from sweeper.results import ResultsDir
from sweeper.space.space import Space
from sweeper.storage.record import FINISHED, OWNER, counted, is_lost
from sweeper.trials.loop import MakeObjective, StopFlag

log = logging.getLogger("sweeper")

CONNECT_TIMEOUT_S = 5.0  # to reach the scheduler, and for it to have a worker
POLL_S = 1.0  # the run reads the study and the cluster this often
STOP_GRACE_S = 15.0  # a stopped slot's process ends its trial as interrupted within this
GPU = "GPU"  # the Dask worker resource that marks a GPU: dask worker --resources GPU=1
# Worker ids per slot: slot i numbers its worker processes from i * this, so their samplers,
# seeded from the worker id (study.derive_seed), draw apart though they open at once.
IDS_PER_SLOT = 1000


@dataclass(frozen=True)
class SlotJob:
    """What a Dask task needs to sweep on its worker (cloudpickled by Dask)."""

    space: bytes  # pickle_space's, with a .py file's module by value: workers may not have it
    space_name: str
    config: SweepConfig  # the run's, resolved; each slot's placement is set where it runs
    make_objective: MakeObjective | None
    deadline: float | None  # time.time() at which the sweep's time is up


@dataclass(frozen=True)
class SlotResult:
    """What a slot's sweeper process did: trials run, or the one line it stopped with."""

    worker: str
    trials_run: int = 0
    error: str | None = None
    exit_code: int = 1
    interrupted: bool = False


# --- the run process -------------------------------------------------------------------------


class DaskEngine:
    """A connection to a Dask cluster, and the sweep's tasks on it."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.client = connect(address)
        self.tasks: list[Any] = []  # distributed.Future, one per slot submitted
        self._checked: set[int] = set()  # tasks whose result was read
        self._workers: set[str] = set()
        self._resources: dict[str, int] | None = None
        self._prefix = ""

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _distributed_quiet(), contextlib.suppress(Exception):
            self.client.close(timeout=CONNECT_TIMEOUT_S)

    def run(
        self,
        space: Space,
        config: SweepConfig,
        open_study: Callable[[], optuna.Study],
        observer: SweepObserver,
        make_objective: MakeObjective | None = None,
    ) -> list[FrozenTrial]:
        """Open the study, sweep it on the cluster until the budget is met; the trials
        finished meanwhile (lost ones aside). Raises KeyboardInterrupt after a signal."""
        from distributed import Event

        payload = space_bytes(space)  # one that cannot travel fails before the study opens
        study = open_study()
        observer.sweep_started(study.get_trials(deepcopy=False), config.budget)
        watcher = StudyWatcher(study, observer, space.objective)
        deadline = None if config.timeout is None else time.time() + config.timeout
        job = SlotJob(payload, space.name, config, make_objective, deadline)
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
                "--dask and that the scheduler runs"
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


# --- a Dask worker ---------------------------------------------------------------------------

_claimed: set[int] = set()  # this Dask worker's slots in use, by its tasks (threads)
_claim_lock = threading.Lock()


@contextlib.contextmanager
def _claimed_slot() -> Iterator[int]:
    """The first of this Dask worker's slots that no other task of it holds."""
    with _claim_lock:
        index = next(i for i in itertools.count() if i not in _claimed)
        _claimed.add(index)
    try:
        yield index
    finally:
        with _claim_lock:
            _claimed.discard(index)


def serve_slot(job: SlotJob, index: int, prefix: str) -> SlotResult:
    """A Dask task: sweep in a sweeper process on this worker until the budget is met."""
    from distributed import Event, get_worker

    worker = get_worker()
    name = re.sub(r"[^\w.-]+", "-", worker.address.split("://")[-1]).strip("-")
    stop, done = Event(f"{prefix}-stop"), Event(f"{prefix}-done")
    if stop.is_set() or done.is_set():  # started late: a lost worker's task, rescheduled
        return SlotResult(name)
    with _claimed_slot() as local:
        slot = _local_slot(worker, local)
        results_dir = Path(job.config.results_dir) / job.space_name / "dask" / name
        return _sweep_in_process(job, (slot, str(results_dir), index * IDS_PER_SLOT), name, stop)


def _local_slot(worker, local: int) -> WorkerSlot:
    """This worker's ``local``-th slot: its GPU and cores, shared out as on one box."""
    units = int(worker.state.total_resources.get(GPU, 0))
    gpus = detect_gpus() if units else []
    count = units or worker.state.nthreads
    per_gpu = -(-count // len(gpus)) if gpus else None
    return plan_workers(count, gpus=gpus, trials_per_gpu=per_gpu)[local % count]


def _sweep_in_process(job: SlotJob, place: tuple, name: str, stop) -> SlotResult:
    """``python -m sweeper.backends.dask_cluster`` with the job; its output goes to dask.log in the
    slot's results folder. The stop event interrupts it."""
    slot, results_dir, first_worker = place
    folder = ResultsDir.of(results_dir, job.space_name).path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sweeper-dask-") as tmp:
        job_file, result_file = Path(tmp, "job.pkl"), Path(tmp, "result.json")
        job_file.write_bytes(cloudpickle.dumps((job, slot, results_dir, first_worker)))
        argv = [
            sys.executable,
            "-m",
            "sweeper.backends.dask_cluster",
            str(job_file),
            str(result_file),
        ]
        with open(folder / "dask.log", "ab") as out:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        code = _wait(process, stop)
        if result_file.is_file():
            return SlotResult(name, **json.loads(result_file.read_text()))
    said = _last_line(folder / "dask.log")
    return SlotResult(
        name,
        error=f"its sweeper process exited with code {code}{f': {said}' if said else ''}; "
        f"see {folder / 'dask.log'}",
    )


def _wait(process: subprocess.Popen, stop) -> int:
    """Until the process ends; once the stop event is set, interrupt it, then kill it."""
    while process.poll() is None:
        try:
            stopping = stop.wait(timeout=POLL_S)
        except Exception:  # the scheduler is gone: the process ends with the budget anyway
            stopping = False
            time.sleep(POLL_S)
        if stopping:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
    return process.wait()


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


# --- a slot's sweeper process ------------------------------------------------------------------


def slot_config(config: SweepConfig, slot: WorkerSlot, results_dir: str, timeout) -> SweepConfig:
    """The run's configuration as a slot sweeps: one worker on the slot's GPU (or none), its
    own results folder, the time left, and no head start (the run's study has it)."""
    placement = dataclasses.replace(
        config.placement, workers=1, gpus=() if slot.gpu is None else (slot.gpu,)
    )
    return dataclasses.replace(
        config,
        dask=None,
        timeout=timeout,
        results_dir=results_dir,
        enqueue=(),
        starting_points=False,
        warm_start=None,
        placement=placement,
    )


def _sweep_slot(job: SlotJob, slot: WorkerSlot, results_dir: str, first_worker: int) -> int:
    from sweeper.sweep import run_sweep

    timeout = None
    if job.deadline is not None:
        timeout = job.deadline - time.time()
        if timeout <= 0:
            return 0
    space: Space = pickle.loads(job.space)
    if space.source and Path(space.source).suffix == ".py" and not Path(space.source).is_file():
        space = dataclasses.replace(space, source="")  # it came by value: nothing to import
    swept = run_sweep(
        space,
        slot_config(job.config, slot, results_dir, timeout),
        progress=False,
        leaderboard=False,
        make_objective=job.make_objective,
        first_worker=first_worker,
    )
    return swept.trials_run


def _stop_with_parent() -> None:
    """Interrupt this process once its Dask worker is gone (the trial ends as interrupted),
    so a worker the nanny restarts does not leave a second sweeper process training."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(job_file: str, result_file: str) -> None:
    """The slot's sweeper process: the job in, ``SlotResult``'s fields out as JSON."""
    job, slot, results_dir, first_worker = pickle.loads(Path(job_file).read_bytes())
    _stop_with_parent()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, slot.cpus)  # the worker process it starts inherits them
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result: dict[str, Any]
    try:
        result = {"trials_run": _sweep_slot(job, slot, results_dir, first_worker)}
    except SweeperError as exc:
        result = {"error": str(exc), "exit_code": exc.exit_code}
    except KeyboardInterrupt:
        result = {"interrupted": True}
    Path(result_file).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
