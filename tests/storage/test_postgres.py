"""Many machines on one PostgreSQL study, against a real server on loopback (tests/pg_server.py):
`sweeper worker` processes joining a `run`, the exact budget across them, a worker killed
with SIGKILL failed by its stopped heartbeat and retried once, the report, and the password
kept out of every output and file. Each process here stands in for a machine."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pg_server
import pytest
from conftest import copy_results, wait_for
from optuna.trial import TrialState
from pg_server import PASSWORD

from sweeper import SweepConfig, load_space
from sweeper.cli import main
from sweeper.search.study import open_study
from sweeper.storage.record import FAIL_REASON, NO_HEARTBEAT, OWNER, RETRY_OF, counted
from sweeper.storage.storages import load_existing_study, open_storage

ROOT = Path(__file__).parents[2]


def sweeper_process(*argv: str, log: Path) -> subprocess.Popen:
    """``python -m sweeper ...`` as another machine would run it, its output into ``log``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sweeper", *argv], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def study_of(url: str, name: str = "digits_space") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=pg_server.storage(url))


def study_exists(url: str) -> bool:
    return "digits_space" in optuna.get_all_study_names(pg_server.storage(url))


def test_a_run_and_three_workers_finish_the_exact_budget(postgres_url, tmp_path):
    budget = "14"
    logs = [tmp_path / f"machine-{i}.log" for i in range(4)]
    common = ["--storage", postgres_url, "--in-process"]
    run = sweeper_process(
        "run", "digits_space", *common, "--trials", budget, "--max-epochs", "3",
        "--no-retrain", "--results-dir", str(tmp_path / "results-0"), log=logs[0],
    )  # fmt: skip
    wait_for(lambda: study_exists(postgres_url), 120, "the run to create its study")
    workers = [
        sweeper_process(
            "worker",
            "digits_space",
            *common,
            "--results-dir",
            str(tmp_path / f"results-{i}"),
            log=logs[i],
        )  # fmt: skip
        for i in (1, 2, 3)
    ]
    for process, log in zip([run, *workers], logs, strict=True):
        assert process.wait(timeout=600) == 0, log.read_text()[-3000:]

    trials = study_of(postgres_url).get_trials(deepcopy=False)
    assert counted(trials) == len(trials) == int(budget)  # not one trial over, none lost
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    machines = {t.user_attrs[OWNER]["pid"] for t in trials}
    assert len(machines) >= 3, "the workers joined and trained"
    # Each machine's sampler is seeded apart: no two draw the same configuration.
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)
    for log in logs:
        assert PASSWORD not in log.read_text()
        assert "Heartbeat of storage is supposed" not in log.read_text()  # Optuna's, quieted
    assert "trials run here" in logs[1].read_text()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    # The workers left the leaderboard to the run: only the run's folder has one.
    assert [p.parent.name for p in tmp_path.rglob("leaderboard.csv")] == ["digits_space"]
    assert (tmp_path / "results-0" / "digits_space" / "leaderboard.csv").is_file()


