"""Accuracy against cost on ``mnist_space`` (on a subset of MNIST,
benchmarks/spaces/mnist_space_subset.py): the Pareto front and the winner the default rule
picks, what measuring the costs costs, a latency constraint, and pruning on the primary
objective against none.

    python benchmarks/accuracy_cost.py front --data-dir DIR        # ~10 min on 2 cores
    python benchmarks/accuracy_cost.py constraint --data-dir DIR   # ~10 min
    python benchmarks/accuracy_cost.py pruning --data-dir DIR      # ~40 min: 3 seeds x 2

``front`` sweeps val_accuracy (max) and params (min), then re-trains and tests both the most
accurate trial and the trial the default rule picks (the fewest parameters within 0.005 of
the best validation accuracy), and reports each one's parameters and test accuracy and, per
trial, the share of its time that measuring its costs took. ``constraint`` sweeps
val_accuracy alone under a latency constraint and measures the re-trained winner's latency
again from winner.keras. ``pruning`` runs the same two-objective sweep with sweeper's pruner
(on the primary objective) and without one, seed by seed, and reports the time each took and
the front each found: its size and its hypervolume (the area the front dominates in
(1 - val_accuracy, log10 params) up to (0.1, 6): accuracy above 0.9, under a million
parameters).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OBJECTIVES = ("val_accuracy:max", "params:min")
REFERENCE = (0.1, 6.0)  # (1 - val_accuracy, log10 params): the hypervolume's far corner


def hypervolume(points: list[tuple[float, float]], reference=REFERENCE) -> float:
    """The area that (1 - accuracy, log10 params) points dominate up to ``reference``, both
    minimized: from the most accurate point on, each covers the strip from its accuracy to
    the reference, between its size and the smallest size seen before it."""
    inside = sorted((a, p) for a, p in points if a < reference[0] and p < reference[1])
    area, smallest = 0.0, reference[1]
    for a, p in inside:
        if p < smallest:
            area += (reference[0] - a) * (smallest - p)
            smallest = p
    return area


def front_points(frame) -> list[tuple[float, float]]:
    front = frame[frame["pareto_rank"] == 1]
    return [
        (1 - v, math.log10(p)) for v, p in zip(front["val_accuracy"], front["params"], strict=True)
    ]


@contextlib.contextmanager
def sweep_folder(args, name: str):
    """``--results-dir``/``name`` where given, kept; else a folder removed afterwards."""
    if args.results_dir:
        folder = Path(args.results_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    else:
        with tempfile.TemporaryDirectory(prefix=f"accuracy-cost-{name}-") as folder:
            yield Path(folder)


def space():
    from benchmarks.spaces.mnist_space_subset import SPACE

    return SPACE


def sweep(args, seed: int, pruner: str, folder: Path, **settings):
    import sweeper

    started = time.perf_counter()
    result = sweeper.run(
        space(),
        n_trials=args.trials,
        max_epochs=args.epochs,
        seed=seed,
        pruner=pruner,
        results_dir=folder,
        data_dir=args.data_dir,
        workers=None,
        progress=False,
        retrain=False,
        **settings,
    )
    return result, time.perf_counter() - started


def cost_overhead(frame) -> str:
    trained = frame[frame["state"].isin(["complete", "pruned"])]
    shares = (trained["cost_time_s"] / trained["wall_time_s"]).dropna().tolist()
    seconds = trained["cost_time_s"].dropna().tolist()
    median = statistics.median
    return (
        f"cost measurement: median {median(shares):.1%} of a trial's time (min "
        f"{min(shares):.1%}, max {max(shares):.1%}; median {median(seconds):.2f} s, max "
        f"{max(seconds):.2f} s) over {len(shares)} trained trials"
    )


def rule_against_most_accurate(result) -> str:
    """The default rule's pick next to the most accurate trial, by validation."""
    complete = result.leaderboard[result.leaderboard["state"] == "complete"]
    best = complete.sort_values(["val_accuracy", "trial"], ascending=[False, True]).iloc[0]
    chosen = complete[complete["trial"] == result.winner_trial.number].iloc[0]
    return (
        f"rule: trial {int(chosen['trial'])} ({int(chosen['params']):,} params, val "
        f"{chosen['val_accuracy']:.4f}), most accurate: trial {int(best['trial'])} "
        f"({int(best['params']):,}, {best['val_accuracy']:.4f}): "
        f"{chosen['params'] / best['params']:.2f}x the parameters"
    )


def run_front(args) -> None:
    with sweep_folder(args, "front") as folder:
        report_front(args, folder)


