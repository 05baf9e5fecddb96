"""Resident memory of one worker over many trials: recycling on (the default) vs off, next to
a bare Keras loop.

The baseline builds, compiles and fits the space's models with ``keras.backend.clear_session()``
between them, as a careful hand-written loop would, in its own fresh process. The two sweep
sides run ``run_sweep(workers=1)`` and read the worker's RSS after each trial (the worker is
alive then: it is asking for its next trial). With recycling on, a worker hands over to a fresh
process once what it keeps per trial adds up to 10% of its size; the recycling side also
counts its restarts, given per 100 trials.

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
    from sweeper.storage.record import OWNER
    from sweeper.trials.observer import SweepObserver

    class WorkerMemory(SweepObserver):
        done, pids = 0, set()

        def trial_finished(self, trial, worker=0):
            self.done += 1
            pid = trial.user_attrs[OWNER]["pid"]
            self.pids.add(pid)
            if self.done in checkpoints:
                print(f"{self.done} {rss_mib(pid):.0f} {pid}", flush=True)

    observer = WorkerMemory()

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
        observer=observer,
    )
    print(f"restarts {len(observer.pids) - 1}", flush=True)


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


def measure(side: str, args) -> tuple[list[tuple[int, float, int]], int]:
    """The side's (trials, MiB, pid) at each checkpoint, and its worker restarts."""
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
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    restarts = [int(line.split()[1]) for line in lines if line.startswith("restarts")]
    points = [tuple(line.split()) for line in lines if not line.startswith("restarts")]
    return [(int(n), float(m), int(p)) for n, m, p in points], sum(restarts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits_space")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[20, 100, 200])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--sides",
        nargs="+",
        choices=SIDES,
        default=list(SIDES),
        help="which to measure (default: all three)",
    )
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "bare":
        bare_side(args.space, args.checkpoints, args.epochs)
        return
    if args.side:
        sweep_side(args.space, args.checkpoints, args.epochs, args.side == "recycling")
        return
    measured = {side: measure(side, args) for side in args.sides}
    rows = {side: points for side, (points, _) in measured.items()}
    print(
        f"{args.space}, {args.epochs} epochs a trial: resident memory of the process that "
        "trains (MiB)"
    )
    print(
        "  "
        + "".join(
            f"{'trials':>6}" if i == 0 else f"{side:>16}" for i, side in enumerate(["", *rows])
        )
    )
    for n, *columns in zip(args.checkpoints, *rows.values(), strict=True):
        print(f"  {n:>6}" + "".join(f"{rss:16.0f}" for _, rss, _ in columns))
    for side, (points, restarts) in measured.items():
        (n0, m0, _), (n1, m1, _) = points[0], points[-1]
        said = f"; {100 * restarts / n1:.1f} restarts per 100 trials" if side != "bare" else ""
        print(
            f"  {side:<13} from {n0} to {n1} trials: {100 * (m1 - m0) / m0:+.1f}% "
            f"({(m1 - m0) / (n1 - n0):+.2f} MiB a trial){said}"
        )


if __name__ == "__main__":
    main()
