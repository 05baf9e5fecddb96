"""A worker process: loads the data once, then trains trials of the study until told to stop.

The supervisor (``sweeper.supervisor``) starts workers with multiprocessing's "spawn" method,
so each one gets its device settings in its environment before Keras loads. Each worker has a
pipe of its own to the supervisor: a worker killed mid-message cannot garble another's. It
asks the supervisor for each trial it runs, so the budget holds exactly across workers.

Signals (SIGINT from the terminal, or forwarded by the supervisor; SIGTERM) never interrupt
the worker at an arbitrary point: they set a flag, and a Keras callback ends the running trial
at the next batch as "interrupted". A storage write is never cut in half.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection

import optuna
import psutil

from sweeper.devices import WorkerSlot
from sweeper.errors import SweeperError
from sweeper.loader import load_space
from sweeper.progress import SweepObserver
from sweeper.space import Space
from sweeper.study import PrunerLike, SamplerLike, derive_seed, make_pruner, make_sampler

# A worker restarts once its memory grew 10% over its size after its first trial: Keras and
# TensorFlow keep ~5 MiB of every trial even after clear_session() (benchmarks/memory.py).
DEFAULT_MEMORY_GROWTH = 0.10

# Messages, worker -> supervisor: ("ready",), ("want",), ("started", number),
# ("epoch", number, epoch, logs), ("finished", frozen_trial), ("retiring",),
# ("error", message, exit_code). Supervisor -> worker: "begin", "go", "stop".


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, picklable. The space travels pickled, as the caller has it
    (changes made in code included), with the module it was loaded from, which the worker
    imports first so the space's functions can be found."""

    space: bytes
    space_source: str
    storage: str
    sampler: SamplerLike
    pruner: PrunerLike
    seed: int
    max_epochs: int
    data_dir: str | None
    slot: WorkerSlot
    worker_id: int
    trials_per_process: int | None = None  # retire after this many trials
    memory_growth: float | None = DEFAULT_MEMORY_GROWTH  # or once RSS grew this much


class StopFlag:
    """Set by SIGINT or SIGTERM; read at safe points (between batches, between trials)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._set)

    def _set(self, signum, frame) -> None:
        self.requested = True


def stop_callback(flag: StopFlag):
    """A Keras callback that ends the trial at the next batch once a stop is requested."""
    import keras

    class StopOnRequest(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if flag.requested:
                raise KeyboardInterrupt  # the sweep loop records the trial as "interrupted"

        on_test_batch_end = on_train_batch_end

    return StopOnRequest()


class PipeObserver(SweepObserver):
    """Forwards the sweep loop's events to the supervisor, which draws the one live view.

    If the supervisor is gone (killed), the worker stops: the running trial ends at the next
    batch as "interrupted", to be retried when the sweep is resumed."""

    def __init__(self, conn: Connection, flag: StopFlag) -> None:
        self.conn, self.flag = conn, flag

    def send(self, message) -> None:
        try:
            self.conn.send(message)
        except OSError:  # BrokenPipeError: nobody is listening any more
            self.flag.requested = True

    def trial_started(self, number: int, worker: int = 0) -> None:
        self.send(("started", number))

    def epoch_ended(self, number, epoch, logs, worker: int = 0) -> None:
        self.send(("epoch", number, epoch, {k: float(v) for k, v in logs.items()}))

    def trial_finished(self, trial, worker: int = 0) -> None:
        self.send(("finished", trial))


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process' entry point."""
    flag = StopFlag()
    flag.install()
    os.environ.update(spec.slot.environment())  # before Keras and its backend load
    if spec.slot.gpu is None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spec.slot.cpus)
    observer = PipeObserver(conn, flag)
    try:
        _serve(spec, observer, flag)
    except SweeperError as exc:
        observer.send(("error", str(exc), exc.exit_code))
    except (KeyboardInterrupt, EOFError):
        pass  # the trial is recorded as interrupted; or the supervisor is gone
    conn.close()
    # Everything is in the storage already; skip the interpreter's teardown of TensorFlow,
    # which took seconds. (An unexpected exception still exits the normal way, traceback
    # and all, and the supervisor treats the worker as dead.)
    os._exit(0)


def _serve(spec: WorkerSpec, observer: PipeObserver, flag: StopFlag) -> None:
    from sweeper.recovery import owner_record
    from sweeper.study import open_storage
    from sweeper.sweep import load_dataset, run_trial

    if spec.space_source:
        load_space(spec.space_source)
    space: Space = pickle.loads(spec.space)
    data = load_dataset(space, spec.data_dir)
    from sweeper.objective import KerasObjective  # Keras loads here, with the slot's settings

    conn = observer.conn
    objective = KerasObjective(space, data, max_epochs=spec.max_epochs, seed=spec.seed,
                               on_epoch=observer.epoch_ended, callbacks=[stop_callback(flag)])
    observer.send(("ready",))
    if conn.recv() != "begin" or flag.requested:
        return
    storage = open_storage(spec.storage, None)
    study = optuna.load_study(study_name=space.name, storage=storage)
    sampler_seed = derive_seed(spec.seed, len(study.trials), spec.worker_id)
    study.sampler = make_sampler(spec.sampler, sampler_seed)
    study.pruner = make_pruner(spec.pruner, spec.max_epochs)
    owner = owner_record(spec.worker_id, spec.slot.label, sampler_seed)

    gc.freeze()  # as in-process sweeps do: spares clear_session()'s gc pass TF's own objects
    process, first_rss, done = psutil.Process(), None, 0
    while not flag.requested:
        observer.send(("want",))
        if conn.recv() != "go" or flag.requested:
            return
        run_trial(study, objective, observer, owner)
        done += 1
        rss = process.memory_info().rss
        first_rss = first_rss or rss
        if _should_retire(spec, done, rss, first_rss):
            observer.send(("retiring",))
            return


def _should_retire(spec: WorkerSpec, done: int, rss: int, first_rss: int) -> bool:
    """Whether this worker should hand over to a fresh process, which gives back the memory
    that clear_session() does not."""
    if spec.trials_per_process is not None and done >= spec.trials_per_process:
        return True
    return spec.memory_growth is not None and rss > first_rss * (1 + spec.memory_growth)
