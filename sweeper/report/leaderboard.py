"""The leaderboard: every trial of a study, ranked, as a table scripts and people can read.

``leaderboard.csv`` for scripts, ``leaderboard.html`` (``html_report``) for people. Works from
the study storage alone and imports no Keras, so it is fast and can run while other processes
are still writing trials.

Ranking: completed trials by the objective in the study's direction (with several
objectives, by Pareto rank first; those that break a constraint after the rest), then pruned
trials by the best value they reported before being stopped, then failed trials, then trials
still running. Trials queued and not yet begun (``--enqueue`` points, a starting point the
budget ended before) have nothing to rank: they are left off (``record.count_queued``). Every
trial's measured costs are columns (``COST_COLUMNS``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import not_writable
from sweeper.files import atomic_path, write_text
from sweeper.results import ResultsDir, as_results
from sweeper.space.goals import COSTS
from sweeper.storage.record import TrialRecord
from sweeper.storage.standing import StudyGoals, tie_order

FIXED_COLUMNS = [
    "rank",
    "trial",
    "state",
    "value",
    "best_epoch",
    "epochs_run",
    "wall_time_s",
    "fit_time_s",
    "cost_time_s",
    "started",
    "seed",
]
# Where a sweep weighs several objectives or has constraints: after "value".
STANDING_COLUMNS = ["pareto_rank", "feasible"]
# What every trial's model costs (space.goals.COSTS), measured once it trains; empty where a
# cost could not be measured (cost_errors says why) or the trial predates costs.
COST_COLUMNS = list(COSTS)
# After the parameters: why a trial ended as it did, where it came from.
NOTE_COLUMNS = ["fail_reason", "cost_errors", "stopped_by", "warm_start_from", "engine"]
_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 2, TrialState.FAIL: 3}


def _row(trial: FrozenTrial, goals: StudyGoals) -> dict:
    record = TrialRecord.of(trial)
    row = {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "value": goals.primary_value(trial),
        "best_epoch": record.best_epoch,
        "epochs_run": record.epochs_run,
        "wall_time_s": record.wall_time_s,
        "fit_time_s": record.fit_time_s,
        "cost_time_s": record.cost_time_s,
        "started": trial.datetime_start.isoformat(timespec="seconds")
        if trial.datetime_start
        else None,
        "seed": record.seed,
    }
    if goals.constraints:
        row["feasible"] = goals.feasible(trial) if record.costs or record.metrics else None
    row.update({name: record.costs.get(name) for name in COST_COLUMNS})
    row.update(record.metrics)
    row.update({f"params_{name}": value for name, value in trial.params.items()})
    row["fail_reason"] = record.fail_reason
    row["cost_errors"] = (
        "; ".join(f"{name}: {why}" for name, why in record.cost_errors.items()) or None
    )
    row["stopped_by"] = record.stopped_by
    row["warm_start_from"] = record.warm_start_from
    row["engine"] = record.engine
    return row


def _param_columns(study: optuna.Study, frame: pd.DataFrame) -> list[str]:
    """Every declared parameter, in the space's order, even one no trial has used yet, so
    the columns do not shift as a study grows; then any the declaration no longer names."""
    declared = [f"params_{name}" for name in study.user_attrs.get("params", [])]
    seen = sorted(c for c in frame.columns if c.startswith("params_") and c not in declared)
    return [*declared, *seen]


def _standing_columns(goals: StudyGoals) -> list[str]:
    return [
        *(["pareto_rank"] if goals.several else []),
        *(["feasible"] if goals.constraints else []),
    ]


def leaderboard(study: optuna.Study) -> pd.DataFrame:
    """One row per trial that has begun, ranked; parameters a condition left inactive are
    empty.

    Ranking: completed trials that keep the constraints first, by Pareto rank when the sweep
    has several objectives, then by the primary objective (ties: ``tie_order``, as the
    winner's); then completed trials that break a constraint, pruned trials by the best value
    they reported before being stopped, failed trials, and trials still running."""
    goals = StudyGoals.of(study)
    begun = (*_STATE_ORDER, TrialState.RUNNING)
    trials = study.get_trials(deepcopy=False, states=begun)
    pareto = goals.pareto_ranks(trials) if goals.several else {}

    def order(trial: FrozenTrial):
        state = _STATE_ORDER.get(trial.state, 4)
        if state == 0 and goals.constraints and not goals.feasible(trial):
            state = 1
        value = goals.primary_value(trial)
        missing = value is None or not math.isfinite(value)
        key = 0.0 if missing else -goals.primary.better(value)  # type: ignore[arg-type]
        return (state, pareto.get(trial.number, math.inf), missing, key, tie_order(trial))

    ranked = sorted(trials, key=order)
    standing = _standing_columns(goals)
    fixed = [*FIXED_COLUMNS[:4], *standing, *FIXED_COLUMNS[4:], *COST_COLUMNS]
    frame = pd.DataFrame([_row(t, goals) for t in ranked])
    if frame.empty:
        return pd.DataFrame(columns=[*fixed, *_param_columns(study, frame), *NOTE_COLUMNS])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    if goals.several:
        frame["pareto_rank"] = [pareto.get(t.number) for t in ranked]
    metric_cols = sorted(
        c
        for c in frame.columns
        if c not in fixed and c not in NOTE_COLUMNS and not c.startswith("params_")
    )
    frame = frame.reindex(
        columns=[*fixed, *metric_cols, *_param_columns(study, frame), *NOTE_COLUMNS]
    )
    for col in ("best_epoch", "epochs_run", "seed", "params", "pareto_rank"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    if "feasible" in frame:
        frame["feasible"] = frame["feasible"].astype("boolean")
    return frame


def read_winner(folder: ResultsDir | Path) -> dict | None:
    """The card ``retrain`` left in the results folder, or None if there is none (or it is
    unreadable, e.g. mid-write by an older version: the report goes on without it)."""
    try:
        return json.loads(as_results(folder).winner_card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_leaderboard(study: optuna.Study, folder: ResultsDir | Path) -> Path:
    """Write ``leaderboard.csv`` and ``leaderboard.html`` into the space's results folder;
    returns the CSV's path. Each replaces the old file in one step: readers never see a
    half-written one."""
    from sweeper.report.page import render_html  # plotly loads only when a page is written

    results = as_results(folder)
    frame = leaderboard(study)
    try:
        results.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(results.leaderboard_csv) as tmp:
            frame.to_csv(tmp, index=False)
        write_text(results.leaderboard_html, render_html(study, frame, read_winner(results)))
    except OSError as exc:  # a read-only folder: say so, not a traceback
        raise not_writable(results.path, exc) from exc
    return results.leaderboard_csv
