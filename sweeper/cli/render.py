"""What the commands print: the top of the leaderboard and the winner."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd
from rich.console import Console
from rich.table import Table

from sweeper.report.leaderboard import leaderboard
from sweeper.report.live import format_params
from sweeper.results import ResultsDir
from sweeper.storage.record import count_queued
from sweeper.storage.standing import StudyGoals

if TYPE_CHECKING:
    from sweeper.training.retrain import Winner

TOP_ROWS = 10  # leaderboard rows printed in the terminal; the files hold them all


def show_winner(winner: Winner, console: Console) -> None:
    card = winner.card
    tested = (
        ", ".join(f"{name} {value:.4f}" for name, value in card["test_metrics"].items())
        if card["test_metrics"]
        else "none (the space has no test split)"
    )
    console.print(
        f"winner: trial {card['trial']} re-trained for {card['epochs']} epochs on "
        f"{card['train_examples']} examples; test {tested}",
        highlight=False,
    )
    rule = card.get("rule") or ""
    plainly_best = rule.startswith("best ") and "keep" not in rule  # nothing to explain
    if rule and not plainly_best:
        console.print(f"chosen by {rule}: {card.get('why', '')}", highlight=False)
    console.print(
        f"saved {winner.model_path} and {winner.card_path}", highlight=False, soft_wrap=True
    )


def _number(value: Any) -> str:
    """A cost or metric: counts in full (12,345), the rest to 4 significant digits."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() and abs(number) >= 1000 else f"{number:.4g}"


def _cell(row: dict, column: str, fmt: str = "{}") -> str:
    return "" if pd.isna(row[column]) else fmt.format(row[column])


def show_leaderboard(study: optuna.Study, results: ResultsDir, console: Console) -> None:
    """The top of the leaderboard as a table, and where the whole of it is."""
    frame = leaderboard(study)
    goals = StudyGoals.of(study)
    waiting = count_queued(study)
    title = f"{study.study_name}: top {min(TOP_ROWS, len(frame))} of {len(frame)} trials"
    if waiting:
        title += f"; {waiting} queued, not yet begun (the next run tries them first)"
    table = Table(title=title, title_justify="left")
    # The other objectives, the Pareto rank and feasibility, where the sweep has them.
    extra = [
        *(g.name for g in goals.goals[1:]),
        *(["pareto_rank"] if goals.several else []),
        *(["feasible"] if goals.constraints else []),
    ]
    headers = ["rank", "trial", "state", goals.primary.name, *extra, "epochs", "time"]
    for header in headers:
        table.add_column(
            header.replace("pareto_rank", "front"),
            justify="left" if header == "state" else "right",
            no_wrap=True,
        )
    # One line a trial: the parameters are cut at the terminal's edge, the files hold them all.
    fixed = 42 + sum(len(h) + 3 for h in headers[3:-2])  # the other columns, borders
    table.add_column(
        "parameters, or why it failed",
        no_wrap=True,
        overflow="ellipsis",
        max_width=max(20, console.width - fixed),
    )
    for row in frame.head(TOP_ROWS).to_dict("records"):
        params = {
            str(c).removeprefix("params_"): v
            for c, v in row.items()
            if str(c).startswith("params_") and not pd.isna(v)
        }
        epochs = (
            f"{_cell(row, 'best_epoch')}/{row['epochs_run']}"
            if _cell(row, "epochs_run") not in ("", "0")
            else ""
        )
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            row["state"],
            _cell(row, "value", "{:.4f}"),
            *(_number(row.get(column)) for column in extra),
            epochs,
            _cell(row, "wall_time_s", "{:.1f}s"),
            _cell(row, "fail_reason") if row["state"] == "fail" else format_params(params),
        )
    console.print(table)
    console.print(
        f"leaderboard: {results.leaderboard_csv} and {results.leaderboard_html}",
        highlight=False,
        soft_wrap=True,
    )
