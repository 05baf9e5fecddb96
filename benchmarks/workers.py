"""Worker processes: per-trial orchestration overhead, and throughput with 1, 2, ... workers.

overhead: the same configurations trained (a) through ``run_sweep(workers=1)``, a supervised
worker process, with sampling, the budget hand-shake, callbacks and the study's storage, and
(b) by a bare build + compile + fit loop with ``clear_session()`` between models, in this
process. No early stopping or pruning on either side, so both train every epoch. The sweep's
time per trial is the span from its 2nd trial's start to its last trial's end, over the
trials in it (worker start-up and the first trial's warm-up are left out, and the same trial is
left out of the bare side). Sides alternate; min and median over the repeats.

throughput: whole sweeps of the same space and budget with each worker count, timed end to
end (start-up included) and from the first trial's start to the last trial's end.

    python benchmarks/workers.py overhead --space digits_space --trials 10 --max-epochs 3
    python benchmarks/workers.py throughput --space digits_space --trials 40 --workers 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from sweeper import load_space, run_sweep
from sweeper.storage.storages import open_storage


def configurations(space, n: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.suggest(study.ask()) for _ in range(n)]


def trial_span(study: optuna.Study) -> float:
    """Seconds from the 2nd trial's start to the last trial's end."""
    trials = sorted(study.trials, key=lambda t: t.datetime_start)
    return (trials[-1].datetime_complete - trials[1].datetime_start).total_seconds()


def sweep_side(space, configs, epochs, data_dir) -> float:
    results = tempfile.mkdtemp()
    storage = open_storage(None, Path(results) / space.name)
    study = optuna.create_study(study_name=space.name, storage=storage, direction=space.direction)
    for params in configs:  # the sweep runs exactly these, in this order
        study.enqueue_trial(params)
    result = run_sweep(
        space,
        n_trials=len(configs),
        max_epochs=epochs,
        pruner="none",
        results_dir=results,
        data_dir=data_dir,
        workers=1,
    )
    return trial_span(result.study) / (len(configs) - 1)


def bare_side(space, data, configs, epochs) -> float:
    import keras
    from bare import bare_fit

    # Frozen like a worker's heap, so clear_session()'s gc pass costs both sides the same
    # and the difference is orchestration alone (unfrozen, this loop was ~26% slower).
    gc.freeze()
    started = None
    for i, params in enumerate(configs):
        if i == 1:
            started = time.perf_counter()
        keras.backend.clear_session()
        bare_fit(space, data, params, epochs)
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    return elapsed / (len(configs) - 1)


def overhead(args) -> None:
    space = load_space(args.space)
    space = dataclasses.replace(space, patience=args.max_epochs + 1)  # no early stopping
    configs = configurations(space, args.trials)
    data = space.load_data(args.data_dir)
    bare, sweep = [], []
    for _ in range(args.repeats):
        bare.append(bare_side(space, data, configs, args.max_epochs))
        sweep.append(sweep_side(space, configs, args.max_epochs, args.data_dir))
    print(
        f"{args.space}: {args.trials} configurations x {args.max_epochs} epochs, "
        f"{args.repeats} repeats; seconds per trial"
    )
    for label, stat in (("min", min), ("median", statistics.median)):
        b, s = stat(bare), stat(sweep)
        print(
            f"  {label:<6} bare loop {b:7.3f} s   sweeper worker {s:7.3f} s   "
            f"overhead {100 * (s - b) / b:+.1f}%"
        )


def throughput(args) -> None:
    space = load_space(args.space)
    print(
        f"{args.space}: {args.trials} trials (tpe, hyperband, up to {args.max_epochs} "
        "epochs), end to end and trials only"
    )
    for workers in args.workers:
        started = time.perf_counter()
        result = run_sweep(
            space,
            n_trials=args.trials,
            max_epochs=args.max_epochs,
            results_dir=tempfile.mkdtemp(),
            data_dir=args.data_dir,
            workers=workers,
        )
        wall = time.perf_counter() - started
        span = trial_span(result.study)
        print(
            f"  {workers} worker(s): {wall:6.1f} s end to end = "
            f"{3600 * args.trials / wall:6.0f} trials/h; trials only {span:6.1f} s = "
            f"{3600 * (args.trials - 1) / span:6.0f} trials/h"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["overhead", "throughput"])
    parser.add_argument("--space", default="digits_space")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (overhead if args.what == "overhead" else throughput)(args)


if __name__ == "__main__":
    main()
