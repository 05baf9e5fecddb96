"""Live sweep progress (rich): counts, best so far, each worker's trial, time.

``SweepObserver`` is the interface the sweep loop (or the supervisor of worker processes)
calls; it does nothing, so a script's sweep is quiet. ``RichProgress`` draws it in a terminal,
``NotebookProgress`` in a Jupyter cell; ``progress_for`` picks one for the Python API.
"""

from __future__ import annotations

import io
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.status import Status
from rich.table import Table
from rich.text import Text

from sweeper.storage.record import TrialRecord
from sweeper.trials.observer import SweepObserver


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RichProgress(SweepObserver):
    """One live panel for the sweep, plus a printed line per finished trial."""

    def __init__(
        self,
        space_name: str,
        objective: str,
        direction: str,
        max_epochs: int,
        console: Console | None = None,
    ) -> None:
        # Every text drawn is the trials' own (failure reasons, parameter values, names): never
        # read as rich markup, where TensorFlow's "[/job:localhost/...]" would crash it.
        self.console = console or Console(markup=False)
        self.space_name, self.objective, self.max_epochs = space_name, objective, max_epochs
        self.maximize = direction == "maximize"
        self.counts = {TrialState.COMPLETE: 0, TrialState.PRUNED: 0, TrialState.FAIL: 0}
        self.best: FrozenTrial | None = None
        self.workers: dict[int, dict[str, Any]] = {}  # slot -> device, status, trial, epoch
        self.budget = 0
        self.started = time.monotonic()
        self.finished_here = 0
        self.lost = 0  # failed by a dead or stopped worker: retried, and not counted
        self.epochs_here = 0
        self.estimated = False  # the first epoch's estimate of the whole sweep, printed once
        self._trial_began: dict[int, float] = {}  # worker -> when its trial started
        self._status: Status | None = None
        self.notice: str | None = None  # e.g. the database is unreachable, and retried
        self._live = Live(
            console=self.console, refresh_per_second=4, transient=True, get_renderable=self._render
        )

    def sweep_started(self, trials: list[FrozenTrial], budget: int) -> None:
        self.budget = budget
        for trial in trials:
            self._count(trial)
        self.started = time.monotonic()
        self._show()

    def worker_changed(self, worker: int, device: str, status: str) -> None:
        self.workers[worker] = {"device": device, "status": status}

    def trial_started(self, number: int, worker: int = 0) -> None:
        self._worker(worker).update(status="running", trial=number, epoch=0, logs={})
        self._trial_began[worker] = time.monotonic()

    def epoch_ended(
        self, number: int, epoch: int, logs: Mapping[str, float], worker: int = 0
    ) -> None:
        self._worker(worker).update(status="running", trial=number, epoch=epoch, logs=dict(logs))
        self.epochs_here += 1
        if epoch == 1 and not self.estimated and worker in self._trial_began:
            self.estimated = True
            self._print_line(self._estimate(number, time.monotonic() - self._trial_began[worker]))

    def _estimate(self, number: int, epoch_s: float) -> str:
        """What the first epoch says of the whole sweep: every trial left at that pace, for
        every epoch, as many at once as there are workers; an upper bound, as pruning and
        early stopping end most trials sooner."""
        left = max(0, self.budget - sum(self.counts.values()))
        at_once = max(1, len(self.workers))
        most = epoch_s * self.max_epochs * left / at_once
        return (
            f"trial {number}'s first epoch took {epoch_s:.1f}s: at that pace the {left} trials "
            f"left take up to {format_duration(most)} ({self.max_epochs} epochs each, "
            f"{at_once} at a time; pruning and early stopping end most sooner). A time budget "
            "(--timeout) caps the sweep."
        )

    def trial_finished(self, trial: FrozenTrial, worker: int = 0) -> None:
        self._count(trial)
        self.finished_here += 1
        self._worker(worker).update(status="idle")
        self._print_line(describe_trial(trial, self.objective))

    def _worker(self, worker: int) -> dict[str, Any]:
        return self.workers.setdefault(worker, {"device": ""})

    def sweep_finished(self) -> None:
        self._live.stop()

    def _show(self) -> None:
        self._live.start()

    def _print_line(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False)

    def trial_lost(self, trial: FrozenTrial) -> None:
        self._count(trial)
        self._print_line(describe_trial(trial, self.objective))

    def storage_notice(self, message: str | None, worker: int = 0) -> None:
        self.notice = message

    def winner_started(self, trial: int) -> None:
        self._status = self.console.status(f"re-training the winner, trial {trial}")
        self._status.start()

    def winner_finished(self) -> None:
        if self._status is not None:
            self._status.stop()

    def _count(self, trial: FrozenTrial) -> None:
        record = TrialRecord.of(trial)
        if record.is_lost:
            self.lost += 1
        elif trial.state in self.counts and record.warm_start_from is None:  # budget's trials
            self.counts[trial.state] += 1
        value = record.value  # the primary objective's
        if trial.state != TrialState.COMPLETE or value is None:
            return
        best = None if self.best is None else TrialRecord.of(self.best).value
        if best is None or (value > best if self.maximize else value < best):
            self.best = trial

    def _render(self) -> Group:
        done = sum(self.counts.values())
        elapsed = time.monotonic() - self.started
        left = ""
        remaining = max(0, self.budget - done)
        if self.finished_here:
            left = f"  ~{format_duration(elapsed / self.finished_here * remaining)} left"
        elif self.epochs_here:  # before a trial ends: from the epochs run, at most per trial
            running = sum(w.get("epoch", 0) for w in self.workers.values())
            epochs_left = max(0, remaining * self.max_epochs - running)
            left = f"  ~{format_duration(elapsed / self.epochs_here * epochs_left)} left at most"
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row(
            "sweep",
            Text(
                f"{self.space_name}  {done}/{self.budget} trials  "
                f"elapsed {format_duration(elapsed)}{left}"
            ),
        )
        grid.add_row(
            "trials",
            Text.assemble(
                (f"{self.counts[TrialState.COMPLETE]} complete", "green"),
                "  ",
                (f"{self.counts[TrialState.PRUNED]} pruned", "yellow"),
                "  ",
                (f"{self.counts[TrialState.FAIL]} failed", "red"),
                f"  {self.lost} lost to a stopped worker (retried)" if self.lost else "",
            ),
        )
        if self.best is not None:
            grid.add_row(
                "best",
                Text(
                    f"{self.objective}={TrialRecord.of(self.best).value:.4f}  trial "
                    f"{self.best.number}  {format_params(self.best.params)}"
                ),
            )
        if self.notice is not None:
            grid.add_row("storage", Text(self.notice, style="yellow"))
        several = len(self.workers) > 1
        for index, worker in sorted(self.workers.items()):
            if several or worker.get("status") == "running":
                grid.add_row(
                    f"worker {index}" if several else "running",
                    Text(self._describe_worker(worker)),
                )
        return Group(grid)

    def _describe_worker(self, worker: Mapping[str, Any]) -> str:
        device = f"{worker['device']}  " if worker.get("device") else ""
        if worker.get("status") != "running":
            return f"{device}{worker.get('status', '')}"
        logs = worker["logs"]
        metric = f"  {self.objective}={logs[self.objective]:.4f}" if self.objective in logs else ""
        return f"{device}trial {worker['trial']}  epoch {worker['epoch']}/{self.max_epochs}{metric}"


