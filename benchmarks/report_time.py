"""How long ``report`` takes on a big study, and where the time goes.

Builds a study of N trials (default 200) in a journal file through Optuna's API: parameters
sampled from the real space declaration (conditionals included), and for each trial the user
attributes a sweep records (per-epoch history of four metrics, best epoch, times, seed),
about 55% complete, 35% pruned (with their intermediate values) and 10% failed. The learning
curves are made up, not trained: the report's cost depends on how many trials, parameters
and epochs there are, not on how they were trained. Then it times

- in process: ``leaderboard()`` (the ranked table), each plot, and ``write_leaderboard()``
  (CSV + HTML, the call ``run`` makes at its end);
- end to end: ``python -m sweeper report`` in a fresh process (imports included);
- the baseline, same run: a fresh process doing what Optuna users do by hand, loading the
  study and writing ``trials_dataframe()`` to a CSV.

    python benchmarks/report_time.py --space mnist_space --trials 200 --repeat 3
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from sweeper import SweepConfig, load_space
from sweeper.report.leaderboard import leaderboard, write_leaderboard
from sweeper.report.plots import PLOTS
from sweeper.search.study import open_study
from sweeper.storage.storages import load_existing_study, open_storage

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def curve(rng: random.Random, epochs: int, ceiling: float) -> dict[str, list[float]]:
    rate = rng.uniform(0.3, 1.5)
    val_acc = [
        min(0.999, ceiling * (1 - math.exp(-rate * e)) + rng.gauss(0, 0.005))
        for e in range(1, epochs + 1)
    ]
    acc = [min(0.999, a + rng.uniform(0, 0.02)) for a in val_acc]
    return {
        "loss": [-math.log(max(a, 1e-3)) for a in acc],
        "accuracy": acc,
        "val_loss": [-math.log(max(a, 1e-3)) for a in val_acc],
        "val_accuracy": val_acc,
    }


def build_study(space, storage, n_trials: int, max_epochs: int, seed: int) -> None:
    config = SweepConfig(
        sampler="random", pruner="median", seed=seed, max_epochs=max_epochs
    ).resolve(space)
    study = open_study(space, storage, config)
    rng = random.Random(seed)
    for _ in range(n_trials):
        trial = study.ask()
        space.suggest(trial)
        kind = rng.choices(("complete", "pruned", "fail"), (55, 35, 10))[0]
        epochs = {
            "complete": max_epochs,
            "pruned": rng.randint(1, max_epochs // 2),
            "fail": rng.randint(1, max_epochs),
        }[kind]
        history = curve(rng, epochs, rng.uniform(0.2 if kind == "pruned" else 0.8, 0.995))
        val = history["val_accuracy"]
        best = max(range(epochs), key=val.__getitem__) + 1
        attrs = {
            "seed": rng.getrandbits(31),
            "history": history,
            "epochs_run": epochs,
            "best_epoch": best,
            "metrics": {m: history[m][best - 1] for m in METRICS},
            "wall_time_s": round(epochs * rng.uniform(3, 9), 3),
        }
        attrs["fit_time_s"] = round(attrs["wall_time_s"] * 0.93, 3)
        if kind == "fail":
            attrs["fail_reason"] = rng.choice(
                [f"loss became NaN at epoch {epochs}", "out of memory: OOM when allocating"]
            )
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        if kind == "pruned":
            for epoch, value in enumerate(val, start=1):
                trial.report(value, epoch)
            study.tell(trial, state=TrialState.PRUNED)
        elif kind == "fail":
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, val[best - 1])


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def show(label: str, times: list[float]) -> None:
    print(f"{label:<52} min {min(times):7.3f}s  median {statistics.median(times):7.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="mnist_space")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    space = load_space(args.space)
    results = Path(tempfile.mkdtemp())
    out_dir = results / space.name
    started = time.perf_counter()
    build_study(space, open_storage(None, out_dir), args.trials, args.max_epochs, seed=0)
    print(
        f"built {args.trials} trials of {space.name} ({len(space.all_params)} parameters, "
        f"up to {args.max_epochs} epochs) in {time.perf_counter() - started:.1f}s: "
        f"{out_dir}"
    )

    study = load_existing_study(space.name, None, out_dir)
    frame = leaderboard(study)
    counts = frame["state"].value_counts().to_dict()
    print(f"states: {counts}; csv columns: {len(frame.columns)}")
    show("in process: leaderboard() table", timed(lambda: leaderboard(study), args.repeat))
    for plot in PLOTS:
        show(
            f"in process: plot {plot.key}",
            timed(lambda plot=plot: plot.build(study, frame), args.repeat),
        )
    show(
        "in process: write_leaderboard() (CSV + HTML)",
        timed(lambda: write_leaderboard(study, out_dir), args.repeat),
    )
    size = (out_dir / "leaderboard.html").stat().st_size
    print(f"leaderboard.html: {size / 2**20:.1f} MiB")

    command = [sys.executable, "-m", "sweeper", "report", space.name, "--results-dir", str(results)]
    show(
        "end to end: python -m sweeper report",
        timed(lambda: subprocess.run(command, check=True, capture_output=True), args.repeat),
    )
    baseline = (
        "import optuna; optuna.logging.set_verbosity(optuna.logging.WARNING); "
        "from optuna.storages import JournalStorage; "
        "from optuna.storages.journal import JournalFileBackend; "
        f"s = optuna.load_study(study_name={space.name!r}, storage=JournalStorage("
        f"JournalFileBackend({str(out_dir / 'study.journal')!r}))); "
        f"s.trials_dataframe().to_csv({str(results / 'by_hand.csv')!r})"
    )
    show(
        "baseline: load study + trials_dataframe() to CSV",
        timed(lambda: subprocess.run([sys.executable, "-c", baseline], check=True), args.repeat),
    )


if __name__ == "__main__":
    main()
