"""The documentation is checked against the code it describes:

- the troubleshooting page lists every one-line error the code can give, and no other;
- every public name (``sweeper.__all__``) has a docstring and a place in the API reference;
- every code block that README.md or a guide page marks runnable runs as written, in a fresh
  folder: ``<!-- space-file: NAME -->`` before a Python block saves it as NAME,
  ``<!-- runnable: NAME -->`` before a command block runs it there (after NAME is written),
  ``<!-- runnable -->`` runs the block (commands line by line, or Python) on its own.
"""

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from messages import documented, messages

import sweeper

ROOT = Path(__file__).parents[2]
PAGE = (ROOT / "docs" / "troubleshooting.md").read_text()
MARKED = re.compile(r"<!-- (space-file|runnable)(?:: (\S+))? -->\n```(\w*)\n(.*?)```", re.S)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def unlisted(root: Path, page: str) -> tuple[set[str], set[str]]:
    """(messages the code gives that the page does not list, listed ones it no longer gives)."""
    given = {pattern for _, pattern in messages(root)}
    listed = documented(page)
    return given - listed, listed - given


def test_the_troubleshooting_page_lists_every_message_the_code_gives():
    missing, stale = unlisted(ROOT / "sweeper", PAGE)
    assert not missing, "not on docs/troubleshooting.md:\n" + "\n".join(sorted(missing))
    assert not stale, "on docs/troubleshooting.md, but the code no longer says:\n" + "\n".join(
        sorted(stale)
    )
    assert len(documented(PAGE)) > 100


def test_a_message_changed_in_the_code_and_not_on_the_page_is_caught(tmp_path):
    copy = tmp_path / "sweeper"
    shutil.copytree(ROOT / "sweeper", copy, ignore=shutil.ignore_patterns("__pycache__"))
    journal = copy / "storage" / "journal.py"
    text = journal.read_text()
    assert "is not damaged; nothing to repair" in text
    journal.write_text(text.replace("is not damaged; nothing to repair", "is whole"))
    missing, stale = unlisted(copy, PAGE)
    assert missing == {"study journal … is whole"}
    assert stale == {"study journal … is not damaged; nothing to repair"}


def test_every_public_name_has_a_docstring_and_a_place_in_the_api_reference():
    reference = (ROOT / "docs" / "api.md").read_text()
    for name in sweeper.__all__:
        assert (getattr(sweeper, name).__doc__ or "").strip(), f"sweeper.{name} has no docstring"
        assert re.search(rf"^::: sweeper\.(\w+\.)*{name}$", reference, re.M), name


def blocks(page: Path) -> list[tuple[str, str | None, str, str]]:
    return MARKED.findall(page.read_text())


def run_block(kind: str, language: str, body: str, folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    if language == "python":
        commands = [[sys.executable, "-c", body]]
    else:
        commands = []
        for line in body.strip().splitlines():
            argv = shlex.split(line, comments=True)
            assert argv[0] == "python", f"a runnable command runs python: {line}"
            commands.append([sys.executable, *argv[1:]])
    for argv in commands:
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{argv}:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"


def run_page(page: Path, folder: Path) -> None:
    for kind, name, language, body in blocks(page):
        if kind == "space-file":
            (folder / name).write_text(body)
        else:
            run_block(kind, language, body, folder)


SPACES = ROOT / "docs" / "spaces.md"  # run, and checked further, by the test after next


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p) and p != SPACES], ids=lambda p: p.name
)
def test_the_runnable_blocks_run_as_written(page, tmp_path):
    run_page(page, tmp_path)


def test_every_space_file_has_its_command():
    for page in PAGES:
        marked = blocks(page)
        files = {name for kind, name, _, _ in marked if kind == "space-file"}
        runs = {name for kind, name, _, _ in marked if kind == "runnable" and name}
        assert files == runs, page.name


def test_the_guides_two_complete_spaces_sweep_and_retrain_as_they_say(tmp_path):
    """docs/spaces.md's classification and regression, beyond running: the leaderboard's
    order, the swept values, and a winner that tests as such a model should."""
    run_page(SPACES, tmp_path)
    for name in ("my_classifier", "my_regression"):
        results = tmp_path / "results" / name
        with open(results / "leaderboard.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        card = json.loads((results / "winner.json").read_text())
        assert len(rows) == 4 and card["trial"] == int(rows[0]["trial"])
        ranked = [float(row["value"]) for row in rows if row["state"] == "complete"]
        if name == "my_regression":
            assert ranked == sorted(ranked)  # minimize: the lowest validation MAE first
            assert {row["params_loss"] for row in rows} <= {"mse", "mae", "huber"}
            assert card["test_metrics"]["mae"] < 1.0  # below the target's deviation
        else:
            assert ranked == sorted(ranked, reverse=True)
            assert {row["params_class_weight"] for row in rows} <= {"none", "balanced"}
            assert card["test_metrics"]["accuracy"] > 0.85
