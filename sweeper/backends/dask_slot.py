"""A sweep's slot on a Dask worker: the Dask task (``serve_slot``) and the sweeper process it
starts (``python -m sweeper.backends.dask_slot``), which sweeps as ``sweeper worker`` does:
one supervised worker process trains, so memory stays flat and a crash in native code takes
only that process, which the supervisor replaces. A process, not a call in the task's
thread: the supervisor sets signal handlers, which only a main thread may.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import optuna

from sweeper.backends.base import SweepRun
from sweeper.backends.devices import WorkerSlot, detect_gpus, plan_workers
from sweeper.backends.processes import WorkerProcesses
from sweeper.config import SweepConfig
from sweeper.errors import SweeperError
from sweeper.results import ResultsDir
from sweeper.search.study import StudyOpener
from sweeper.space.space import Space
from sweeper.storage.storages import probe_storage
from sweeper.trials.loop import MakeObjective
from sweeper.trials.observer import SweepObserver

log = logging.getLogger("sweeper")

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
    """``python -m sweeper.backends.dask_slot`` with the job; its output goes to dask.log in the
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
            "sweeper.backends.dask_slot",
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
    """The slot's sweep: the worker-processes backend, one worker on the slot, on the study
    the run opened (resumed here, with this slot's engine and its own sweep.log)."""
    timeout = None
    if job.deadline is not None:
        timeout = job.deadline - time.time()
        if timeout <= 0:
            return 0
    space: Space = pickle.loads(job.space)
    if space.source and Path(space.source).suffix == ".py" and not Path(space.source).is_file():
        space = dataclasses.replace(space, source="")  # it came by value: nothing to import
    config = slot_config(job.config, slot, results_dir, timeout)
    probe_storage(config.storage)  # an unreachable database: now, not after the worker starts
    with WorkerProcesses(config) as backend:
        opener = StudyOpener(space, config, worker=first_worker, where=backend.describe())
        run = SweepRun(space, config, opener, SweepObserver(), job.make_objective, first_worker)
        try:
            return len(backend.run(run))
        finally:
            opener.close()


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
        result = {"error": exc.template, "exit_code": exc.exit_code}
    except KeyboardInterrupt:
        result = {"interrupted": True}
    Path(result_file).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
