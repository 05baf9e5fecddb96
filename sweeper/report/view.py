"""A sweep seen from Python: what ``run``, ``run_sweep`` and ``load`` hand back.

The leaderboard as a DataFrame, the best parameters, the winner, the report's plots as plotly
figures, and a notebook display (``_repr_html_``: the top of the leaderboard). Everything is
read from the study's storage when asked for, so a view of a sweep that is still running
(``sweeper.load``, from another notebook or machine) shows its trials as they finish.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from sweeper.errors import SweeperError, UsageError
from sweeper.report.leaderboard import leaderboard, read_winner
from sweeper.results import ResultsDir
from sweeper.space.space import Space
from sweeper.storage.record import TrialRecord
from sweeper.storage.standing import StudyGoals

SHOWN_ROWS = 10  # of the leaderboard, in a notebook's display of a sweep


@dataclass(frozen=True, repr=False)
class SweepView:
    """A space's study and results folder, read on demand."""

    study: optuna.Study
    results: ResultsDir

    def __repr__(self) -> str:
        best = self.best_trial
        value = None if best is None else TrialRecord.of(best).value
        shown = "" if best is None else f", best {value:.4g} (trial {best.number})"
        return (
            f"<{type(self).__name__} {self.study.study_name!r}: "
            f"{len(self.study.get_trials(deepcopy=False))} trials{shown}, in {self.results}>"
        )

    @property
    def results_dir(self) -> Path:
        return self.results.path

    @property
    def leaderboard(self) -> pd.DataFrame:
        """Every trial, ranked, as ``leaderboard.csv`` holds them (read afresh each time)."""
        return leaderboard(self.study)

    @property
    def goals(self) -> StudyGoals:
        """What the sweep optimizes and picks by: objectives, constraints, winner rule."""
        return StudyGoals.of(self.study)

    @property
    def best_trial(self) -> FrozenTrial | None:
        """The completed trial best on the (primary) objective, of those that keep the
        constraints; None before one completes."""
        return self.goals.best(self.study.get_trials(deepcopy=False))

    @property
    def winner_trial(self) -> FrozenTrial | None:
        """The trial ``retrain`` re-trains: the best one, or with several objectives (or a
        winner rule) the one the rule picks; None while there is none to pick."""
        try:
            return self.goals.choose(self.study).trial
        except SweeperError:
            return None

    @property
    def pareto_front(self) -> pd.DataFrame:
        """The leaderboard's rows on the Pareto front (``pareto_rank`` 1): the trials that
        keep the constraints and that no other beats on every objective. With one objective,
        the best trial."""
        ranks = self.goals.pareto_ranks(self.study.get_trials(deepcopy=False))
        front = [number for number, rank in ranks.items() if rank == 1]
        frame = self.leaderboard
        return frame[frame["trial"].isin(front)].reset_index(drop=True)

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self.best_trial
        return None if best is None else dict(best.params)

    @property
    def winner_card(self) -> dict[str, Any] | None:
        """``winner.json``: the re-trained winner's trial, epochs and test metrics."""
        return read_winner(self.results)

    @property
    def winner_model(self) -> Path | None:
        """``winner.keras``, once the winner has been re-trained."""
        path = self.results.winner_model
        return path if path.is_file() else None

    def plot(self, kind: str = "history"):
        """One of the report's plots as a plotly figure: ``history``, ``importance``,
        ``curves`` (learning curves), ``parallel`` or ``pareto`` (the primary objective
        against each cost, the front drawn). A notebook draws it inline."""
        from sweeper.report.plots import PLOTS, NoPlot  # plotly loads only now

        plots = {plot.key: plot for plot in PLOTS}
        if kind not in plots:
            raise UsageError(f"unknown plot {kind!r}; choose from {', '.join(plots)}")
        try:
            figure, _ = plots[kind].draw(self.study, self.leaderboard)
        except NoPlot as exc:
            raise SweeperError(f"no {kind} plot for {self.study.study_name!r}: {exc}") from None
        figure.update_layout(template="plotly_white", title=plots[kind].title)
        return figure

    def _repr_html_(self) -> str:
        frame = self.leaderboard
        shown = frame.head(SHOWN_ROWS)
        columns = [
            c for c in ("rank", "trial", "state", "value", "best_epoch", "epochs_run") if c in shown
        ] + [c for c in shown.columns if c.startswith("params_")]
        notes = [c for c in ("fail_reason",) if c in shown and shown[c].notna().any()]
        cells = shown[columns + notes].astype(object)
        table = (
            cells.where(cells.notna(), "")  # pandas' <NA> of the integer columns too
            .rename(columns=lambda c: c.removeprefix("params_"))
            .to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        )
        more = len(frame) - len(shown)
        tail = (
            f"<p>{more} more trial{'s' if more != 1 else ''} in "
            f"<code>{html.escape(str(self.results.leaderboard_html))}</code></p>"
            if more > 0
            else ""
        )
        return f"<div><p>{self._headline(frame)}</p>{table}{tail}</div>"

    def _headline(self, frame: pd.DataFrame) -> str:
        counts = Counter(frame["state"]) if not frame.empty else Counter()
        states = ", ".join(f"{counts[s]} {s}" for s in ("complete", "pruned", "fail") if counts[s])
        parts = [
            f"<strong>{html.escape(self.study.study_name)}</strong>: {len(frame)} trials"
            + (f" ({states})" if states else "")
        ]
        best = self.best_trial
        if best is not None:
            objective = self.goals.primary.name
            value = TrialRecord.of(best).value
            parts.append(f"best {html.escape(objective)} {value:.4g} (trial {best.number})")
        card = self.winner_card
        if card and card.get("test_metrics"):
            tested = ", ".join(f"{k} {v:.4g}" for k, v in card["test_metrics"].items())
            parts.append(f"winner (trial {card.get('trial')}) on the test set: {tested}")
        return html.escape("; ").join(parts)


def load(
    space: Space | str,
    *,
    storage: str | None = None,
    results_dir: str | Path = "results",
) -> SweepView:
    """Reopen a sweep, finished or still running: ``space`` is a ``Space``, a space's name or
    .py path (its study in ``results_dir``, or in ``storage``), or a results folder such as
    ``"results/mnist_space"``. Nothing is written; a missing study is an error."""
    from sweeper.space.loader import load_space
    from sweeper.storage.storages import load_existing_study

    if isinstance(space, str) and Path(space).is_dir():
        results = ResultsDir(Path(space))
        name, ref = results.path.name, space
    else:
        name = space.name if isinstance(space, Space) else load_space(space).name
        ref = space if isinstance(space, str) else name
        if not name:
            raise UsageError("this search space has no name; load it by the name it ran with")
        results = ResultsDir.of(results_dir, name)
    return SweepView(load_existing_study(name, storage, results.path, ref), results)
