"""Resident memory of one process over many trials: a sweep vs a bare Keras loop.

Each side runs in its own fresh process (so neither inherits the other's heap) and prints
its RSS after each checkpoint. The baseline builds, compiles and fits the same space's
models with ``keras.backend.clear_session()`` between them, as a careful hand-written loop
would; the sweep side is ``run_sweep`` (sampling, pruning, storage, callbacks included).

    python benchmarks/memory.py --space digits_space --checkpoints 20 60 100
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def sweep_side(space_name: str, checkpoints: list[int], epochs: int) -> None:
    from sweeper import load_space, run_sweep

    space = load_space(space_name)
    results = tempfile.mkdtemp()
    for n in checkpoints:  # each call resumes the same study up to n trials
        run_sweep(space, n_trials=n, max_epochs=epochs, pruner="none", results_dir=results)
        print(f"{n} {rss_mib():.0f}", flush=True)


def bare_side(space_name: str, checkpoints: list[int], epochs: int) -> None:
    import keras
    import optuna

    from sweeper import load_space
    from sweeper.optimizers import build_optimizer
    from sweeper.schedules import StepBudget, build_learning_rate

    space = load_space(space_name)
    data = space.load_data(None)
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler, direction=space.direction)
    done = 0
    for n in checkpoints:
        while done < n:  # same kind of configurations as the sweep, drawn at random
            params = space.suggest(study.ask())
            keras.backend.clear_session()
            model = space.build_model(params, data)
            budget = StepBudget(len(data.x_train), params["batch_size"], epochs,
                                space.objective, space.keras_mode, space.patience)
            lr, callbacks = build_learning_rate(params, budget)
            model.compile(optimizer=build_optimizer(lr, params), loss=space.loss,
                          metrics=list(space.metrics))
            model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                      batch_size=params["batch_size"], epochs=epochs, callbacks=callbacks,
                      verbose=0)
            done += 1
        print(f"{n} {rss_mib():.0f}", flush=True)


def measure(side: str, args) -> list[tuple[int, float]]:
    cmd = [sys.executable, __file__, "--side", side, "--space", args.space, "--epochs",
           str(args.epochs), "--checkpoints", *map(str, args.checkpoints)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [(int(n), float(m)) for n, m in (line.split() for line in out.splitlines())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits_space")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[20, 60, 100])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--side", choices=["sweep", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side = sweep_side if args.side == "sweep" else bare_side
        side(args.space, args.checkpoints, args.epochs)
        return
    rows = {side: measure(side, args) for side in ("bare", "sweep")}
    print(f"{args.space}, {args.epochs} epochs a trial: resident memory (MiB)")
    print("  trials   bare loop     sweep")
    for (n, bare), (_, sweep) in zip(rows["bare"], rows["sweep"], strict=True):
        print(f"  {n:>6}   {bare:9.0f}   {sweep:7.0f}")
    (n0, b0), (n1, b1) = rows["bare"][0], rows["bare"][-1]
    (_, s0), (_, s1) = rows["sweep"][0], rows["sweep"][-1]
    print(f"  growth per trial from {n0} to {n1}: bare {(b1 - b0) / (n1 - n0):.1f} MiB, "
          f"sweep {(s1 - s0) / (n1 - n0):.1f} MiB ({100 * (s1 - s0) / s0:+.0f}% for the sweep)")


if __name__ == "__main__":
    main()
