"""The Dask engine (``--dask``) against real clusters and a real PostgreSQL server on loopback:
a ``LocalCluster`` of worker processes, and the ``dask scheduler`` / ``dask worker`` command
lines as other machines would run them. The exact budget across Dask workers, a Dask worker
killed mid-trial survived (its trial failed by the stopped heartbeat and retried once), the
live view drawn from the study, and bad input as one line that writes nothing."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import psutil
import pytest
from optuna.trial import TrialState

distributed = pytest.importorskip(
    "distributed", reason="dask[distributed] is not installed: pip install 'sweeper[dask]'"
)

import pg_server  # noqa: E402
from conftest import DIGITS_SOURCE, wait_for  # noqa: E402
from pg_server import free_port  # noqa: E402

from sweeper import SettingError, SweepConfig, load_space, run  # noqa: E402
from sweeper.backends.study_watcher import StudyWatcher  # noqa: E402
from sweeper.cli import main  # noqa: E402
from sweeper.storage.record import FINISHED, OWNER, RETRY_OF, counted, is_lost  # noqa: E402
from sweeper.trials.observer import SweepObserver  # noqa: E402

ROOT = Path(__file__).parents[2]
DASK = Path(sys.executable).parent / "dask"


def study_of(url: str) -> optuna.Study:
    return optuna.load_study(study_name="digits_space", storage=pg_server.storage(url))


def study_names(url: str) -> list[str]:
    return optuna.get_all_study_names(pg_server.storage(url))


class Recorder(SweepObserver):
    """The events a live view hears."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def trial_started(self, number, worker=0):
        self.events.append(("started", number, worker))

    def epoch_ended(self, number, epoch, logs, worker=0):
        self.events.append(("epoch", number, epoch, dict(logs), worker))

    def trial_finished(self, trial, worker=0):
        self.events.append(("finished", trial.number, worker))

    def of(self, kind: str) -> list[tuple]:
        return [e for e in self.events if e[0] == kind]


def test_a_sweep_on_a_two_worker_dask_cluster_meets_its_exact_budget(postgres_url, tmp_path):
    from distributed import LocalCluster

    # A space from a .py file the Dask workers do not have: it travels to them by value.
    source = tmp_path / "spaces" / "digits_space.py"
    source.parent.mkdir()
    source.write_text(DIGITS_SOURCE)
    space = load_space(str(source))
    source.unlink()
    recorder = Recorder()
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        result = run(
            space,
            storage=postgres_url,
            dask=cluster.scheduler_address,
            n_trials=6,
            max_epochs=2,
            results_dir=tmp_path,
            observer=recorder,
        )

    trials = study_of(postgres_url).get_trials(deepcopy=False)
    assert counted(trials) == len(trials) == 6  # not one over, none lost
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    owners = {t.user_attrs[OWNER]["pid"]: t.user_attrs[OWNER]["sampler_seed"] for t in trials}
    assert len(owners) >= 2, "both Dask workers trained"
    assert len(set(owners.values())) == len(owners), "each slot's sampler is seeded apart"
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 6  # no draw twice
    assert result.sweep.trials_run == 6
    # The live view heard every trial start and finish, and the epochs in between.
    assert sorted(e[1] for e in recorder.of("started")) == list(range(6))
    assert sorted(e[1] for e in recorder.of("finished")) == list(range(6))
    epochs = recorder.of("epoch")
    assert epochs and all("val_accuracy" in e[3] and e[2] in (1, 2) for e in epochs)
    # The run keeps the leaderboard and re-trains the winner here; each Dask worker's own
    # logs are in a folder of its own.
    folder = tmp_path / "digits_space"
    assert (folder / "leaderboard.csv").is_file() and result.winner is not None
    assert "workers on the Dask cluster at tcp://127.0.0.1:" in (folder / "sweep.log").read_text()
    worker_logs = list((folder / "dask").glob("*/digits_space/workers/worker-*.log"))
    assert len(worker_logs) == 2


