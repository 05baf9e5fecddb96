"""Resident memory of one worker over many trials: recycling on (the default) vs off, next to
a bare Keras loop.

The baseline builds, compiles and fits the space's models with ``keras.backend.clear_session()``
between them, as a careful hand-written loop would, in its own fresh process. The two sweep
sides run ``run_sweep(workers=1)`` and read the worker's RSS after each trial (the worker is
alive then: it is asking for its next trial). With recycling on, a worker hands over to a fresh
process once it has grown 10% over its size after its first trial.

    python benchmarks/memory.py --space digits_space --checkpoints 20 100 200
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

import psutil


def rss_mib(pid: int | None = None) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def sweep_side(space_name: str, checkpoints: list[int], epochs: int, recycle: bool) -> None:
    from sweeper import load_space, run_sweep
    from sweeper.progress import SweepObserver
    from sweeper.record import OWNER

    class WorkerMemory(SweepObserver):
        done = 0

        def trial_finished(self, trial, worker=0):
            self.done += 1
            if self.done in checkpoints:
                pid = trial.user_attrs[OWNER]["pid"]
                print(f"{self.done} {rss_mib(pid):.0f} {pid}", flush=True)

    space = load_space(space_name)
    run_sweep(
        space,
        n_trials=max(checkpoints),
        max_epochs=epochs,
        pruner="none",
        sampler="random",
        results_dir=tempfile.mkdtemp(),
        workers=1,
        memory_growth=0.10 if recycle else None,
        observer=WorkerMemory(),
    )


def bare_side(space_name: str, checkpoints: list[int], epochs: int) -> None:
    import keras
    import optuna
    from bare import bare_fit

    from sweeper import load_space

    space = load_space(space_name)
    data = space.load_data(None)
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=0), direction=space.direction
    )
    for done in range(1, max(checkpoints) + 1):  # the same kind of configurations, at random
        params = space.suggest(study.ask())
        keras.backend.clear_session()
        bare_fit(space, data, params, epochs)
        if done in checkpoints:
            print(f"{done} {rss_mib():.0f} 0", flush=True)


SIDES = ("bare", "no-recycling", "recycling")


def measure(side: str, args) -> list[tuple[int, float, int]]:
    cmd = [
        sys.executable,
        __file__,
        "--side",
        side,
        "--space",
        args.space,
        "--epochs",
        str(args.epochs),
        "--checkpoints",
        *map(str, args.checkpoints),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [(int(n), float(m), int(p)) for n, m, p in (line.split() for line in out.splitlines())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits_space")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[20, 100, 200])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "bare":
        bare_side(args.space, args.checkpoints, args.epochs)
        return
    if args.side:
        sweep_side(args.space, args.checkpoints, args.epochs, args.side == "recycling")
        return
    rows = {side: measure(side, args) for side in SIDES}
    print(
        f"{args.space}, {args.epochs} epochs a trial: resident memory of the process that "
        "trains (MiB)"
    )
    print(
        f"  {'trials':>6}  {'bare loop':>10}  {'worker, no recycling':>20}  "
        f"{'worker, recycling':>17}"
    )
    for (n, bare, _), (_, off, _), (_, on, pid) in zip(*rows.values(), strict=True):
        print(f"  {n:>6}  {bare:10.0f}  {off:20.0f}  {on:17.0f}   (worker pid {pid})")
    for side, points in rows.items():
        (n0, m0, _), (n1, m1, _) = points[0], points[-1]
        print(
            f"  {side:<13} from {n0} to {n1} trials: {100 * (m1 - m0) / m0:+.1f}% "
            f"({(m1 - m0) / (n1 - n0):+.2f} MiB a trial)"
        )


if __name__ == "__main__":
    main()
