"""Weight averaging (``Training(ema=True)``, the default) against the weights as trained.

Trains fixed configurations of the search-efficiency benchmark's tasks (the same CNN on an
MNIST and a Fashion-MNIST subset, ``benchmarks/spaces/tasks.py``) through sweeper's own build
path (``objective.compile_model``), once with ``ema=True`` and once with ``ema=False``, with
the same seed: the same initial weights and batches, so the two sides train alike (up to
floating-point rounding, which the averaging's extra operations change and the epochs grow)
and differ in the weights that are validated and kept. Each runs every epoch of the task (no
early stopping) and is scored as a sweep scores it (the best validation accuracy of any epoch)
and as the winner's re-training is (test accuracy on the official 10,000 images after the last
epoch). The sides alternate within each seed.

Configurations: the task's well-worn starting point (trial 1 of every sweep: Adam 1e-3,
batch 64), and two that the benchmark's sweeps draw among their best (Adam 3e-3 at batch 128
with the widest model; Adam 2e-3 at batch 256, where an epoch is fewest steps and the average
lags most).

    python benchmarks/weight_averaging.py                          # ~20 min on 2 cores
    python benchmarks/weight_averaging.py --tasks mnist --configs start --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONFIGS = {
    "start": None,  # the space's well-worn starting point (sweeper.space.starting)
    "wide": {"learning_rate": 3e-3, "batch_size": 128, "filters": 48, "units": 181},
    "large-batch": {"learning_rate": 2e-3, "batch_size": 256, "units": 128, "dropout": 0.2},
}
SIDES = {"ema": True, "plain": False}


def configuration(space, name: str) -> dict:
    from sweeper.space.starting import complete, starting_points

    well_worn = starting_points(space)[-1]  # Adam at 1e-3, after the bolder start
    given = CONFIGS[name]
    if given is None:
        return well_worn
    return complete(space, {**well_worn, **given}, f"configuration {name!r}")


def train(space, data, params: dict, seed: int) -> dict:
    """One configuration for every epoch of the task, as a trial trains it."""
    import keras
    import optuna

    from sweeper.training.build import compile_model, fit_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    model, callbacks = compile_model(space, params, data, space.max_epochs)
    history = keras.callbacks.History()
    fit_model(
        space,
        optuna.trial.FixedTrial(params),
        params,
        model,
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=space.max_epochs,
        callbacks=[*callbacks, history],
        verbose=0,
    )
    seconds = time.perf_counter() - started
    test = model.evaluate(data.x_test, data.y_test, batch_size=512, return_dict=True, verbose=0)
    val = history.history["val_accuracy"]
    return {
        "loss": history.history["loss"],
        "val": val,
        "best": max(val),
        "test": float(test["accuracy"]),
        "seconds": seconds,
    }


def spread(values: list[float], digits: int = 4) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:.{digits}f} ({low:.{digits}f}..{high:.{digits}f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks", nargs="+", choices=("mnist", "fashion"), default=["mnist", "fashion"]
    )
    parser.add_argument("--configs", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--train", type=int, default=12000, help="training images per task")
    parser.add_argument("--val", type=int, default=3000, help="validation images per task")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SWEEPER_DATA_DIR", str(ROOT.parent / "shared" / "datasets")),
        help="folder holding mnist.npz",
    )
    args = parser.parse_args(argv)
    os.environ.update(BENCH_TRAIN=str(args.train), BENCH_VAL=str(args.val))
    from benchmarks.spaces.tasks import task_space

    for task in args.tasks:
        space = task_space(task)
        data = space.load_data(args.data_dir)
        print(f"\n{task}: {args.train:,} / {args.val:,} images, {space.max_epochs} epochs")
        for name in args.configs:
            params = configuration(space, name)
            runs: dict[str, list[dict]] = {side: [] for side in SIDES}
            for seed in args.seeds:
                order = list(SIDES) if seed % 2 == 0 else list(SIDES)[::-1]
                for side in order:
                    runs[side].append(train(space, data, {**params, "ema": SIDES[side]}, seed))
            shown = {k: params[k] for k in ("optimizer", "learning_rate", "batch_size")}
            print(f"  {name} {shown}")
            for side, done in runs.items():
                print(
                    f"    {side:>5}: best val {spread([r['best'] for r in done])}, "
                    f"test {spread([r['test'] for r in done])}, "
                    f"epoch 1 val {spread([r['val'][0] for r in done])}, "
                    f"{spread([r['seconds'] for r in done], 1)} s"
                )
            pairs = list(zip(runs["ema"], runs["plain"], strict=True))
            gains = ", ".join(f"{(a['test'] - b['test']) * 100:+.2f}" for a, b in pairs)
            # The average is kept beside training, not fed back: the losses match but for
            # rounding (2e-8 after three epochs on the MNIST task, 1e-3 to 3e-3 by the ninth).
            apart = max(
                abs(x - y) for a, b in pairs for x, y in zip(a["loss"], b["loss"], strict=True)
            )
            print(f"    test gain per seed: {gains} points; training loss apart by {apart:.1e}")


if __name__ == "__main__":
    main()
