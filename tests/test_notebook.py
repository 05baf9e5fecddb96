"""sweeper in a real Jupyter kernel (ipykernel, driven by nbclient / jupyter_client): the
quickstart notebook runs top to bottom, and an interrupt mid-sweep leaves the kernel usable
and the sweep resumable.

The kernel inherits a tag in its environment, and so do the worker processes it starts, so a
test can tell that none outlived the kernel.
"""

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_python_api import tagged_processes

import sweeper
from sweeper.storage.record import counted

EXAMPLES = Path(__file__).parents[1] / "examples"
TESTS = Path(__file__).parent


@pytest.fixture
def kernel_tag(monkeypatch):
    tag = f"kernel-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("SWEEPER_TEST_TAG", tag)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return tag


def outputs(cell) -> list[str]:
    return [o["output_type"] + ":" + o.get("name", "") for o in cell.outputs]


def test_the_quickstart_notebook_runs_in_a_real_kernel(tmp_path, kernel_tag):
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError if any cell raised
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    sweep_cell = next(c for c in cells if "sweeper.run(space" in c.source)

    # One live view, updated in place, then the result's display: nothing else in the cell,
    # no TensorFlow start-up lines from the workers, no Optuna log lines.
    assert outputs(sweep_cell) == ["display_data:", "execute_result:"]
    live = sweep_cell.outputs[0]["data"]["text/plain"]
    assert "quickstart  6/6 trials" in live and "best    val_accuracy=" in live
    shown = sweep_cell.outputs[1]["data"]["text/html"]
    assert "<strong>quickstart</strong>: 6 trials" in shown
    assert "winner (trial" in shown and "on the test set: accuracy" in shown
    assert not [c for c in cells if any(o.get("name") == "stderr" for o in c.outputs)]

    board = sweeper.load(str(tmp_path / "results" / "quickstart")).leaderboard
    assert len(board) == 6 and set(board["state"]) <= {"complete", "pruned"}
    assert "plotly" in str(next(c for c in cells if "plot(" in c.source).outputs[0]["data"])
    evaluated = next(c for c in cells if "winner.evaluate" in c.source).outputs[0]["text"]
    assert "winner test accuracy:" in evaluated
    tested, recorded = (float(v.strip("()")) for v in evaluated.split()[-3::2])
    assert tested == pytest.approx(recorded, abs=1e-3)  # the saved model is the tested one
    assert not tagged_processes(kernel_tag)  # the kernel is gone, and so is every worker


def test_an_interrupt_mid_sweep_keeps_the_kernel_and_a_rerun_finishes_the_budget(
    tmp_path, kernel_tag
):
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))

    def execute(code: str, timeout: float = 120) -> dict:
        reply = client.execute_interactive(code, timeout=timeout, output_hook=lambda _: None)
        return reply["content"]

    sweep = (
        "result = sweeper.run_sweep(fakes.SPACE, n_trials=6, workers=2, "
        "results_dir='results', make_objective=fakes.slow)"  # 3 s a trial
    )
    try:
        execute(f"import sys; sys.path.insert(0, {str(TESTS)!r}); import fakes, sweeper")
        message = client.execute(sweep)
        study = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # interrupt once a trial has finished
            time.sleep(0.5)
            try:
                study = sweeper.load(str(tmp_path / "results" / "fake_space")).study
            except sweeper.SweeperError:
                continue  # not created yet
            if counted(study.get_trials()) >= 1:
                break
        assert study is not None and counted(study.get_trials()) < 6
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == message
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        interrupted = len(study.get_trials())
        assert not any(t.state.name == "RUNNING" for t in study.get_trials())

        assert execute("answer = 40 + 2")["status"] == "ok"  # the kernel is still usable
        assert execute(sweep)["status"] == "ok"  # and running the cell again resumes
        trials = study.get_trials()
        assert counted(trials) == 6 and len(trials) > interrupted
        assert not any(t.state.name == "RUNNING" for t in trials)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    time.sleep(0.5)
    assert not tagged_processes(kernel_tag)
