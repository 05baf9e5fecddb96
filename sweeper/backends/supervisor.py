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
import shutil
import signal
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper.backends.devices import WorkerSlot
from sweeper.backends.worker import WorkerSpec, worker_main
from sweeper.errors import SweeperError
from sweeper.results import ResultsDir
from sweeper.storage.heartbeat import fail_stale_trials
from sweeper.storage.outage import StorageUnavailable, give_up
from sweeper.storage.record import FINISHED, INTERRUPTED, WORKER_DIED, counted
from sweeper.storage.recovery import enqueue_retries, fail_lost, owned_by
from sweeper.trials.observer import SweepObserver, log_trial
from sweeper.trials.stop import StopFlag
from sweeper.trials.streak import FailureStreak

log = logging.getLogger("sweeper")

STOP_GRACE_S = 10.0  # after a stop request, workers still alive this long are killed
MAX_FAILED_STARTS = 3  # a slot whose workers die this often before training gives up


class Budget:
    """The trial budget shared by all workers: "go" while counted trials plus those in
    flight stay under it, "stop" once it is met (or the time is up), and no answer yet while
    it depends on trials in flight, which may still be lost and retried."""

    def __init__(self, n_trials: int, timeout: float | None = None) -> None:
        self.n_trials, self.timeout = n_trials, timeout
        # Wall-clock time, not monotonic: workers stop their running trial at this instant.
        self.deadline = None if timeout is None else time.time() + timeout

    def timed_out(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def has_room(self, trials: list[FrozenTrial], tickets: Iterable[int | None]) -> bool:
        """Whether one more trial fits beside those counted and those in flight."""
        return not self.timed_out() and sum(self._usage(trials, tickets)) < self.n_trials

    def verdict(self, trials: list[FrozenTrial], tickets: Iterable[int | None]) -> str | None:
        """``tickets``: for each worker granted a trial, its number (None: not asked yet)."""
        if self.timed_out():
            return "stop"
        done, in_flight = self._usage(trials, tickets)
        if done >= self.n_trials:
            return "stop"
        return "go" if done + in_flight < self.n_trials else None

    @staticmethod
    def _usage(trials: list[FrozenTrial], tickets: Iterable[int | None]) -> tuple[int, int]:
        """(counted trials, trials in flight): this supervisor's workers', and those other
        processes run on the same study (other machines, on a database)."""
        tickets = list(tickets)
        finished = {t.number for t in trials if t.state in FINISHED}
        ours = sum(n is None or n not in finished for n in tickets)
        others = sum(t.state == TrialState.RUNNING and t.number not in tickets for t in trials)
        return counted(trials), ours + others


def last_line(path: Path | None) -> str:
    """The last line a worker wrote: a crash's exception, usually."""
    try:
        lines = Path(path).read_text(errors="replace").strip().splitlines() if path else []
    except OSError:
        return ""
    return lines[-1].strip() if lines and not lines[-1].startswith("--- worker") else ""


@dataclass(eq=False)
class _Worker:
    slot: WorkerSlot
    worker_id: int
    process: multiprocessing.process.BaseProcess
    pid: int
    conn: Connection
    log: Path
    ready: bool = False
    wants: bool = False  # waiting for the supervisor's go / stop
    ticket: bool = False  # holds one unit of the budget
    trial: int | None = None
    retiring: bool = False


class Supervisor:
    """Runs workers on a study until it holds the budget's trials (lost ones aside)."""

    def __init__(
        self,
        spec: WorkerSpec,
        slots: Sequence[WorkerSlot],
        results: ResultsDir,
        open_study: Callable[[], optuna.Study],
        observer: SweepObserver,
        first_worker: int = 0,
    ) -> None:
        """``first_worker``: the id its first worker takes (ids seed the workers' samplers:
        supervisors that share a study from several machines number theirs apart)."""
        config = spec.config
        self.spec, self.slots, self.results = spec, list(slots), results
        self._open_study, self.observer = open_study, observer
        self.budget = Budget(config.budget, config.timeout)
        self.study: optuna.Study | None = None
        self.finished: list[FrozenTrial] = []
        self._workers: list[_Worker] = []
        self._next_id = first_worker
        self._failed_starts = {slot.index: 0 for slot in self.slots}
        self._streak = FailureStreak(config.max_consecutive_failures)
        self._stop_deadline: float | None = None
        self._flag = StopFlag()
        self._error: SweeperError | None = None
        self._context = multiprocessing.get_context("spawn")
        self._staging = Path(tempfile.mkdtemp(prefix="sweeper-workers-"))  # logs, pre-study

    def run(self) -> list[FrozenTrial]:
        """Supervise until the budget is met; raises KeyboardInterrupt after a signal."""
        try:
            with self._flag:
                for slot in self.slots:
                    self._start(slot)
                while self._workers:
                    self._step()
        finally:
            for worker in self._workers:  # only if the loop itself failed: leave no one behind
                worker.process.kill()
            shutil.rmtree(self._staging, ignore_errors=True)
        if self._error is not None:
            raise self._error
        if self._flag.requested:
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
        if self._flag.requested:
            self._stop("interrupted")
            if self._flag.count > 1:
                self._stop_deadline = 0.0  # a second Ctrl-C: kill the workers now
        self._serve_wants()
        if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
            for worker in self._workers:
                if worker.process.is_alive():
                    log.warning(
                        "worker %d did not stop in %.0fs; killing it",
                        worker.worker_id,
                        STOP_GRACE_S,
                    )
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
        if kind == "ready":
            self._ready(worker)
        elif kind == "want":
            worker.wants = True
        elif kind == "declined":  # another machine took the place: the worker will ask again
            worker.ticket, worker.trial = False, None
        elif kind == "started":
            worker.trial = payload[0]
            self.observer.trial_started(payload[0], worker=worker.slot.index)
        elif kind == "epoch":
            number, epoch, logs = payload
            self.observer.epoch_ended(number, epoch, logs, worker=worker.slot.index)
        elif kind == "finished":
            self._trial_finished(worker, payload[0])
        elif kind == "lost":  # a trial of another machine, failed by its stopped heartbeat
            log_trial(payload[0])
            self.observer.trial_lost(payload[0])
        elif kind == "storage":  # the worker's database is out of reach (None: back)
            said = payload[0] or "the database is back"
            log.info("worker %d: %s", worker.worker_id, said)
            self.observer.storage_notice(payload[0], worker=worker.slot.index)
        elif kind == "retiring":
            worker.retiring = True
        elif kind == "error":
            if isinstance(payload[0], StorageUnavailable) and self.study is not None:
                give_up(self.study)  # its own calls would wait out the same outage again
            self._fail(payload[0])

    def _ready(self, worker: _Worker) -> None:
        """The first worker with its data loaded opens the study: bad data changes nothing."""
        worker.ready = True
        self._failed_starts[worker.slot.index] = 0
        if self.study is None and self._error is None:
            try:
                self.study = self._open_study()  # sweep.log opens with it
            except SweeperError as exc:
                self._fail(exc)
            else:
                self.results.workers.mkdir(parents=True, exist_ok=True)
                for started in self._workers:
                    self._log_start(started)
                self.observer.sweep_started(
                    self.study.get_trials(deepcopy=False), self.budget.n_trials
                )
        if self._stop_deadline is not None:
            _send(worker, "stop")
            return
        worker.log = self.results.worker_log(worker.slot.index)
        # The study's session: workers of a run that did not create it draw apart from others.
        session = getattr(self._open_study, "session", 0)
        _send(worker, ("begin", str(worker.log), session))
        self.observer.worker_changed(worker.slot.index, worker.slot.label, "idle")

    def _trial_finished(self, worker: _Worker, trial: FrozenTrial) -> None:
        worker.ticket, worker.trial = False, None
        self.finished.append(trial)
        log_trial(trial)
        self.observer.trial_finished(trial, worker=worker.slot.index)
        error = self._streak.add(trial)
        if error is not None:
            self._fail(error)

    def _serve_wants(self) -> None:
        for worker in [w for w in self._workers if w.wants]:
            verdict = (
                "stop"
                if self._stop_deadline is not None or self.study is None
                else self.budget.verdict(self.study.get_trials(deepcopy=False), self._tickets())
            )
            if verdict is None:
                # The budget may still free up: trials in flight can be lost. Those of other
                # machines are found lost by their stopped heartbeat (on a database).
                assert self.study is not None
                for trial in fail_stale_trials(self.study):  # other machines' trials
                    log_trial(trial)
                    self.observer.trial_lost(trial)
                return
            worker.wants = False
            worker.ticket = verdict == "go"
            _send(worker, verdict)

    def _tickets(self) -> list[int | None]:
        return [w.trial for w in self._workers if w.ticket]

    # --- workers coming and going ------------------------------------------------------------

    def _start(self, slot: WorkerSlot) -> None:
        log_path = (
            self.results.worker_log(slot.index)
            if self.study is not None
            else self._staging / f"worker-{self._next_id}.log"
        )
        spec = replace(
            self.spec,
            slot=slot,
            worker_id=self._next_id,
            log_path=str(log_path),
            deadline=self.budget.deadline,
        )
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=worker_main,
            args=(spec, child_end),
            name=f"sweeper-worker-{self._next_id}",
            daemon=True,
        )
        # The child starts ignoring Ctrl-C until its own handler is in.
        with _sigint_ignored(), _main_hidden():
            process.start()
        child_end.close()
        assert process.pid is not None  # started
        worker = _Worker(slot, self._next_id, process, process.pid, parent_end, log_path)
        self._workers.append(worker)
        if self.study is not None:
            self._log_start(worker)
        self.observer.worker_changed(slot.index, slot.label, "starting")
        self._next_id += 1

    @staticmethod
    def _log_start(worker: _Worker) -> None:
        log.info(
            "worker %d started on %s (pid %d)", worker.worker_id, worker.slot.label, worker.pid
        )

    def _exited(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.process.join()
        worker.conn.close()
        code, index = worker.process.exitcode, worker.slot.index
        stopping = self._stop_deadline is not None
        lost = owned_by(self.study, worker.pid) if self.study is not None else []
        if code == 0 and not lost:
            log.info(
                "worker %d exited%s",
                worker.worker_id,
                " to give back its memory" if worker.retiring else "",
            )
        else:
            self._fail_lost(worker, lost, INTERRUPTED if stopping else WORKER_DIED)
            if not worker.ready:
                self._failed_starts[index] += 1
        self.observer.worker_changed(index, worker.slot.label, "stopped")
        if stopping or self._error is not None:
            return
        if self._failed_starts[index] >= MAX_FAILED_STARTS:
            said = last_line(worker.log)
            self._fail(
                SweeperError(
                    f"workers on {worker.slot.label} died {MAX_FAILED_STARTS} times before "
                    f"training (last exit code {code}{f': {said}' if said else ''}); "
                    + (
                        f"see {worker.log}"
                        if self.study is not None
                        else "run with {in_process} to see the whole error"
                    )
                )
            )
            return
        trials = self.study.get_trials(deepcopy=False) if self.study is not None else []
        if self.budget.has_room(trials, self._tickets()):
            self._start(worker.slot)

    def _fail_lost(self, worker: _Worker, lost: list[FrozenTrial], reason: str) -> None:
        """A worker that died (or was stopped) mid-trial: fail its trials, queue retries."""
        assert self.study is not None or not lost
        for trial in lost:
            fail_lost(self.study, trial, reason)  # type: ignore[arg-type]
            log.warning("trial %d failed: %s", trial.number, reason)
        queued = (
            enqueue_retries(self.study) if self.study is not None and reason == WORKER_DIED else []
        )
        said = last_line(worker.log)
        log.warning(
            "worker %d on %s died (exit code %s)%s%s",
            worker.worker_id,
            worker.slot.label,
            worker.process.exitcode,
            f"; retrying trial(s) {queued}" if queued else "",
            f"; it said: {said}" if said else "",
        )
        if self.study is not None:
            trials = self.study.get_trials(deepcopy=False)
            for trial in lost:
                self.observer.trial_finished(trials[trial.number], worker=worker.slot.index)

    def _fail(self, error: SweeperError) -> None:
        self._error = self._error or error
        self._stop(f"error: {error}")

    def _stop(self, why: str) -> None:
        if self._stop_deadline is not None:
            return
        log.info("stopping workers (%s)", why)
        self._stop_deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers:
            with suppress(ProcessLookupError):  # it may have exited just now
                os.kill(worker.pid, signal.SIGINT)


def _send(worker: _Worker, message) -> None:
    with suppress(OSError):  # a worker that died just now: its sentinel tells the loop
        worker.conn.send(message)


@contextmanager
def _main_hidden():
    """Show "spawn" an empty ``__main__``, so the child does not import the caller's again.

    multiprocessing re-runs the main script in each child, to find what was defined there; a
    script without ``if __name__ == "__main__":`` would start its sweep again in every worker.
    A worker needs nothing from it: the space arrives by value (``pickle_space``)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@contextmanager
def _sigint_ignored():
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
