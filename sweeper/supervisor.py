"""The supervisor: starts worker processes, hands out the trial budget, replaces dead workers.

Why multiprocessing with "spawn", and not joblib/loky or a pool: a pool hides which process
ran which trial, and loky answers a dead worker by breaking the whole pool. Here each worker is
one ``Process`` with its own pipe and sentinel, so the supervisor knows the moment a worker
dies, which trial it held, and can start another in its place. "spawn" (not fork) gives each
worker a fresh interpreter that sets its device variables before Keras loads.

The supervisor never imports Keras: it reads the study and draws the live view.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait

import optuna
from optuna.trial import FrozenTrial

from sweeper.devices import WorkerSlot
from sweeper.errors import SweeperError
from sweeper.progress import SweepObserver, log_trial
from sweeper.recovery import INTERRUPTED, WORKER_DIED, enqueue_retries, fail_lost, is_lost, owned_by
from sweeper.study import FINISHED, FailureStreak
from sweeper.worker import WorkerSpec, worker_main

log = logging.getLogger("sweeper")

STOP_GRACE_S = 10.0  # after a stop request, workers still alive this long are killed
MAX_FAILED_STARTS = 3  # a slot whose workers die this often before training gives up


@dataclass(eq=False)
class _Worker:
    slot: WorkerSlot
    worker_id: int
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    wants: bool = False  # waiting for the supervisor's go / stop
    ticket: bool = False  # holds one unit of the budget
    trial: int | None = None
    retiring: bool = False


class Supervisor:
    """Runs workers on a study until it holds ``budget`` finished trials (lost ones aside)."""

    def __init__(
        self,
        spec: WorkerSpec,
        slots: Sequence[WorkerSlot],
        open_study: Callable[[], optuna.Study],
        *,
        budget: int,
        timeout: float | None,
        max_consecutive_failures: int,
        observer: SweepObserver,
    ) -> None:
        self.spec, self.slots, self._open_study = spec, list(slots), open_study
        self.budget, self.timeout = budget, timeout
        self.observer = observer
        self.study: optuna.Study | None = None
        self.finished: list[FrozenTrial] = []
        self._workers: list[_Worker] = []
        self._next_id = 0
        self._failed_starts = {slot.index: 0 for slot in self.slots}
        self._streak = FailureStreak(max_consecutive_failures)
        self._started = time.monotonic()
        self._stop_deadline: float | None = None
        self._signalled = False
        self._error: SweeperError | None = None
        self._context = multiprocessing.get_context("spawn")

    def run(self) -> list[FrozenTrial]:
        """Supervise until the budget is met; raises KeyboardInterrupt after a signal."""
        with _signals_to(self._on_signal):
            for slot in self.slots:
                self._start(slot)
            while self._workers:
                self._step()
        if self._error is not None:
            raise self._error
        if self._signalled:
            raise KeyboardInterrupt
        return self.finished

    # --- the loop -------------------------------------------------------------------------

    def _step(self) -> None:
        by_conn = {w.conn: w for w in self._workers}
        by_sentinel = {w.process.sentinel: w for w in self._workers}
        for ready in wait([*by_conn, *by_sentinel], timeout=0.25):
            if ready in by_conn:
                self._drain(by_conn[ready])
        for worker in [w for w in self._workers if not w.process.is_alive()]:
            self._drain(worker)  # what it sent before it exited comes first
            self._exited(worker)
        if self._signalled and self._stop_deadline is None:
            self._stop("interrupted")
        self._serve_wants()
        if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
            for worker in self._workers:
                if worker.process.is_alive():
                    log.warning("worker %d did not stop in %.0fs; killing it",
                                worker.worker_id, STOP_GRACE_S)
                    worker.process.kill()

    def _drain(self, worker: _Worker) -> None:
        while True:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                return
            self._handle(worker, *message)

    def _handle(self, worker: _Worker, kind: str, *payload) -> None:
        index = worker.slot.index
        if kind == "ready":
            worker.ready = True
            if self.study is None and self._error is None:
                self.study = self._open_study()  # sweep.log opens with it
                for started in self._workers:
                    self._log_start(started)
                self.observer.sweep_started(self.study.get_trials(deepcopy=False), self.budget)
            self._failed_starts[index] = 0
            _send(worker, "stop" if self._stop_deadline is not None else "begin")
            self.observer.worker_changed(index, worker.slot.label, "idle")
        elif kind == "want":
            worker.wants = True
        elif kind == "started":
            worker.trial = payload[0]
            self.observer.trial_started(payload[0], worker=index)
        elif kind == "epoch":
            self.observer.epoch_ended(*payload, worker=index)
        elif kind == "finished":
            self._trial_finished(worker, payload[0])
        elif kind == "retiring":
            worker.retiring = True
        elif kind == "error":
            error = SweeperError(payload[0])
            error.exit_code = payload[1]
            self._error = self._error or error
            self._stop(f"error: {payload[0]}")

    def _trial_finished(self, worker: _Worker, trial: FrozenTrial) -> None:
        worker.ticket, worker.trial = False, None
        self.finished.append(trial)
        log_trial(trial)
        self.observer.trial_finished(trial, worker=worker.slot.index)
        error = self._streak.add(trial)
        if error is not None and self._error is None:
            self._error = error
            self._stop("too many failures")

    def _serve_wants(self) -> None:
        for worker in [w for w in self._workers if w.wants]:
            verdict = self._verdict()
            if verdict is None:
                return  # the budget may still free up: trials in flight can be lost
            worker.wants = False
            worker.ticket = verdict == "go"
            _send(worker, verdict)

    def _verdict(self) -> str | None:
        """"go" while the budget has room, "stop" once it is met, None while it depends on
        trials in flight."""
        if self._stop_deadline is not None or self._timed_out():
            return "stop"
        counted, in_flight = self._usage()
        if counted >= self.budget:
            return "stop"
        return "go" if counted + in_flight < self.budget else None

    def _usage(self) -> tuple[int, int]:
        trials = self.study.get_trials(deepcopy=False)
        finished = {t.number for t in trials if t.state in FINISHED}
        counted = sum(t.state in FINISHED and not is_lost(t) for t in trials)
        in_flight = sum(w.ticket and (w.trial is None or w.trial not in finished)
                        for w in self._workers)
        return counted, in_flight

    def _timed_out(self) -> bool:
        return self.timeout is not None and time.monotonic() - self._started >= self.timeout

    # --- workers coming and going ------------------------------------------------------------

    def _start(self, slot: WorkerSlot) -> None:
        spec = replace(self.spec, slot=slot, worker_id=self._next_id)
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=worker_main, args=(spec, child_end),
                                        name=f"sweeper-worker-{self._next_id}", daemon=True)
        with _sigint_ignored():  # the child starts ignoring Ctrl-C until its own handler is in
            process.start()
        child_end.close()
        worker = _Worker(slot, self._next_id, process, parent_end)
        self._workers.append(worker)
        if self.study is not None:
            self._log_start(worker)
        self.observer.worker_changed(slot.index, slot.label, "starting")
        self._next_id += 1

    @staticmethod
    def _log_start(worker: _Worker) -> None:
        log.info("worker %d started on %s (pid %d)", worker.worker_id, worker.slot.label,
                 worker.process.pid)

    def _exited(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.process.join()
        worker.conn.close()
        code, index = worker.process.exitcode, worker.slot.index
        stopping = self._stop_deadline is not None
        lost = owned_by(self.study, worker.process.pid) if self.study is not None else []
        if code == 0 and not lost:
            log.info("worker %d exited%s", worker.worker_id,
                     " to give back its memory" if worker.retiring else "")
        else:
            reason = INTERRUPTED if stopping else WORKER_DIED
            for trial in lost:
                fail_lost(self.study, trial, reason)
                log.warning("trial %d failed: %s", trial.number, reason)
            queued = [] if stopping else enqueue_retries(self.study)
            log.warning("worker %d on %s died (exit code %s)%s", worker.worker_id,
                        worker.slot.label, code, f"; retrying trial(s) {queued}" if queued else "")
            trials = self.study.get_trials(deepcopy=False)
            for trial in lost:
                self.observer.trial_finished(trials[trial.number], worker=index)
            if not worker.ready:
                self._failed_starts[index] += 1
        self.observer.worker_changed(index, worker.slot.label, "stopped")
        if stopping or self._error is not None:
            return
        if self._failed_starts[index] >= MAX_FAILED_STARTS:
            self._error = SweeperError(
                f"workers on {worker.slot.label} died {MAX_FAILED_STARTS} times before "
                f"training (last exit code {code}); see sweep.log, or run with --workers 1"
            )
            self._stop("workers keep dying")
            return
        counted, in_flight = self._usage() if self.study is not None else (0, 0)
        if counted + in_flight < self.budget and not self._timed_out():
            self._start(worker.slot)

    def _stop(self, why: str) -> None:
        if self._stop_deadline is not None:
            return
        log.info("stopping workers (%s)", why)
        self._stop_deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers:
            with suppress(ProcessLookupError):  # it may have exited just now
                os.kill(worker.process.pid, signal.SIGINT)

    def _on_signal(self, signum, frame) -> None:
        if self._signalled and self._stop_deadline is not None:
            self._stop_deadline = 0.0  # a second Ctrl-C: kill the workers now
        self._signalled = True


def _send(worker: _Worker, message: str) -> None:
    with suppress(OSError):  # a worker that died just now: its sentinel tells the loop
        worker.conn.send(message)


@contextmanager
def _signals_to(handler):
    """SIGINT and SIGTERM set a flag for the loop instead of raising mid-write."""
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def _sigint_ignored():
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
