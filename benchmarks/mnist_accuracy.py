"""MNIST test accuracy of mnist_space's model family, next to the small CNN it replaced.

Trains one fixed configuration of ``mnist_space`` (``--config``) through sweeper's own build
path, as a trial and the winner's re-training do: the parameters resolved by
``space.suggest(FixedTrial(...))``, then ``objective.compile_model`` and ``fit_model``. It
trains on the space's 54,000 / 6,000 split for ``--epochs`` epochs, with no early stopping,
and prints seconds per epoch (wall and CPU, validation included), the validation accuracy
after each epoch and, at the end, the accuracy on the official 10,000 test images.

The baseline, in the same run: the small CNN mnist_space had before (3x3 convolutions of 32
then 64 filters, each followed by 2x2 max pooling, then dropout, a dense layer, dropout), built
and compiled here by hand and trained by a bare ``model.fit`` with the same optimizer,
learning-rate schedule, batch size, steps per execution, units, dropout and epochs. With
``--repeat`` the sides alternate, each repeat with its own seed (the same for both sides).

    python benchmarks/mnist_accuracy.py --epochs 8 --config best --data-dir DIR
    python benchmarks/mnist_accuracy.py --epochs 3 --config start --repeat 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
import optuna

from sweeper import load_space
from sweeper.space.data import load_dataset
from sweeper.space.starting import starting_points
from sweeper.training.build import EXAMPLES_PER_EXECUTION, compile_model, fit_model

# Shared training settings: Adam at its default rate, decayed to 0 over the epoch budget.
TRAINING = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "lr_schedule": "cosine",
    "batch_size": 128,
    "clipping": "none",
    "dropout": 0.25,
}
CONFIGS = {
    # Two convolutions a block (32, 32 | 64, 64), batch norm, augmentation.
    "best": {
        **TRAINING,
        "filters": 32,
        "convs_per_block": 2,
        "batch_norm": True,
        "augment": True,
        "units": 128,
    },
    # One convolution a block, as the old CNN, with batch norm and augmentation: half the cost.
    "small": {
        **TRAINING,
        "filters": 32,
        "convs_per_block": 1,
        "batch_norm": True,
        "augment": True,
        "units": 128,
    },
    # The space's well-worn starting point (Adam at 1e-3), as a new sweep's trial 1 runs.
    "start": {},
}
OLD_FILTERS = 32  # the old space's starting width


class EpochClock(keras.callbacks.Callback):
    """Wall and CPU seconds of each epoch (training and validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._started = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.wall.append(time.perf_counter() - self._started[0])
        self.cpu.append(time.process_time() - self._started[1])


def resolve(space, name: str) -> dict:
    """The configuration's full, active parameters, sampled through the space."""
    point = CONFIGS[name] or starting_points(space)[-1]  # the well-worn start, Adam at 1e-3
    return space.suggest(optuna.trial.FixedTrial(point))


def old_cnn(params, data):
    """The small CNN mnist_space had before, as it was written."""
    return keras.Sequential(
        [
            keras.Input(shape=data.input_shape),
            keras.layers.Conv2D(OLD_FILTERS, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(2 * OLD_FILTERS, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(params["dropout"]),
            keras.layers.Dense(params["units"], activation="relu"),
            keras.layers.Dropout(params["dropout"]),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )


def run_old(params, data, epochs: int):
    """Build, compile and ``model.fit`` the old CNN by hand: Adam, constant or cosine."""
    if params["optimizer"] != "adam" or params["lr_schedule"] not in ("constant", "cosine"):
        raise SystemExit("the baseline takes Adam with a constant or cosine learning rate")
    batch = params["batch_size"]
    steps = -(-len(data.x_train) // batch)
    rate = params["learning_rate"]
    if params["lr_schedule"] == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps * epochs)
    model = old_cnn(params, data)
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=max(1, min(EXAMPLES_PER_EXECUTION // batch, steps)),
    )
    clock = EpochClock()
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=batch,
        epochs=epochs,
        callbacks=[clock],
        verbose=0,
    )
    return model, history.history, clock


def run_space(space, params, data, epochs: int):
    """The configuration through sweeper's build path, trained for every epoch."""
    model, schedule_callbacks = compile_model(space, params, data, epochs)
    clock, history = EpochClock(), keras.callbacks.History()
    fit_model(
        space,
        optuna.trial.FixedTrial(params),
        params,
        model,
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        callbacks=[*schedule_callbacks, history, clock],
        verbose=0,
    )
    return model, history.history, clock


def measure(side: str, run, params, data, epochs: int, seed: int) -> dict:
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    model, history, clock = run(params, data, epochs)
    test = model.evaluate(data.x_test, data.y_test, batch_size=512, return_dict=True, verbose=0)
    return {
        "side": side,
        "params": model.count_params(),
        "wall": clock.wall,
        "cpu": clock.cpu,
        "val": history["val_accuracy"],
        "train": history["accuracy"],
        "test": float(test["accuracy"]),
        "total": time.perf_counter() - started,
    }


def steady(seconds: list[float]) -> float:
    """Median seconds per epoch, the first (graph tracing, warm-up) left out when possible."""
    return statistics.median(seconds[1:] or seconds)


def print_repeat(results: list[dict]) -> None:
    header = "  epoch"
    for r in results:
        header += f" | {r['side'] + ': wall s':>17} {'cpu s':>6} {'train':>6} {'val':>6}"
    print(header)
    for epoch in range(len(results[0]["val"])):
        line = f"  {epoch + 1:5d}"
        for r in results:
            line += (
                f" | {r['wall'][epoch]:17.1f} {r['cpu'][epoch]:6.1f} "
                f"{r['train'][epoch]:6.4f} {r['val'][epoch]:6.4f}"
            )
        print(line)
    for r in results:
        print(
            f"  {r['side']:>8}: test accuracy {r['test']:.4f} (official 10,000), best val "
            f"{max(r['val']):.4f}; {steady(r['wall']):.1f} s/epoch wall, "
            f"{steady(r['cpu']):.1f} CPU s/epoch; {r['total']:.0f} s in all"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="best")
    parser.add_argument("--repeat", type=int, default=1, help="repeats, sides alternated")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat")
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR"))
    parser.add_argument("--no-baseline", action="store_true", help="skip the old CNN")
    args = parser.parse_args()

    space = load_space("mnist_space")
    params = resolve(space, args.config)
    data = load_dataset(space, args.data_dir)
    print(
        f"mnist_accuracy: config {args.config!r}, {args.epochs} epochs, "
        f"{len(data.x_train)} train / {len(data.x_val)} validation / {len(data.x_test)} test; "
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  {args.config}: {params}")
    print(
        f"  old CNN: filters {OLD_FILTERS}, units {params['units']}, dropout "
        f"{params['dropout']:g}, the same optimizer, schedule and batch size"
    )
    sides = [(args.config, lambda p, d, e: run_space(space, p, d, e))]
    if not args.no_baseline:
        sides.insert(0, ("old", run_old))  # first: the short one
    summary: dict[str, list[dict]] = {name: [] for name, _ in sides}
    for repeat in range(args.repeat):
        seed = args.seed + repeat
        order = sides if repeat % 2 == 0 else sides[::-1]
        results = [measure(name, run, params, data, args.epochs, seed) for name, run in order]
        results.sort(key=lambda r: [name for name, _ in sides].index(r["side"]))
        print(f"\nrepeat {repeat + 1} of {args.repeat}, seed {seed}:")
        print_repeat(results)
        for r in results:
            summary[r["side"]].append(r)
    if args.repeat > 1:
        print(f"\nmedian over {args.repeat} repeats (min..max):")
    else:
        print()
    for name, runs in summary.items():
        tests = [r["test"] for r in runs]
        print(
            f"  {name:>8}: test accuracy {statistics.median(tests):.4f} "
            f"({min(tests):.4f}..{max(tests):.4f}); "
            f"{statistics.median(steady(r['wall']) for r in runs):.1f} s/epoch wall, "
            f"{statistics.median(steady(r['cpu']) for r in runs):.1f} CPU s/epoch; "
            f"{runs[0]['params']:,} parameters"
        )
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
