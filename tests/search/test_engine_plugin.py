"""A new engine is one module and one registry line: here, the line is a package's
``sweeper.engines`` entry point, and the engine (``plugin/sweeper_lowest_engine.py``) lives
only in the tests. Nothing else in sweeper knows it, yet every part of a sweep takes it."""

from pathlib import Path

import fakes
import pytest

import sweeper
from sweeper.cli.parser import build_parser
from sweeper.registry import ENGINES
from sweeper.storage.record import TrialRecord

PLUGINS = Path(__file__).parent / "plugin"


@pytest.fixture
def lowest_installed(monkeypatch):
    """The plugin package on the path, as pip would put it (worker processes inherit it)."""
    monkeypatch.syspath_prepend(str(PLUGINS))


def test_an_installed_engine_is_a_choice_of_the_cli_and_the_library(lowest_installed):
    assert ENGINES.names()[:2] == ["optuna", "kerastuner"] and "lowest" in ENGINES.names()
    args = build_parser().parse_args(["run", "digits_space", "--engine", "lowest"])
    assert sweeper.SweepConfig(engine=args.engine).engine == "lowest"
    # The engine checks the settings it cannot sweep with, as the built-in ones do.
    with pytest.raises(sweeper.SettingError) as caught:
        sweeper.SweepConfig(engine="lowest", sampler="random")
    assert caught.value.setting == "sampler"


def test_a_sweep_on_an_installed_engine_runs_in_worker_processes(lowest_installed, tmp_path):
    result = sweeper.run_sweep(
        fakes.SPACE,
        engine="lowest",
        n_trials=3,
        workers=2,
        starting_points=False,
        results_dir=tmp_path,
        make_objective=fakes.quick,
    )
    trials = result.study.trials
    assert len(trials) == 3 and all(t.params["x"] == 0.0 for t in trials)  # its sampler's
    assert {TrialRecord.of(t).engine for t in trials} == {"lowest-first"}
    assert result.study.user_attrs["engine"] == "lowest-first"
    assert set(result.leaderboard["engine"]) == {"lowest-first"}


def test_without_the_package_the_name_is_unknown_in_one_line():
    with pytest.raises(sweeper.SettingError, match="engine must be one of optuna, kerastuner"):
        sweeper.SweepConfig(engine="lowest")


def test_a_broken_engine_package_is_named_with_what_broke(tmp_path, monkeypatch):
    info = tmp_path / "sweeper_broken_engine-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sweeper-broken-engine\n")
    (info / "entry_points.txt").write_text("[sweeper.engines]\nbroken = no_such_module:Engine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(sweeper.SweeperError) as caught:
        sweeper.SweepConfig()
    message = str(caught.value)
    assert "engine 'broken' (no_such_module:Engine) cannot be loaded" in message
    assert "ModuleNotFoundError" in message and "\n" not in message
