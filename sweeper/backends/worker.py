"""A worker process: loads the data once, then runs the trial loop with the supervisor as its
gate, until told to stop.

The supervisor (``sweeper.backends.supervisor``) starts workers with multiprocessing's
"spawn" method, so each one sets its device variables before Keras loads. Each has a pipe of
its own to the supervisor, so a worker killed mid-message cannot garble another's, and asks it
before each trial, so the budget holds exactly across workers.

A worker's own output (TensorFlow's start-up lines, a crash's traceback) goes to a log file,
not the terminal: ``results/<space>/workers/worker-<slot>.log`` once the study is open, a
staging file before (bad data must leave no results folder behind). The supervisor quotes
it when the worker fails.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import pickle
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import cloudpickle
import optuna
import psutil

from sweeper.backends.base import build_objective
from sweeper.backends.devices import WorkerSlot
from sweeper.config import Placement, SweepConfig
from sweeper.errors import SweeperError, UsageError
from sweeper.files import output_to
from sweeper.search.study import attach_engine
from sweeper.space.data import load_dataset
from sweeper.space.loader import load_space
from sweeper.space.space import Space
from sweeper.storage.outage import RideOut
from sweeper.storage.recovery import owner_record
from sweeper.storage.storages import open_storage
from sweeper.trials.loop import MakeObjective, run_trials
from sweeper.trials.observer import SweepObserver
from sweeper.trials.stop import StopFlag

# Growth per trial is judged from the 8th trial on: by then the median step is a leak, not one
# of the caches that the first trials' new batch sizes allocate (on MNIST, a worker judged after
# 4 trials had grown ~50 MiB a trial in caches, and restarted).
MIN_TRIALS_TO_MEASURE = 8

# Messages, worker -> supervisor: ("ready",), ("want",), ("started", number),
# ("epoch", number, epoch, logs), ("finished", frozen_trial), ("lost", frozen_trial),
# ("storage", notice or None),
# ("retiring",),
# ("error", the SweeperError itself). Supervisor -> worker: ("begin", log path, session),
# "go", "stop".


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, picklable. The space travels pickled (``pickle_space``), as
    the caller has it (changes made in code included), with the module it was loaded from,
    which the worker imports first so the space's functions can be found."""

    space: bytes
    space_source: str
    config: SweepConfig
    slot: WorkerSlot
    worker_id: int = 0
    log_path: str = os.devnull  # where its output goes until the supervisor names another
    make_objective: MakeObjective | None = None  # None: KerasObjective.for_sweep
    deadline: float | None = None  # time.time() at which the sweep's time is up


def pickle_space(space: Space) -> bytes:
    """The space as worker processes receive it. cloudpickle sends what workers cannot import
    (functions and classes defined in a notebook, a REPL, ``python -`` or a script's
    ``__main__``) by value, and what they can import by reference, as pickle would."""
    try:
        return cloudpickle.dumps(space)
    except Exception as exc:
        raise UsageError(
            f"search space {space.name!r} cannot be sent to worker processes: its "
            f"{_unpicklable_part(space)} holds something that cannot be pickled "
            f"({_short(exc)}); create open files, locks and connections inside the function "
            "that uses them, or run with workers=None"
        ) from exc


def _unpicklable_part(space: Space) -> str:
    """The field (or the parameter, or the function) that stops the space from pickling."""
    for field in dataclasses.fields(space):
        value = getattr(space, field.name)
        items = value if isinstance(value, list | tuple) else [value]
        for index, item in enumerate(items):
            try:
                cloudpickle.dumps(item)
            except Exception:
                where = f"{field.name}[{index}]" if item is not value else field.name
                label = getattr(item, "__qualname__", None) or getattr(item, "name", None)
                return f"{where} ({label})" if label else where
    return "contents"


