"""The results folder of one space, ``results/<space>/``: the one place its file names live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ResultsDir:
    """Where a sweep of one space keeps what it produces (docs/storage.md: each file)."""

    path: Path

    @classmethod
    def of(cls, results_dir: str | Path, space_name: str) -> ResultsDir:
        return cls(Path(results_dir) / space_name)

    @property
    def journal(self) -> Path:
        """The default study storage (Optuna's journal file)."""
        return self.path / "study.journal"

    @property
    def log(self) -> Path:
        return self.path / "sweep.log"

    @property
    def leaderboard_csv(self) -> Path:
        return self.path / "leaderboard.csv"

    @property
    def leaderboard_html(self) -> Path:
        return self.path / "leaderboard.html"

    @property
    def winner_model(self) -> Path:
        return self.path / "winner.keras"

    @property
    def winner_card(self) -> Path:
        return self.path / "winner.json"

    @property
    def tensorboard(self) -> Path:
        """Per-trial TensorBoard logs, when the sweep writes them (``--tensorboard``)."""
        return self.path / "tensorboard"

    @property
    def workers(self) -> Path:
        """Worker processes' own output (TensorFlow's start-up lines, crashes)."""
        return self.path / "workers"

    def worker_log(self, slot: int) -> Path:
        return self.workers / f"worker-{slot}.log"

    @property
    def retrain_log(self) -> Path:
        """TensorFlow's own output while the winner re-trains in the run's process."""
        return self.workers / "retrain.log"

    def __str__(self) -> str:
        return str(self.path)


def as_results(folder: ResultsDir | str | Path) -> ResultsDir:
    """A space's results folder, given as a ``ResultsDir`` or as its path."""
    return folder if isinstance(folder, ResultsDir) else ResultsDir(Path(folder))