def start_cluster(tmp_path: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` and ``dask worker`` processes on loopback, as on other machines."""
    if not DASK.exists():
        pytest.skip(f"no dask command next to {sys.executable}")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    address = f"tcp://127.0.0.1:{port}"

    def start(name: str, *argv: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "w") as out:
            return subprocess.Popen(
                [str(DASK), *argv, "--no-dashboard"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
            )

    processes = [start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port))]
    processes += [
        start(f"worker-{i}", "worker", address, "--nworkers", "1", "--nthreads", "1")
        for i in range(workers)
    ]
    return address, processes


def kill_tree(process: psutil.Process) -> None:
    """SIGKILL a process and everything under it at once: a machine that vanished."""
    tree = [process, *process.children(recursive=True)]
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGKILL)


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            kill_tree(psutil.Process(process.pid))
            process.wait()


def test_the_cli_survives_a_dask_worker_killed_mid_trial(postgres_url, tmp_path):
    address, cluster = start_cluster(tmp_path, workers=2)
    scheduler, *dask_workers = cluster
    try:
        client = distributed.Client(address, timeout=60, set_as_default=False)
        client.wait_for_workers(2, timeout=120)
        client.close()
        argv = [
            sys.executable, "-m", "sweeper", "run", "digits_space",
            "--storage", postgres_url, "--dask", address, "--trials", "6",
            "--max-epochs", "20", "--patience", "20", "--pruner", "none",
            "--heartbeat", "1", "--no-retrain", "--results-dir", str(tmp_path / "r"),
        ]  # fmt: skip
        log = tmp_path / "run.log"
        with open(log, "w") as out:
            sweep = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

        wait_for(lambda: study_names(postgres_url), 120, "the run to create its study")
        study = study_of(postgres_url)  # one connection pool: the server allows 30 in all

        def training():  # a trial some epochs in
            running = study.get_trials(states=(TrialState.RUNNING,))
            return [t for t in running if len(t.intermediate_values) >= 2]

        victim = wait_for(training, 240, "a trial mid-way")[0]
        trainer = victim.user_attrs[OWNER]["pid"]
        [doomed] = [
            w
            for w in dask_workers
            if trainer in {p.pid for p in psutil.Process(w.pid).children(recursive=True)}
        ]
        kill_tree(psutil.Process(doomed.pid))  # the nanny, its worker, sweeper's processes
        doomed.wait()
        assert sweep.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        stop_all(cluster)

    trials = study_of(postgres_url).get_trials(deepcopy=False)
    lost = trials[victim.number]
    assert lost.state == TrialState.FAIL and is_lost(lost)
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF) == victim.number]
    assert len(retries) == 1 and retries[0].params == lost.params
    assert retries[0].state in FINISHED and not is_lost(retries[0])
    assert counted(trials) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
    output = log.read_text()
    assert "6 trials run" in output or "trials run in" in output, output[-2000:]
    sweep_log = (tmp_path / "r" / "digits_space" / "sweep.log").read_text()
    assert "left; Dask reschedules its task" in sweep_log


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(
    postgres_url, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("sweeper.backends.dask_cluster.CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    argv = ["run", "digits_space", "--storage", postgres_url, "--dask", address]
    assert main([*argv, "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert f"cannot reach the Dask scheduler at {address}" in err
    assert not list(tmp_path.iterdir())
    assert study_names(postgres_url) == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], "--dask needs a database storage that every Dask worker reaches"),
        (["--storage", "study.journal"], "(a journal file or SQLite lives on one machine)"),
        (["--storage", "sqlite:///study.db"], "--dask needs a database storage"),
        (["--storage", "postgresql://u@h/db", "--workers", "2"], "--dask places one worker per"),
        (["--storage", "postgresql://u@h/db", "--in-process"], "--dask places one worker per"),
        (
            ["--storage", "postgresql://u@h/db", "--engine", "kerastuner"],
            "--dask runs the Optuna engine only",
        ),
        (
            ["--storage", "postgresql://u@h/db", "--dask", "no/such/scheduler.json"],
            "--dask is neither a scheduler address (tcp://host:8786) nor a scheduler file",
        ),
    ],
)
def test_dask_without_what_it_needs_is_one_line(extra, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["run", "digits_space", "--dask", "tcp://127.0.0.1:1", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and says in err, err
    assert not list(tmp_path.iterdir())


def test_dask_without_distributed_names_the_extra(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "distributed" else find_spec(name, *a),
    )
    with pytest.raises(SettingError, match=r"pip install 'sweeper\[dask\]'"):
        SweepConfig(dask="tcp://127.0.0.1:8786", storage="postgresql://u@h/db")


def test_the_live_view_follows_the_study_that_other_machines_write():
    study = optuna.create_study(direction="maximize")
    recorder = Recorder()
    watcher = StudyWatcher(study, recorder, "val_accuracy")
    first, second = study.ask(), study.ask()
    first.set_user_attr(OWNER, {"host": "a", "pid": 1, "device": "gpu 0"})
    watcher.poll()  # the second has no owner yet: asked for this instant
    assert recorder.events == [("started", 0, 0)]
    second.set_user_attr(OWNER, {"host": "b", "pid": 2, "device": "gpu 0"})
    first.report(0.5, 0)
    first.report(0.7, 1)
    watcher.poll()
    assert recorder.events[1:] == [
        ("epoch", 0, 1, {"val_accuracy": 0.5}, 0),
        ("epoch", 0, 2, {"val_accuracy": 0.7}, 0),
        ("started", 1, 1),
    ]
    study.tell(first, 0.7)
    third = study.ask()  # the same process' next trial keeps its row
    third.set_user_attr(OWNER, {"host": "a", "pid": 1, "device": "gpu 0"})
    watcher.poll()
    assert recorder.events[4:] == [("finished", 0, 0), ("started", 2, 0)]
    assert [t.number for t in watcher.finished] == [0]
