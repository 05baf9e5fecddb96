"""`sweeper dashboard`: the study served by the real optuna-dashboard, read over HTTP."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import copy_results
from pg_server import free_port

import sweeper
from sweeper.cli import main

pytest.importorskip("optuna_dashboard", reason="the dashboard extra is not installed")


def get_json(url: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_the_dashboard_serves_the_sweeps_study(mixed_results, tmp_path):
    results = copy_results(mixed_results, tmp_path / "results")
    port = free_port()
    argv = ["dashboard", "digits_space", "--results-dir", str(results), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    server = subprocess.Popen(
        [sys.executable, "-m", "sweeper", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        [study] = [s for s in studies if s["study_name"] == "digits_space"]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{study['study_id']}")
        swept = sweeper.load("digits_space", results_dir=results).study
        assert len(detail["trials"]) == len(swept.trials)
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"at http://127.0.0.1:{port}/dashboard/" in out


def test_no_study_no_dashboard(tmp_path, capsys):
    assert main(["dashboard", "digits_space", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no study 'digits_space'" in err


def test_without_optuna_dashboard_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    # The extra is installed here; the lookup is made to miss it, as where it is not.
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "optuna_dashboard" else real(name, *a),
    )
    assert main(["dashboard", "digits_space", "--results-dir", str(tmp_path)]) == 1
    assert "pip install 'sweeper[dashboard]'" in capsys.readouterr().err
