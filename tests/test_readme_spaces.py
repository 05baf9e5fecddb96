"""README's "Two complete spaces": each module and its command run exactly as written there."""

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()
MODULES = dict(re.findall(r"<!-- readme-space: (\S+) -->\n```python\n(.*?)```", README, re.S))
COMMANDS = dict(re.findall(r"<!-- readme-run: (\S+) -->\n```\n(.*?)```", README, re.S))


def test_every_example_has_its_command():
    assert set(MODULES) == set(COMMANDS) == {"my_classifier.py", "my_regression.py"}


def run_as_written(name, folder):
    (folder / name).write_text(MODULES[name])
    [command] = COMMANDS[name].strip().splitlines()
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "sweeper"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=folder, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = folder / "results" / Path(name).stem
    with open(results / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads((results / "winner.json").read_text())


@pytest.mark.parametrize("name", ["my_classifier.py", "my_regression.py"])
def test_the_readme_space_runs_as_written(name, tmp_path):
    rows, card = run_as_written(name, tmp_path)
    assert len(rows) == 4
    # Complete trials rank first, ordered by the objective in the space's direction.
    ranked = [float(row["value"]) for row in rows if row["state"] == "complete"]
    if name == "my_regression.py":
        assert ranked == sorted(ranked)  # minimize: the lowest validation MAE first
        assert {row["params_loss"] for row in rows} <= {"mse", "mae", "huber"}
        assert card["test_metrics"]["mae"] < 1.0  # below the target's deviation
    else:
        assert ranked == sorted(ranked, reverse=True)
        assert {row["params_class_weight"] for row in rows} <= {"none", "balanced"}
        assert card["test_metrics"]["accuracy"] > 0.85
    assert card["trial"] == int(rows[0]["trial"])
