"""The layering that ARCHITECTURE.md describes, as CI checks it: import-linter's contracts in
pyproject.toml, kept by the tree and broken by a planted circle; and, in a fresh interpreter,
which heavy packages importing sweeper's modules loads."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages of ``tree`` (found there, not where they are installed)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_tree(target: Path) -> Path:
    for name in ("sweeper", "search_spaces"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_tree_keeps_every_import_contract():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " broken" in done.stdout and "0 broken" in done.stdout


def test_a_planted_import_circle_breaks_the_contracts(tmp_path):
    tree = copy_tree(tmp_path)
    # optimizers imports options (in a function); options importing optimizers closes a circle
    # inside one stage, which the layers alone would not see.
    options = tree / "sweeper" / "space" / "options.py"
    options.write_text(options.read_text() + "\nimport sweeper.space.optimizers  # planted\n")
    done = lint_imports(tree)
    assert done.returncode != 0
    assert "No import circle anywhere" in done.stdout and "BROKEN" in done.stdout
    assert ".options -> .optimizers" in done.stdout


def test_a_planted_upward_import_breaks_the_layers(tmp_path):
    tree = copy_tree(tmp_path)
    config = tree / "sweeper" / "config.py"
    config.write_text(config.read_text() + "\nimport sweeper.backends.processes  # planted\n")
    done = lint_imports(tree)
    assert done.returncode != 0
    broken = [line for line in done.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith("The stages form layers") for line in broken), done.stdout
    assert any(line.startswith("The configuration imports no engine") for line in broken)


def test_outside_training_importing_sweeper_loads_no_keras_and_no_shipped_space():
    """Every module but training's, imported in a fresh interpreter: the supervisor, the
    report and the CLI's start load none of the heavy packages (training does, at once)."""
    code = """
import importlib, pkgutil, sys
import sweeper
names = [m.name for m in pkgutil.walk_packages(sweeper.__path__, "sweeper.")]
# sweeper.retrain: the old path of training.retrain, deprecated, imports Keras as it did.
skipped = ("sweeper.__main__", "sweeper.retrain")
for name in names:
    if not name.startswith("sweeper.training") and name not in skipped:
        importlib.import_module(name)
heavy = ("keras", "tensorflow", "keras_tuner", "jax", "torch", "search_spaces")
print(sorted(m for m in heavy if m in sys.modules))
print(len(names))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    loaded, count = done.stdout.split("\n")[:2]
    assert loaded == "[]" and int(count) > 50, done.stdout