def report_front(args, folder: Path) -> None:
    import sweeper

    result, took = sweep(args, args.seeds[0], "epoch_behind", folder, objectives=OBJECTIVES)
    frame = result.leaderboard
    complete = frame[frame["state"] == "complete"]
    front = result.pareto_front
    print(
        f"front: {len(frame)} trials in {took:.0f} s ({len(complete)} complete), "
        f"{len(front)} on the front, hypervolume {hypervolume(front_points(frame)):.4f}"
    )
    print(
        front[
            ["trial", "val_accuracy", "params", "size_mb", "latency_ms", "latency_ms_batch"]
        ].to_string(index=False)
    )
    print(cost_overhead(frame))
    accurate = int(
        complete.sort_values(["val_accuracy", "trial"], ascending=[False, True]).iloc[0]["trial"]
    )
    cards = {}
    for label, number in (("most accurate", accurate), ("default rule", None)):
        winner = sweeper.retrain_winner(
            space(), result.study, result.results, trial_number=number, data_dir=args.data_dir
        )
        cards[label] = winner.card
    for label, card in cards.items():
        row = frame[frame["trial"] == card["trial"]].iloc[0]
        print(
            f"{label}: trial {card['trial']}, {int(row['params']):,} params, val "
            f"{row['val_accuracy']:.4f}, test {card['test_metrics']['accuracy']:.4f}"
            + (f" ({card['why']})" if label == "default rule" else "")
        )
    chosen, best = cards["default rule"], cards["most accurate"]
    ratio = (
        frame.set_index("trial").loc[chosen["trial"], "params"]
        / frame.set_index("trial").loc[best["trial"], "params"]
    )
    gap = 100 * (best["test_metrics"]["accuracy"] - chosen["test_metrics"]["accuracy"])
    print(
        f"the rule's winner has {ratio:.2f}x the most accurate trial's parameters and tests "
        f"{gap:+.2f} points below it"
    )


def run_constraint(args) -> None:
    with sweep_folder(args, "constraint") as folder:
        report_constraint(args, folder)


def report_constraint(args, folder: Path) -> None:
    import keras

    import sweeper
    from sweeper.training.costs import measure_costs

    started = time.perf_counter()
    result = sweeper.run(
        space(),
        n_trials=args.trials,
        max_epochs=args.epochs,
        seed=args.seeds[0],
        results_dir=folder,
        data_dir=args.data_dir,
        workers=None,
        progress=False,
        constraints=(args.constraint,),
    )
    frame = result.leaderboard
    complete = frame[frame["state"] == "complete"]
    print(
        f"constraint {args.constraint}: {len(frame)} trials in "
        f"{time.perf_counter() - started:.0f} s; {int((~complete['feasible']).sum())} of "
        f"{len(complete)} complete trials break it"
    )
    best_any = complete.sort_values("value", ascending=False).iloc[0]
    card = result.winner.card
    name = args.constraint.split("<")[0].split(">")[0].strip()
    row = frame[frame["trial"] == card["trial"]].iloc[0]
    print(
        f"most accurate of all: trial {int(best_any['trial'])}, val {best_any['value']:.4f}, "
        f"{name} {best_any[name]:.4g} (feasible: {bool(best_any['feasible'])})"
    )
    print(
        f"winner: trial {card['trial']}, val {row['value']:.4f}, test "
        f"{card['test_metrics']['accuracy']:.4f}, {name} in the sweep {row[name]:.4g}"
    )
    model = keras.saving.load_model(result.winner.model_path)
    data = space().load_data(args.data_dir)
    again = [measure_costs(model, data.x_test, 256, None)[0][name] for _ in range(5)]
    print(
        f"winner.keras measured again, 5 times: median {statistics.median(again):.4g} "
        f"(min {min(again):.4g}, max {max(again):.4g}) against the bound "
        f"{args.constraint}"
    )


def run_pruning(args) -> None:
    rows = []
    for seed in args.seeds:
        for pruner in ("epoch_behind", "none"):
            with sweep_folder(args, f"{pruner}-{seed}") as folder:
                result, took = sweep(args, seed, pruner, folder, objectives=OBJECTIVES)
                frame = result.leaderboard
                picked = rule_against_most_accurate(result)
                front_size = len(result.pareto_front)
            epochs = int(frame["epochs_run"].fillna(0).sum())
            volume = hypervolume(front_points(frame))
            rows.append(
                (
                    seed,
                    pruner,
                    took,
                    epochs,
                    int((frame["state"] == "pruned").sum()),
                    front_size,
                    volume,
                )
            )
            print(
                f"seed {seed} {pruner:>12}: {took:6.0f} s, {epochs:3d} epochs, "
                f"{rows[-1][4]:2d} pruned, front {rows[-1][5]:2d}, hypervolume {volume:.4f}; "
                f"{picked}",
                flush=True,
            )
    for pruner in ("epoch_behind", "none"):
        mine = [r for r in rows if r[1] == pruner]
        times, volumes = [r[2] for r in mine], [r[6] for r in mine]
        print(
            f"{pruner:>12}: time median {statistics.median(times):.0f} s "
            f"({min(times):.0f}-{max(times):.0f}), hypervolume median "
            f"{statistics.median(volumes):.4f} ({min(volumes):.4f}-{max(volumes):.4f}), "
            f"front size median {statistics.median(r[5] for r in mine):.0f}"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("front", "constraint", "pruning"))
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR"))
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--val", type=int, default=2000, help="validation images")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--constraint", default="latency_ms_batch<=0.05")
    parser.add_argument("--results-dir", help="keep each sweep's folder here")
    args = parser.parse_args(argv)
    args.seeds = args.seeds or ([0, 1, 2] if args.mode == "pruning" else [0])
    os.environ["BENCH_TRAIN"], os.environ["BENCH_VAL"] = str(args.train), str(args.val)
    print(
        f"mnist_space on {args.train:,} training and {args.val:,} validation images, "
        f"{args.trials} trials of up to {args.epochs} epochs, seeds {args.seeds}",
        flush=True,
    )
    {"front": run_front, "constraint": run_constraint, "pruning": run_pruning}[args.mode](args)


if __name__ == "__main__":
    main()