def _short(exc: Exception, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PipeObserver(SweepObserver):
    """Forwards the loop's events to the supervisor, which draws the one live view.

    If the supervisor is gone (killed), the worker stops: the running trial ends at the next
    batch as "interrupted", to be retried when the sweep is resumed."""

    def __init__(self, conn: Connection, flag: StopFlag) -> None:
        self.conn, self.flag = conn, flag

    def send(self, message) -> None:
        try:
            self.conn.send(message)
        except OSError:  # BrokenPipeError: nobody is listening any more
            self.flag.request()

    def trial_started(self, number: int, worker: int = 0) -> None:
        self.send(("started", number))

    def epoch_ended(self, number, epoch, logs, worker: int = 0) -> None:
        self.send(("epoch", number, epoch, {k: float(v) for k, v in logs.items()}))

    def trial_finished(self, trial, worker: int = 0) -> None:
        self.send(("finished", trial))

    def trial_lost(self, trial) -> None:
        self.send(("lost", trial))

    def storage_notice(self, message: str | None, worker: int = 0) -> None:
        self.send(("storage", message))


class SupervisorGate:
    """May another trial start? The supervisor's answer; but first, whether this worker
    should hand over to a fresh process, which gives back what clear_session() does not."""

    def __init__(self, observer: PipeObserver, placement: Placement) -> None:
        self.observer, self.placement = observer, placement
        self.rss: list[int] = []  # after each trial this process ran
        self._started = False
        self._process = psutil.Process()

    def may_start(self) -> bool:
        if self._started:
            self.rss.append(self._process.memory_info().rss)
            if should_retire(self.placement, self.rss):
                self.observer.send(("retiring",))
                return False
        self._started = True
        self.observer.send(("want",))
        return self.observer.conn.recv() == "go" and not self.observer.flag.requested

    def declined(self) -> None:
        self.observer.send(("declined",))  # the supervisor takes its place in the budget back


def should_retire(placement: Placement, rss: list[int]) -> bool:
    """Whether a worker that has run ``len(rss)`` trials, with ``rss`` its resident memory
    after each, should hand over to a fresh process: after ``trials_per_process`` trials, or
    once what it keeps per trial adds up to ``memory_growth`` of its size after the first.

    What a worker keeps per trial is the median of the growth from one trial to the next, not
    the growth since the first trial: the first trials allocate caches once (MNIST's grew
    ~10% by its second trial, and a size-based rule restarted it every 2 trials), while Keras
    keeps a few MiB of every trial for good (benchmarks/memory.py)."""
    done = len(rss)
    if placement.trials_per_process is not None and done >= placement.trials_per_process:
        return True
    if placement.memory_growth is None or done < MIN_TRIALS_TO_MEASURE:
        return False
    steps = sorted(b - a for a, b in zip(rss, rss[1:], strict=False))
    kept_per_trial = steps[(len(steps) - 1) // 2]  # the (lower) median: a one-off is not a leak
    return kept_per_trial * done > placement.memory_growth * rss[0]


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process' entry point."""
    output_to(spec.log_path)
    print(f"--- worker {spec.worker_id}, pid {os.getpid()}, {spec.slot.label}", flush=True)
    flag = StopFlag(deadline=spec.deadline).__enter__()  # for the process' whole life
    os.environ.update(spec.slot.environment())  # before Keras and its backend load
    if spec.slot.gpu is None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spec.slot.cpus)
    observer = PipeObserver(conn, flag)
    _stop_with_parent(flag)
    try:
        _serve(spec, observer, flag)
    except SweeperError as exc:
        observer.send(("error", exc))  # pickled whole: the CLI words it with its flags
    except (KeyboardInterrupt, EOFError):
        pass  # the trial is recorded as interrupted; or the supervisor is gone
    conn.close()
    # Everything is in the storage already; skip the interpreter's teardown of TensorFlow,
    # which took seconds. (An unexpected exception still exits the normal way, traceback
    # and all, into the log, and the supervisor treats the worker as dead.)
    os._exit(0)


def _stop_with_parent(flag: StopFlag) -> None:
    """Request a stop the moment the supervisor's process is gone (killed, say), so the
    running trial ends at its next batch as "interrupted", not at its epoch's end, when the
    worker would next write to the pipe."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])  # readable once the parent is gone
        flag.request()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _serve(spec: WorkerSpec, observer: PipeObserver, flag: StopFlag) -> None:
    if spec.space_source:
        load_space(spec.space_source)
    space: Space = pickle.loads(spec.space)
    config = spec.config
    data = load_dataset(space, config.data_dir)
    # Keras loads here, with the slot's device settings in place.
    objective = build_objective(spec.make_objective, space, data, config, observer, flag)
    observer.send(("ready",))
    begin = observer.conn.recv()  # ("begin", log path, session) once the study is open, or "stop"
    if not isinstance(begin, tuple) or flag.requested:
        return
    _move_output(spec.log_path, begin[1])  # the results folder exists now
    # An outage is ridden out in the worker too: the live view says so (through the
    # supervisor), and a stop request cuts the wait short.
    ride_out = RideOut(config.storage_retry, observer.storage_notice, lambda: flag.requested)
    folder = config.results(space.name).path
    storage = open_storage(config.storage, folder, config.heartbeat, ride_out)
    study = optuna.load_study(study_name=space.name, storage=storage)
    sampler_seed = attach_engine(study, space, config, spec.worker_id, session=begin[2])
    owner = owner_record(spec.worker_id, spec.slot.label, sampler_seed)
    gate = SupervisorGate(observer, config.placement)
    # The supervisor counts failures in a row across all workers: no streak here.
    run_trials(
        study,
        objective,
        gate,
        flag=flag,
        observer=observer,
        owner=owner,
        budget=config.budget,
        engine=config.search_engine().label,
    )


def _move_output(staging: str, final: str) -> None:
    """From the staging file to the log in the results folder, keeping what was written."""
    if final == staging:
        return
    with open(staging, "rb") as src, open(final, "ab") as dst:
        dst.write(src.read())
    output_to(final)
    Path(staging).unlink(missing_ok=True)