def test_a_killed_worker_is_failed_by_its_heartbeat_and_retried_once(postgres_url, tmp_path):
    BUDGET = 4
    space = load_space("digits_space")
    config = SweepConfig(
        n_trials=BUDGET,
        max_epochs=60,
        patience=60,
        pruner="none",
        heartbeat=1,
        storage=postgres_url,
    ).resolve(space)
    open_study(space, open_storage(postgres_url, tmp_path, config.heartbeat), config)

    # Two machines join; once both train, the first vanishes mid-trial, with no goodbye (the
    # second's start-up found nothing to recover then: the first was alive).
    doomed, rescuer = (
        sweeper_process(
            "worker",
            "digits_space",
            "--storage",
            postgres_url,
            "--in-process",
            "--results-dir",
            str(tmp_path / name),
            log=tmp_path / f"{name}.log",
        )  # fmt: skip
        for name in ("a", "b")
    )

    def both_training():  # the doomed worker's trial some epochs in, the rescuer's begun
        trials = study_of(postgres_url).get_trials(deepcopy=False)
        by = {pid: [t for t in trials if t.user_attrs.get(OWNER, {}).get("pid") == pid]
              for pid in (doomed.pid, rescuer.pid)}  # fmt: skip
        victims = [
            t for t in by[doomed.pid]
            if t.state == TrialState.RUNNING and len(t.intermediate_values) >= 2
        ]  # fmt: skip
        return victims if by[rescuer.pid] else None

    [victim] = wait_for(both_training, 300, "both workers to train")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert rescuer.wait(timeout=600) == 0, (tmp_path / "b.log").read_text()[-3000:]

    trials = study_of(postgres_url).get_trials(deepcopy=False)
    lost = trials[victim.number]
    # Failed by the rescuer, with its reason stored, and a line in the rescuer's terminal.
    assert lost.state == TrialState.FAIL and lost.user_attrs[FAIL_REASON] == NO_HEARTBEAT
    said = f"trial {victim.number:>4} fail     {NO_HEARTBEAT}"
    assert said in (tmp_path / "b.log").read_text()
    assert load_existing_study("digits_space", postgres_url, tmp_path).trials  # reads fine
    from sweeper.storage.record import TrialRecord

    assert TrialRecord.of(lost).fail_reason == NO_HEARTBEAT
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF) == victim.number]
    assert len(retries) == 1 and retries[0].params == lost.params
    assert retries[0].state == TrialState.COMPLETE
    assert counted(trials) == BUDGET
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_report_on_postgres_writes_the_journals_leaderboard(mixed_results, postgres_url, tmp_path):
    journal = copy_results(mixed_results, tmp_path / "journal")
    optuna.copy_study(
        from_study_name="digits_space",
        from_storage=open_storage(None, journal / "digits_space"),
        to_storage=open_storage(postgres_url, tmp_path),
    )
    on_db = tmp_path / "db"
    assert main(["report", "digits_space", "--results-dir", str(journal)]) == 0
    argv = ["report", "digits_space", "--results-dir", str(on_db), "--storage", postgres_url]
    assert main(argv) == 0
    csv = "digits_space/leaderboard.csv"
    assert (on_db / csv).read_text() == (journal / csv).read_text()
    assert PASSWORD not in (on_db / "digits_space/leaderboard.html").read_text()


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["worker", "digits_space"], "no study 'digits_space' in postgresql://sweeper:***@"),
        (["report", "digits_space"], "no study 'digits_space' in postgresql://sweeper:***@"),
    ],
)
def test_a_study_not_there_is_one_line(postgres_url, command, says, capsys):
    assert main([*command, "--storage", postgres_url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and says in err, err
    assert PASSWORD not in err


def test_wrong_credentials_are_one_line_without_the_password(postgres, capsys, tmp_path):
    url = postgres.url(password="not-" + PASSWORD)
    argv = ["run", "digits_space", "--storage", url, "--trials", "1", "--in-process"]
    assert main([*argv, "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "cannot open storage postgresql://sweeper:***@127.0.0.1" in err
    assert "password authentication failed" in err and PASSWORD not in err
    assert not (tmp_path / "digits_space").exists()


def test_a_server_out_of_connections_is_one_line(postgres, postgres_url, capsys, tmp_path):
    import psycopg
    from pg_server import MAX_CONNECTIONS, USER

    held = []
    try:  # take every connection the server has (a few are reserved for superusers)
        for _ in range(MAX_CONNECTIONS):
            held.append(
                psycopg.connect(
                    host="127.0.0.1",
                    port=postgres.port,
                    user=USER,
                    password=PASSWORD,
                    dbname="postgres",
                )  # fmt: skip
            )
    except psycopg.OperationalError:
        pass
    try:
        argv = ["run", "digits_space", "--storage", postgres_url, "--in-process"]
        assert main([*argv, "--results-dir", str(tmp_path)]) == 1
    finally:
        for conn in held:
            conn.close()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "max_connections is reached" in err and PASSWORD not in err


def test_a_warm_start_from_a_database_records_it_without_its_password(postgres_url, tmp_path):
    """--warm-start URL: each warm-started trial says where it came from, and the journal,
    the leaderboard and sweep.log that carry it never hold the password."""
    import fakes

    from sweeper import TrialRecord, run_sweep

    run_sweep(
        fakes.SPACE,
        n_trials=2,
        workers=None,
        storage=postgres_url,
        results_dir=tmp_path / "earlier",
        make_objective=fakes.quick,
    )
    later = run_sweep(
        fakes.SPACE,
        n_trials=1,
        workers=None,
        results_dir=tmp_path / "later",
        warm_start=postgres_url,
        make_objective=fakes.quick,
    )
    origins = {TrialRecord.of(t).warm_start_from for t in later.study.trials} - {None}
    assert origins == {postgres_url.replace(f":{PASSWORD}@", ":***@")}
    written = [p for p in (tmp_path / "later").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"study.journal", "leaderboard.csv", "sweep.log"}
    for path in written:
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_joining_machine_sweeps_what_the_study_was_created_for(postgres_url, tmp_path):
    """Objectives, constraints and the winner rule travel with the study: a `worker` given
    none of them sweeps the study's, and its trials tell Optuna both values."""
    from sweeper.sweep import joined_plan, plan_sweep

    space = load_space("digits_space")
    settings = {
        "objectives": ("val_accuracy:max", "params:min"),
        "constraints": ("params<=5000",),
        "winner": "min params within 0.01 of val_accuracy",
        "storage": postgres_url,
        "results_dir": tmp_path,
    }
    plan = plan_sweep(space, settings=settings)
    open_study(plan.space, open_storage(postgres_url, tmp_path, 60), plan.config)
    joined = joined_plan(space, postgres_url, results_dir=tmp_path)
    assert joined.space.goals == plan.space.goals
    assert joined.space.constraint_list == plan.space.constraint_list
    assert str(joined.space.winner_rule) == "min params within 0.01 of val_accuracy"
    assert study_of(postgres_url).directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
