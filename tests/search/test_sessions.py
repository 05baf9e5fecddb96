"""Processes that share a study draw apart: two `run`s started at once on the same study,
a `worker` joining, a resumed sweep. Only the session that created the study seeds its first
worker with the sweep's seed, so one sweep in one process stays reproducible."""

import subprocess
import sys
import textwrap
from pathlib import Path

import fakes

from sweeper import SweepConfig
from sweeper.search.study import StudyOpener, derive_seed

TESTS = Path(__file__).parents[1]


def _draws(study, n: int) -> list[float]:
    draws = []
    for _ in range(n):
        trial = study.ask()
        draws.append(trial.suggest_float("x", 0.0, 1.0))
        study.tell(trial, 0.5)
    return draws


def test_two_sessions_opening_a_new_study_at_once_draw_apart(tmp_path):
    config = SweepConfig.of(
        n_trials=20, workers=None, starting_points=False, results_dir=tmp_path
    ).resolve(fakes.SPACE)
    first, second = StudyOpener(fakes.SPACE, config), StudyOpener(fakes.SPACE, config)
    studies = first(), second()  # both before either asks: as two runs started together
    assert (first.session, second.session != 0) == (0, True)
    draws = _draws(studies[0], 5) + _draws(studies[1], 5)
    assert len(set(draws)) == len(draws)
    first.close(), second.close()


def test_the_session_that_created_the_study_seeds_as_before():
    assert derive_seed(5, 0) == 5 and derive_seed(5, 0, 0, 0) == 5
    assert derive_seed(5, 3) == derive_seed(5, 3, 0, 0)  # a resumed single process: unchanged
    assert len({derive_seed(5, 0, 0, session) for session in (1, 2, 3)}) == 3


def test_two_runs_started_together_draw_no_configuration_twice(tmp_path):
    """Two processes each run `run_sweep` on one journal study at the same moment (a barrier
    file releases them), as two `python -m sweeper run` would; every trial's draw differs.
    The study holds both runs' trials: each run counts the other's against the budget."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(TESTS)!r})
        import fakes, sweeper
        go = Path({str(tmp_path / "go")!r})
        while not go.exists():
            time.sleep(0.01)
        sweeper.run_sweep(fakes.SPACE, n_trials=12, workers=None, starting_points=False,
                          results_dir={str(tmp_path / "results")!r}, make_objective=fakes.quick)
        """
    )
    runs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    import time

    time.sleep(3)  # both imported sweeper and wait at the barrier
    (tmp_path / "go").touch()
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    import sweeper

    trials = sweeper.load(str(tmp_path / "results" / "fake_space")).study.trials
    assert len(trials) >= 12
    xs = [t.params["x"] for t in trials]
    assert len(set(xs)) == len(xs)


def test_a_script_sweep_prints_no_optuna_study_creation_line(tmp_path):
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import fakes, sweeper\n"
        f"sweeper.run_sweep(fakes.SPACE, n_trials=1, workers=None, "
        f"results_dir={str(tmp_path)!r}, make_objective=fakes.quick)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "A new study created" not in done.stderr + done.stdout