class NotebookProgress(RichProgress):
    """The same panel in a Jupyter cell: one output, updated in place (an IPython display
    handle) at most twice a second, with the last few finished trials under it, so the cell
    stays the same size however long the sweep. (rich's own live display needs ipywidgets in
    Jupyter, and a saved notebook keeps none of its output.)"""

    RECENT = 5  # finished trials shown under the panel
    MIN_INTERVAL_S = 0.5

    def __init__(self, space_name: str, objective: str, direction: str, max_epochs: int) -> None:
        # The panel is drawn into this console's buffer, then sent to the cell as text + HTML.
        console = Console(
            file=io.StringIO(), width=110, record=True, force_jupyter=False, markup=False
        )
        super().__init__(space_name, objective, direction, max_epochs, console)
        self.recent: deque[str] = deque(maxlen=self.RECENT)
        self.note = ""  # e.g. the winner re-training
        self._handle: Any = None
        self._shown_at = 0.0

    def _show(self) -> None:
        from IPython.display import display

        self._handle = display(self._bundle(), raw=True, display_id=True)
        self._shown_at = time.monotonic()

    def _print_line(self, line: str) -> None:
        self.recent.append(line)
        self._refresh(force=True)

    def worker_changed(self, worker: int, device: str, status: str) -> None:
        super().worker_changed(worker, device, status)
        self._refresh()

    def trial_started(self, number: int, worker: int = 0) -> None:
        super().trial_started(number, worker)
        self._refresh()

    def epoch_ended(self, number, epoch, logs, worker: int = 0) -> None:
        super().epoch_ended(number, epoch, logs, worker)
        self._refresh()

    def sweep_finished(self) -> None:
        self.workers.clear()  # the final panel: counts and best, no idle workers
        self._refresh(force=True)

    def storage_notice(self, message: str | None, worker: int = 0) -> None:
        super().storage_notice(message, worker)
        self._refresh(force=True)

    def winner_started(self, trial: int) -> None:
        self.note = f"re-training the winner, trial {trial}"
        self._refresh(force=True)

    def winner_finished(self) -> None:
        self.note = ""
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        if self._handle is None:
            return
        if force or time.monotonic() - self._shown_at >= self.MIN_INTERVAL_S:
            self._handle.update(self._bundle(), raw=True)
            self._shown_at = time.monotonic()

    def _bundle(self) -> dict[str, str]:
        self.console.print(self._render())
        for line in [*self.recent, self.note] if self.note else self.recent:
            self.console.print(line, highlight=False, markup=False)
        text = self.console.export_text(clear=False)
        page = self.console.export_html(inline_styles=True, code_format=_PRE)
        return {"text/plain": text, "text/html": page}


