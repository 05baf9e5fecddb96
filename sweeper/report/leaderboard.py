"""The leaderboard: every trial of a study, ranked, as a table scripts and people can read.

``leaderboard.csv`` for scripts, ``leaderboard.html`` (``html_report``) for people. Works from
the study storage alone and imports no Keras, so it is fast and can run while other processes
are still writing trials.

Ranking: completed trials by the objective in the study's direction, then pruned trials by
the best value they reported before being stopped, then failed trials, then trials still
running.
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
from sweeper.storage.record import TrialRecord

FIXED_COLUMNS = [
    "rank",
    "trial",
    "state",
    "value",
    "best_epoch",
    "epochs_run",
    "wall_time_s",
    "fit_time_s",
    "started",
    "seed",
]
# After the parameters: why a trial ended as it did, where it came from.
NOTE_COLUMNS = ["fail_reason", "stopped_by", "warm_start_from", "engine"]
_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAIL: 2}


def _best_reported(trial: FrozenTrial, maximize: bool) -> float | None:
    values = [v for v in trial.intermediate_values.values() if math.isfinite(v)]
    if not values:
        return None
    return max(values) if maximize else min(values)


def _value(trial: FrozenTrial, maximize: bool) -> float | None:
    if trial.state == TrialState.COMPLETE:
        return trial.value
    if trial.state == TrialState.PRUNED:
        return _best_reported(trial, maximize)
    return None


def _row(trial: FrozenTrial, maximize: bool) -> dict:
    record = TrialRecord.of(trial)
    row = {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "value": _value(trial, maximize),
        "best_epoch": record.best_epoch,
        "epochs_run": record.epochs_run,
        "wall_time_s": record.wall_time_s,
        "fit_time_s": record.fit_time_s,
        "started": trial.datetime_start.isoformat(timespec="seconds")
        if trial.datetime_start
        else None,
        "seed": record.seed,
    }
    row.update(record.metrics)
    row.update({f"params_{name}": value for name, value in trial.params.items()})
    row["fail_reason"] = record.fail_reason
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


def leaderboard(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, ranked; parameters a condition left inactive are empty."""
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.get_trials(deepcopy=False)

    def order(trial: FrozenTrial):
        value = _value(trial, maximize)
        missing = value is None or not math.isfinite(value)
        key = 0.0 if value is None or missing else (-value if maximize else value)
        return (_STATE_ORDER.get(trial.state, 3), missing, key, trial.number)

    ranked = sorted(trials, key=order)
    frame = pd.DataFrame([_row(t, maximize) for t in ranked])
    if frame.empty:
        return pd.DataFrame(columns=[*FIXED_COLUMNS, *_param_columns(study, frame), *NOTE_COLUMNS])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    metric_cols = sorted(
        c
        for c in frame.columns
        if c not in FIXED_COLUMNS and c not in NOTE_COLUMNS and not c.startswith("params_")
    )
    frame = frame.reindex(
        columns=[*FIXED_COLUMNS, *metric_cols, *_param_columns(study, frame), *NOTE_COLUMNS]
    )
    for col in ("best_epoch", "epochs_run", "seed"):
        frame[col] = frame[col].astype("Int64")
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
