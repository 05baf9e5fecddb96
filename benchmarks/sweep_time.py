"""Where a sweep's time goes, and what one trial costs over a bare ``model.fit``.

Part 1 runs a real sweep and splits its wall time into start-up (imports, data), training
(``model.fit``), the rest of each trial (sampling, clearing Keras state, building, compiling)
and the study (sampler, pruner, storage). Part 2 is the baseline, measured in the same run:
one fixed configuration trained through sweeper's trial path and by a bare ``model.fit``,
alternated, same data, same epochs, no early stop or pruning. Both sides time
building, compiling and fitting; the sweeper side also its sampling, Keras reset, callbacks
and the study's bookkeeping: that difference is the orchestration overhead.

    python benchmarks/sweep_time.py --space mnist_space --trials 10 --max-epochs 3
    python benchmarks/sweep_time.py --space digits_space --trials 30 --max-epochs 5
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import tempfile
import time

START = time.perf_counter()

import bare  # noqa: E402  (timed as start-up, with Keras)
import keras  # noqa: E402
import optuna  # noqa: E402

from sweeper import load_space, run_sweep  # noqa: E402
from sweeper.space.data import load_dataset  # noqa: E402


def sweep_split(space, data_dir, trials, max_epochs):
    t0 = time.perf_counter()
    load_dataset(space, data_dir)  # what run_sweep pays once at start
    data_time = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as results:
        t0 = time.perf_counter()
        result = run_sweep(
            space,
            n_trials=trials,
            max_epochs=max_epochs,
            data_dir=data_dir,
            results_dir=results,
            workers=None,
        )
        total = time.perf_counter() - t0
        trials_wall = sum(t.user_attrs["wall_time_s"] for t in result.study.trials)
        best = result.best_trial
    return {
        "sweep wall (run_sweep)": total,
        "  model.fit": result.fit_time_s,
        "  trials, outside fit": trials_wall - result.fit_time_s,
        "  outside trials: data, sampler, storage, csv": total - trials_wall,
        "    of which data load (timed alone)": data_time,
    }, best


def bare_fit(space, data, params, epochs):
    keras.backend.clear_session(free_memory=False)  # a hand-written loop's reset, untimed
    t0 = time.perf_counter()
    bare.bare_fit(space, data, params, epochs)
    return time.perf_counter() - t0


def sweeper_trial(space, data, params, epochs):
    from sweeper.training.objective import KerasObjective

    space = dataclasses.replace(space, patience=epochs + 1)  # train every epoch, like bare
    study = optuna.create_study(direction=space.direction)
    study.enqueue_trial(params)
    gc.freeze()  # as run_sweep does around its trials
    t0 = time.perf_counter()
    study.optimize(KerasObjective(space, data, max_epochs=epochs), n_trials=1)
    elapsed = time.perf_counter() - t0
    gc.unfreeze()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits_space")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    space = load_space(args.space)
    startup = time.perf_counter() - START
    split, best = sweep_split(space, args.data_dir, args.trials, args.max_epochs)
    print(
        f"{args.space}: {args.trials} trials, up to {args.max_epochs} epochs, "
        f"keras backend {keras.backend.backend()}"
    )
    print(f"  start-up (imports)                             {startup:8.1f} s")
    total = split["sweep wall (run_sweep)"]
    for name, seconds in split.items():
        print(f"  {name:<46} {seconds:8.1f} s  {100 * seconds / total:5.1f}%")
    print(f"  best {space.objective}: {best.value:.4f} (trial {best.number})")

    data = load_dataset(space, args.data_dir)
    params = best.params  # the winner's configuration, trained for every epoch both ways
    bare, through = [], []
    for _ in range(args.repeats):  # alternate, so drift in machine speed hits both alike
        bare.append(bare_fit(space, data, params, args.max_epochs))
        through.append(sweeper_trial(space, data, params, args.max_epochs))
    print(
        f"baseline, {args.max_epochs} epochs of one configuration, {args.repeats} runs "
        "each (min = least disturbed by other load; median):"
    )
    for label, stat in (("min", min), ("median", statistics.median)):
        b, s = stat(bare), stat(through)
        print(
            f"  {label:<6} bare build+compile+fit {b:7.2f} s   sweeper trial {s:7.2f} s   "
            f"overhead {100 * (s - b) / b:+.1f}%"
        )


if __name__ == "__main__":
    main()
