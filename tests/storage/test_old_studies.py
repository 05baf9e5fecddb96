"""Studies written before the code moved into its stage packages open unchanged: a journal
file and a SQLite database that the flat-package version (git 5260b7f) wrote, by
``run_sweep(fakes.SPACE, make_objective=fakes.quick, workers=None)`` (seeds 3 and 5).
The database is kept as its SQL dump, and rebuilt here."""

import shutil
import sqlite3
from pathlib import Path

import fakes

import sweeper
from sweeper.report.leaderboard import COST_COLUMNS
from sweeper.storage.record import TrialRecord, counted

DATA = Path(__file__).parent / "data"


def test_a_journal_from_before_the_move_reports_and_resumes(tmp_path):
    folder = tmp_path / "results" / "fake_space"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "pre_layout.journal", folder / "study.journal")

    view = sweeper.load(str(folder))
    frame = view.leaderboard
    assert list(frame["state"]) == ["complete"] * 4
    assert [round(v, 4) for v in frame["value"]] == [0.7081, 0.5508, 0.5, 0.2909]
    assert view.study.user_attrs["engine"] == "optuna" and view.study.user_attrs["n_trials"] == 4
    assert all(TrialRecord.of(t).owner["host"] == "old-host" for t in view.study.trials)
    # Written before costs were measured: its cost columns are empty, its one objective is
    # its goal, and the winner is its best trial.
    assert frame[COST_COLUMNS].isna().all().all() and frame["cost_errors"].isna().all()
    assert [str(goal) for goal in view.goals.goals] == ["val_accuracy:max"]
    assert view.winner_trial.number == view.best_trial.number == frame["trial"].iloc[0]

    resumed = sweeper.run_sweep(
        fakes.SPACE,
        n_trials=6,
        workers=None,
        results_dir=tmp_path / "results",
        make_objective=fakes.quick,
    )
    assert resumed.trials_run == 2 and counted(resumed.study.trials) == 6
    assert (folder / "leaderboard.html").is_file()


def test_a_database_from_before_the_move_reports_and_resumes(tmp_path):
    database = tmp_path / "old.db"
    with sqlite3.connect(database) as connection:
        connection.executescript((DATA / "pre_layout.sql").read_text())
    storage = f"sqlite:///{database}"

    view = sweeper.load(fakes.SPACE, storage=storage, results_dir=tmp_path)
    assert [round(v, 4) for v in view.leaderboard["value"]] == [0.8707, 0.5, 0.222]

    resumed = sweeper.run_sweep(
        fakes.SPACE,
        n_trials=5,
        workers=None,
        storage=storage,
        results_dir=tmp_path,
        make_objective=fakes.quick,
    )
    assert resumed.trials_run == 2 and counted(resumed.study.trials) == 5
