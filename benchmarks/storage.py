"""What the study's storage costs a trial, journal file vs PostgreSQL, and how long a trial
lost with its machine takes to be retried.

per-trial: P processes (1 and 4), each running trials with no training in them: sweeper's
admission (the study's lock, stale-trial check, budget count, ask), the per-epoch reports
and the attributes a real trial records (its history of four metrics, best epoch, times,
seed, owner), then tell. Baseline, same storages, same run: the hand-written Optuna loop
(ask, the same reports and attributes, tell). Seconds per trial = a process' wall time over
its trials; median and spread over the processes and repeats.

refresh: what one read of the study costs the live view (and every process' budget check) on
PostgreSQL with --refresh-trials trials (default 10,000) of such records: the first read, by a
fresh process, and the following ones, which Optuna's cache keeps to the unfinished trials.

retry: a process takes a trial on PostgreSQL, records heartbeats, and is killed with SIGKILL;
the time from the kill to the moment another process has the retried trial running, with a
given --heartbeat (a trial is stale after two silent intervals).

    python benchmarks/storage.py --trials 40 --epochs 10 --repeat 3 --heartbeat 2
    python benchmarks/storage.py --postgres postgresql://user:pw@host/db   # an existing server

Without --postgres it starts a throwaway PostgreSQL server on loopback (the tests' own,
tests/pg_server.py; Debian's postgresql package).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna

from sweeper import SweepConfig, load_space
from sweeper.search.study import open_study
from sweeper.storage.heartbeat import Heartbeat
from sweeper.storage.recovery import owner_record
from sweeper.storage.storages import open_storage
from sweeper.trials.loop import BudgetGate, admit

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def record_trial(trial: optuna.Trial, epochs: int) -> float:
    """The storage writes of one trained trial, without the training."""
    for epoch in range(epochs):
        trial.report(0.5 + epoch / (2 * epochs), epoch)
    history = {m: [0.5 + e / (2 * epochs) for e in range(epochs)] for m in METRICS}
    trial.set_user_attr("history", history)
    trial.set_user_attr("metrics", {m: v[-1] for m, v in history.items()})
    for key, value in (("epochs_run", epochs), ("best_epoch", epochs), ("seed", 1234)):
        trial.set_user_attr(key, value)
    trial.set_user_attr("wall_time_s", 1.0)
    trial.set_user_attr("fit_time_s", 0.9)
    return history["val_accuracy"][-1]


def sweeper_loop(url: str | None, folder: str, trials: int, epochs: int, out) -> None:
    storage = open_storage(url, Path(folder), heartbeat=60)
    study = optuna.load_study(study_name="bench", storage=storage)
    owner = owner_record(0, "cpu")
    started = time.perf_counter()
    for _ in range(trials):
        trial = admit(study, None, owner)
        assert trial is not None
        with Heartbeat(study, trial):
            value = record_trial(trial, epochs)
        study.tell(trial, value)
    out.put((time.perf_counter() - started) / trials)


def optuna_loop(url: str | None, folder: str, trials: int, epochs: int, out) -> None:
    storage = open_storage(url, Path(folder))  # no heartbeat: as a hand-written loop has
    study = optuna.load_study(study_name="bench", storage=storage)
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, record_trial(trial, epochs))
    out.put((time.perf_counter() - started) / trials)


def per_trial(url: str | None, loop, processes: int, args) -> list[float]:
    folder = Path(tempfile.mkdtemp())
    optuna.create_study(study_name="bench", storage=open_storage(url, folder))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=loop, args=(url, str(folder), args.trials, args.epochs, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [out.get() for _ in workers]


def hold_a_trial(url: str, folder: str, heartbeat: int, ready) -> None:
    storage = open_storage(url, Path(folder), heartbeat)
    study = optuna.load_study(study_name="digits_space", storage=storage)
    trial = admit(study, None, owner_record(0, "cpu"))
    assert trial is not None
    with Heartbeat(study, trial):
        ready.set()
        time.sleep(3600)  # killed long before


def retry_delay(url: str, heartbeat: int) -> float:
    """Seconds from SIGKILL of the process holding a trial to its retry running elsewhere."""
    folder = Path(tempfile.mkdtemp())
    space = load_space("digits_space")
    config = SweepConfig(n_trials=2, sampler="random", heartbeat=heartbeat, storage=url)
    study = open_study(space, open_storage(url, folder, heartbeat), config.resolve(space))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=hold_a_trial, args=(url, str(folder), heartbeat, ready))
    holder.start()
    ready.wait(60)
    time.sleep(heartbeat)  # it has been beating for a while
    os.kill(holder.pid, signal.SIGKILL)
    killed = time.perf_counter()
    holder.join()
    gate = BudgetGate(study, 2)
    gate.POLL_S = 0.1
    while True:  # what a waiting worker does: its gate fails the stale trial, then admit
        if gate.may_start():
            trial = admit(study, 2, owner_record(1, "cpu"))
            if trial is not None and trial.user_attrs.get("retry_of") is not None:
                return time.perf_counter() - killed
            if trial is not None:
                study.tell(trial, 0.5)
        time.sleep(0.05)


def refresh_cost(url: str, n: int, epochs: int, repeat: int) -> tuple[float, list[float]]:
    """Seconds of the first read of an n-trial study, and of the next ``repeat`` reads."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    storage = open_storage(url, Path("."))
    study = optuna.create_study(study_name="refresh", storage=storage)
    history = {m: [0.5 + e / (2 * epochs) for e in range(epochs)] for m in METRICS}
    attrs = {"history": history, "metrics": {m: v[-1] for m, v in history.items()}, "seed": 1}
    template = create_trial(
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        value=0.5,
        intermediate_values=dict(enumerate(history["val_accuracy"])),
        user_attrs=attrs,
    )
    for _ in range(n):
        study.add_trial(template)
    fresh = optuna.load_study(study_name="refresh", storage=open_storage(url, Path(".")))
    started = time.perf_counter()
    fresh.get_trials(deepcopy=False)
    first = time.perf_counter() - started
    again = []
    for _ in range(repeat):
        started = time.perf_counter()
        fresh.get_trials(deepcopy=False)
        again.append(time.perf_counter() - started)
    return first, again


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):7.1f} ms  (min {ms[0]:.1f}, max {ms[-1]:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per process")
    parser.add_argument("--epochs", type=int, default=10, help="epochs each trial reports")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--heartbeat", type=int, default=2, help="seconds, for the retry part")
    parser.add_argument("--postgres", help="an existing server's URL (default: start one)")
    parser.add_argument("--refresh-trials", type=int, default=10_000)
    args = parser.parse_args()

    server = None
    url = args.postgres
    if url is None:
        sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
        import pg_server  # the tests' throwaway server on loopback

        server = pg_server.start()
    try:
        print(f"per trial: {args.trials} trials x {args.epochs} epochs per process, "
              f"{args.repeat} repeats")  # fmt: skip
        for processes in args.processes:
            for kind in ("journal", "postgresql"):
                for name, loop in (("sweeper", sweeper_loop), ("optuna ask/tell", optuna_loop)):
                    values: list[float] = []
                    for _ in range(args.repeat):
                        where = None if kind == "journal" else (url or server.create_database())
                        values += per_trial(where, loop, processes, args)
                    print(f"  {processes} proc  {kind:10s}  {name:15s}  {summary(values)}")
        started = time.perf_counter()
        first, again = refresh_cost(
            url or server.create_database(), args.refresh_trials, args.epochs, args.repeat
        )
        print(
            f"refresh, {args.refresh_trials} trials on PostgreSQL (built in "
            f"{time.perf_counter() - started:.0f} s): first read {first:.2f} s, then "
            f"{summary(again)}"
        )
        delays = []
        for _ in range(args.repeat):
            delays.append(retry_delay(url or server.create_database(), args.heartbeat))
        print(
            f"retry after SIGKILL, heartbeat {args.heartbeat} s (stale after {2 * args.heartbeat}"
            f" s): median {statistics.median(delays):.2f} s "
            f"(min {min(delays):.2f}, max {max(delays):.2f})"
        )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
