"""Text from trials reaches the terminal as text: a failure reason, a parameter value or a
name that looks like rich markup is printed as it is, never parsed (TensorFlow's device
strings, "[/job:localhost/replica:0]", are a closing tag to rich)."""

import io

import fakes
from rich.console import Console

import sweeper
from sweeper.cli import main
from sweeper.report.live import RichProgress


def test_the_live_view_prints_a_reason_that_looks_like_markup_as_it_is(tmp_path):
    screen = io.StringIO()
    # The caller's own console, markup on (rich's default): the view must not rely on ours.
    progress = RichProgress(
        "fake_space", "val_accuracy", "maximize", 3, Console(file=screen, width=300)
    )
    sweeper.run_sweep(
        fakes.SPACE,
        n_trials=2,
        workers=None,
        results_dir=tmp_path,
        make_objective=fakes.markup_failing,
        observer=progress,
    )
    assert screen.getvalue().count(fakes.MARKUP_LIKE) == 2


def test_report_shows_such_a_reason_in_its_table(tmp_path, capsys, monkeypatch):
    sweeper.run_sweep(
        fakes.SPACE,
        n_trials=1,
        workers=None,
        results_dir=tmp_path,
        make_objective=fakes.markup_failing,
    )
    monkeypatch.setenv("COLUMNS", "250")  # room for the whole reason in its column
    assert main(["report", fakes.__file__, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert fakes.MARKUP_LIKE in out