_PRE = '<pre style="font-family: monospace; line-height: 1.35; margin: 0">{code}</pre>'


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (Jupyter, VS Code, Colab): rich's check."""
    return Console().is_jupyter


def progress_for(
    progress: bool | None, name: str, objective: str, direction: str, max_epochs: int
) -> SweepObserver:
    """The live view for a sweep run from Python: in a notebook's cell, or (``True``) in the
    terminal; ``None`` shows it in notebooks only, so scripts stay quiet."""
    if progress is None:
        progress = in_notebook()
    if not progress:
        return SweepObserver()
    if in_notebook():
        return NotebookProgress(name, objective, direction, max_epochs)
    return RichProgress(name, objective, direction, max_epochs)


@contextmanager
def quiet_optuna(observer: SweepObserver) -> Iterator[None]:
    """While a live view draws the sweep, Optuna's INFO lines (a study created, each trial
    finished) would repeat it around the view, in a cell or a terminal: hold them back to
    warnings until the sweep ends. sweep.log keeps a line per trial."""
    if not isinstance(observer, RichProgress):
        yield
        return
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def format_params(params: Mapping[str, Any]) -> str:
    """``name=value`` pairs, floats to 3 significant digits: short enough to read at a glance."""
    return " ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in params.items()
    )


def describe_trial(trial: FrozenTrial, objective: str) -> str:
    """One line per finished trial: state, value, why it ended early (a failed trial's reason,
    "diverged (loss became NaN at epoch 3)"), epochs and time."""
    record = TrialRecord.of(trial)
    value = record.value  # several objectives: the primary one's; pruned: its last reported
    shown = "" if value is None else f"{objective}={value:.4f}"
    outcome = " ".join(part for part in (shown, record.why_ended) if part)
    return (
        f"trial {trial.number:>4} {trial.state.name.lower():<8} {outcome}  "
        f"({record.epochs_run or 0} epochs, {record.wall_time_s or 0.0:.1f}s)"
    )
