"""The report from the study storage alone: leaderboard.csv, leaderboard.html, the CLI."""

import csv
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from conftest import (
    DIGITS_SOURCE,
    MARKUP_REASON,
    MIXED_TRIALS,
    NEVER_BUILDS,
    copy_results,
    file_digest,
)

from sweeper.cli import main
from sweeper.report.leaderboard import COST_COLUMNS, FIXED_COLUMNS, NOTE_COLUMNS
from sweeper.storage.storages import load_existing_study, open_storage

JOURNAL_NAME = "study.journal"


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture
def results(mixed_results, tmp_path):
    return copy_results(mixed_results, tmp_path / "results")


def test_csv_columns_ranking_inactive_parameters_and_reasons(results, digits_space, capsys):
    assert main(["report", "digits_space", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "digits_space: top 7 of 7 trials" in out and "leaderboard.html" in out

    columns, rows = read_csv(results / "digits_space" / "leaderboard.csv")
    params = [f"params_{p.name}" for p in digits_space.all_params]
    metrics = ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]  # lr: plateau
    assert columns == [*FIXED_COLUMNS, *COST_COLUMNS, *metrics, *params, *NOTE_COLUMNS]

    # Completed by value, then pruned (the diverged one reported no value: last), then failed,
    # then the running one.
    assert [r["state"] for r in rows] == ["complete"] * 3 + ["pruned", "pruned", "fail", "running"]
    assert [r["rank"] for r in rows] == [str(n) for n in range(1, 8)]
    complete = [float(r["value"]) for r in rows[:3]]
    assert complete == sorted(complete, reverse=True)
    assert sorted(r["trial"] for r in rows[:3]) == ["2", "3", "5"]
    assert rows[3]["trial"] == "1" and float(rows[3]["value"]) < 0.3  # its best reported value
    assert [r["trial"] for r in rows[4:]] == ["0", "4", "6"]

    study = load_existing_study("digits_space", None, results / "digits_space")
    for row in rows:
        trial = study.trials[int(row["trial"])]
        for column in params:  # empty exactly where a condition left the parameter inactive
            name = column.removeprefix("params_")
            assert (row[column] != "") == (name in trial.params), (row["trial"], name)
        if trial.state != optuna.trial.TrialState.RUNNING:
            assert int(row["seed"]) == trial.user_attrs["seed"]
            assert int(row["epochs_run"]) == trial.user_attrs["epochs_run"]
            assert float(row["wall_time_s"]) == trial.user_attrs["wall_time_s"]
            assert row["started"] == trial.datetime_start.isoformat(timespec="seconds")
    by_trial = {r["trial"]: r for r in rows}
    assert by_trial["3"]["params_momentum"] == "0.9" and by_trial["2"]["params_momentum"] == ""
    assert by_trial["5"]["params_plateau_factor"] == "0.5"
    assert all(r["params_weight_decay"] == "" for r in rows)  # declared, never active
    assert by_trial["0"]["fail_reason"] == "loss became NaN at epoch 1"
    assert by_trial["0"]["stopped_by"] == "diverged" and by_trial["1"]["stopped_by"] == ""
    assert by_trial["4"]["fail_reason"] == f"model could not be built: ValueError: {MARKUP_REASON}"
    assert by_trial["0"]["value"] == "" and by_trial["6"]["value"] == ""
    assert all(r["fail_reason"] == "" for r in rows if r["state"] != "fail" and r["trial"] != "0")
    assert float(by_trial["2"]["val_accuracy"]) == pytest.approx(float(by_trial["2"]["value"]))
    # Costs: measured on every trial that trained (complete, pruned), on no other.
    for row in rows:
        trained = row["state"] in ("complete", "pruned")
        assert all((row[cost] != "") == trained for cost in COST_COLUMNS), row["trial"]
    assert int(by_trial["3"]["params"]) == 75 * 64 + 10  # 64 inputs, 64 units, 10 classes
    assert float(by_trial["2"]["train_s"]) == float(by_trial["2"]["fit_time_s"])


def test_html_carries_the_study_and_escapes_trial_text(results):
    assert main(["report", "digits_space", "--results-dir", str(results)]) == 0
    page = (results / "digits_space" / "leaderboard.html").read_text()
    assert "&lt;b&gt;17 units&lt;/b&gt; &amp; no more" in page
    assert MARKUP_REASON not in page
    assert page.count('<tr class="state-') == len(MIXED_TRIALS) + 1
    for key in ("history", "importance", "curves", "parallel"):
        assert f'id="plot-{key}"' in page
    assert "<script src=" not in page and "<link " not in page  # nothing fetched from outside
    assert "Not re-trained yet" in page  # no winner.json in this folder
    # Parameters are headed by their name, unless a metric has it (the plateau's learning rate).
    assert 'class="param">momentum</th>' in page
    assert 'class="param">params_learning_rate</th>' in page and '">learning_rate</th>' in page


def test_queued_trials_are_counted_not_ranked(results, capsys):
    # A configuration queued and not begun (an --enqueue point, a starting point the budget
    # ended before) has no value to rank: it is left off the files, and counted.
    study = load_existing_study("digits_space", None, results / "digits_space")
    study.enqueue_trial(MIXED_TRIALS[2], skip_if_exists=False)
    assert main(["report", "digits_space", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "top 7 of 7 trials; 1 queued, not yet begun" in out
    _, rows = read_csv(results / "digits_space" / "leaderboard.csv")
    assert len(rows) == len(MIXED_TRIALS) + 1 and "waiting" not in {r["state"] for r in rows}
    page = (results / "digits_space" / "leaderboard.html").read_text()
    assert "1 queued, not yet begun" in page
    assert page.count('<tr class="state-') == len(MIXED_TRIALS) + 1


def test_report_reads_a_study_without_writing_to_it(results):
    journal = results / "digits_space" / JOURNAL_NAME
    before = file_digest(journal)
    assert main(["report", "digits_space", "--results-dir", str(results)]) == 0
    assert file_digest(journal) == before


def test_report_of_a_study_with_no_trial_and_of_one_with_only_failures(tmp_path, failed_results):
    empty = tmp_path / "empty"
    optuna.create_study(
        study_name="digits_space",
        direction="maximize",
        storage=open_storage(None, empty / "digits_space"),
    )
    assert main(["report", "digits_space", "--results-dir", str(empty)]) == 0
    columns, rows = read_csv(empty / "digits_space" / "leaderboard.csv")
    assert rows == [] and columns[: len(FIXED_COLUMNS)] == FIXED_COLUMNS
    page = (empty / "digits_space" / "leaderboard.html").read_text()
    assert "No trial has completed yet" in page and "Plotly.newPlot" not in page

    failed = copy_results(failed_results, tmp_path / "failed")
    assert main(["report", "digits_space", "--results-dir", str(failed)]) == 0
    _, rows = read_csv(failed / "digits_space" / "leaderboard.csv")
    assert [r["state"] for r in rows] == ["fail"]
    page = (failed / "digits_space" / "leaderboard.html").read_text()
    assert NEVER_BUILDS in page
    assert "parameter importances need at least two completed trials" in page


def test_missing_study_is_a_clear_error_and_creates_nothing(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["report", "digits_space", "--results-dir", str(results)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"sweeper: error: no study 'digits_space' in {results}/digits_space/"
        f"{JOURNAL_NAME}; run `python -m sweeper run digits_space` first, or pass "
        "the --storage / --results-dir it ran with"
    )
    assert not results.exists()

    db = tmp_path / "sweeps.db"
    assert main(["report", "digits_space", "--storage", f"sqlite:///{db}"]) == 1
    assert "no study 'digits_space' in sqlite:///" in capsys.readouterr().err
    assert not db.exists()

    assert main(["report", "no_such_space"]) == 2
    assert "unknown search space 'no_such_space'" in capsys.readouterr().err


def test_study_missing_from_an_existing_database_is_a_clear_error(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    optuna.create_study(study_name="another_space", storage=url)
    assert main(["report", "digits_space", "--storage", url]) == 1
    assert "no study 'digits_space' in sqlite:///" in capsys.readouterr().err


def test_report_imports_no_keras(mixed_results, tmp_path):
    """`report` starts fast: neither the report modules nor the command load Keras."""
    results = copy_results(mixed_results, tmp_path / "results")
    code = (
        "import sys\n"
        "import sweeper.report.leaderboard, sweeper.report.page\n"
        "from sweeper.cli import main\n"
        f"assert main(['report', 'digits_space', '--results-dir', {str(results)!r}]) == 0\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_report_while_another_process_is_still_writing_the_study(tmp_path, capsys):
    """A real sweep in another process; `report` runs between and during its trials."""
    # digits_space without early stopping, so a trial trains for seconds.
    space_file = tmp_path / "spaces" / "digits_space.py"
    space_file.parent.mkdir()
    space_file.write_text(DIGITS_SOURCE.replace("patience=2", "patience=1000"))
    results = tmp_path / "results"
    log = results / "digits_space" / "sweep.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sweeper",
            "run",
            str(space_file),
            "--trials",
            "3",
            "--max-epochs",
            "200",
            "--pruner",
            "none",
            "--no-retrain",
            "--results-dir",
            str(results),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "trial 0 " not in (
            log.read_text() if log.exists() else ""
        ):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        for _ in range(2):  # and again over its own files
            assert main(["report", str(space_file), "--results-dir", str(results)]) == 0
            _, rows = read_csv(results / "digits_space" / "leaderboard.csv")
            assert [r["state"] for r in rows] == ["complete", "running"]
        assert "top 2 of 2 trials" in capsys.readouterr().out
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130  # the sweep itself went on undisturbed until stopped


def test_importances_of_a_big_study_come_from_ped_anova_and_say_so(monkeypatch):
    """fANOVA on a big study took most of the report's time: past FANOVA_TRIALS completed
    trials the page uses PED-ANOVA, which still finds the parameter that matters, and the
    caption says so."""
    import optuna

    from sweeper.report import plots as html_report

    monkeypatch.setattr(html_report, "FANOVA_TRIALS", 30)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(
        lambda t: 10 * t.suggest_float("matters", 0, 1) + t.suggest_float("noise", 0, 0.1), 80
    )
    frame = None  # the importances read the study alone
    [plot] = [p for p in html_report.PLOTS if p.key == "importance"]
    figure, caption = plot.draw(study, frame)
    assert "With 80 completed trials, by PED-ANOVA" in caption
    bars = dict(zip(figure.data[0].y, figure.data[0].x, strict=True))
    assert bars["matters"] > bars["noise"]
    monkeypatch.setattr(html_report, "FANOVA_TRIALS", 80)  # all of them: fANOVA, no note
    figure, caption = plot.draw(study, frame)
    assert caption == plot.caption
    bars = dict(zip(figure.data[0].y, figure.data[0].x, strict=True))
    assert bars["matters"] > 0.9 > bars["noise"]


def test_parallel_coordinates_of_a_big_study_draw_its_best(monkeypatch):
    """Optuna draws one line object per trial: past PARALLEL_TRIALS the page draws the best
    that many, and says so."""
    import optuna

    from sweeper.report import plots as html_report

    monkeypatch.setattr(html_report, "PARALLEL_TRIALS", 10)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), 30)
    [plot] = [p for p in html_report.PLOTS if p.key == "parallel"]
    figure, caption = plot.draw(study, None)
    assert caption.endswith("The best 10 of the 30 completed trials.")
    lines = [trace for trace in figure.data if trace.mode == "lines"]
    best = sorted(t.value for t in study.trials)[:10]
    assert len(lines) == 10
    drawn = sorted(float(line.customdata[0][1]) for line in lines)  # the objective's axis
    assert drawn == pytest.approx(best, abs=1e-3)
