"""Search efficiency: how soon, and how good, a model each tool finds on the same budget.

Tools in one sitting, the same space and data (benchmarks/spaces/tasks.py), equal wall-clock
budgets, several seeds (all but sweeper-kerastuner by default; --before and --variant add
other sweepers):

- sweeper: ``python -m sweeper run SPACE --timeout B --seed S``, no other flags;
- sweeper-kerastuner: the same with ``--engine kerastuner --algorithm hyperband``: KerasTuner's
  Hyperband oracle choosing sweeper's trials;
- optuna: the documented hand-written loop: TPE, HyperbandPruner, KerasPruningCallback and
  EarlyStopping in ``study.optimize(timeout=B)``;
- kerastuner: ``keras_tuner.Hyperband`` over a HyperModel (batch size in ``HyperModel.fit``),
  stopped between trials once the budget is spent;
- random: the same hand loop with RandomSampler and no pruning: the floor.

Every tool runs in a process of its own, timed from its launch (imports and data loading
included). After the search each tool's winner is re-trained on train + validation for its
best epoch count and tested on the official test set: sweeper by its own winner stage, the
peers as their docs show. Tools alternate within each seed, so drift in the machine's speed
lands on all of them.

Prints, per task: trials, epochs, best validation accuracy, time to each target and the
winner's test accuracy, per seed and as medians (with min..max), and writes a
best-so-far-vs-time plot per task as one self-contained HTML file.

    python benchmarks/search_efficiency.py                      # defaults: ~30 min, 2 cores
    python benchmarks/search_efficiency.py --tasks mnist --tools sweeper optuna --seeds 0 1 2
    python benchmarks/search_efficiency.py --tools sweeper --variant "--workers 2"
    python benchmarks/search_efficiency.py --budget 120 --train 6000 --val 2000 \\
        --target mnist=0.975,0.98 --target fashion=0.86,0.872
    python benchmarks/search_efficiency.py --budget 240 --train 12000 --val 3000 \\
        --target mnist=0.985,0.9865 --target fashion=0.865,0.8795   # the goal's size, ~2 h
    python benchmarks/search_efficiency.py --from-runs results/search_efficiency/runs.json \\
        --target mnist=0.965,0.975                  # the same sitting, other targets
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PEERS = ("optuna", "kerastuner", "random")
# sweeper's KerasTuner engine (its Hyperband oracle), beside the hand-written KerasTuner run:
# what the engine choice costs or gains.
ENGINE_TOOL = "sweeper-kerastuner"
TOOLS = ("sweeper", ENGINE_TOOL, *PEERS)
# The default sitting: sweeper against the three peers, which fits the 30-minute goal on 2
# cores; the engine comparison takes another 7 minutes, so it runs when asked for.
DEFAULT_TOOLS = ("sweeper", *PEERS)
BEFORE = "sweeper-before"  # with --before DIR: another checkout's sweeper, for before/after
TASKS = ("mnist", "fashion")
# Targets, on 3,000 training images in a 45-second search: the lower is what one sound
# configuration reaches in one full trial (Adam at its default: 96 % MNIST, 81-84 %
# Fashion-MNIST); the upper is the median best of a search (over all four tools and three
# seeds in one sitting: 97.0 % and 83.2 %). More data reaches higher: --target sets others.
TARGETS = {"mnist": (0.96, 0.97), "fashion": (0.81, 0.83)}


# --- the peers, as their users write them ------------------------------------------------


def _make_optimizer(keras, params):
    clip = {"clipnorm": params["clip_threshold"]} if params["clipping"] == "clipnorm" else {}
    name, lr = params["optimizer"], params["learning_rate"]
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, **clip)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=params["momentum"], **clip)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **clip)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=params["weight_decay"], **clip)
    return keras.optimizers.RMSprop(learning_rate=lr, **clip)


def _compiled(keras, params, data):
    from benchmarks.spaces.tasks import build_model

    model = build_model(params, data)
    model.compile(
        optimizer=_make_optimizer(keras, params),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class _EpochCount:
    total = 0


def _optuna_peer(data, seed: int, budget: float, sampler: str, events: list) -> dict:
    import keras
    import optuna
    from optuna_integration.keras import KerasPruningCallback

    from benchmarks.spaces import tasks as t

    class CountEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _EpochCount.total += 1

    def objective(trial: optuna.Trial) -> float:
        keras.backend.clear_session()
        params = {
            "optimizer": trial.suggest_categorical("optimizer", t.OPTIMIZERS),
            "learning_rate": trial.suggest_float("learning_rate", *t.LEARNING_RATE, log=True),
        }
        if params["optimizer"] == "momentum":
            params["momentum"] = trial.suggest_float("momentum", *t.MOMENTUM)
        if params["optimizer"] == "adamw":
            params["weight_decay"] = trial.suggest_float("weight_decay", *t.WEIGHT_DECAY, log=True)
        params["batch_size"] = trial.suggest_categorical("batch_size", t.BATCH_SIZES)
        params["clipping"] = trial.suggest_categorical("clipping", ("none", "clipnorm"))
        if params["clipping"] == "clipnorm":
            params["clip_threshold"] = trial.suggest_float(
                "clip_threshold", *t.CLIP_THRESHOLD, log=True
            )
        params["dropout"] = trial.suggest_float("dropout", *t.DROPOUT)
        params["filters"] = trial.suggest_int("filters", t.FILTERS[0], t.FILTERS[1], step=16)
        params["units"] = trial.suggest_int("units", *t.UNITS, log=True)
        model = _compiled(keras, params, data)
        callbacks = [
            CountEpochs(),
            keras.callbacks.EarlyStopping("val_accuracy", patience=t.PATIENCE, mode="max"),
        ]
        if sampler == "tpe":
            callbacks.append(KerasPruningCallback(trial, "val_accuracy"))
        history = model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            batch_size=params["batch_size"],
            epochs=t.EPOCHS,
            callbacks=callbacks,
            verbose=0,
        )
        scores = history.history["val_accuracy"]
        trial.set_user_attr("best_epoch", scores.index(max(scores)) + 1)
        return max(scores)

    def record(study, frozen):
        if frozen.state == optuna.trial.TrialState.COMPLETE:
            events.append((time.time(), frozen.value))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=t.EPOCHS, reduction_factor=3
            ),
        )
    else:
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
        )
    study.optimize(objective, timeout=budget, callbacks=[record], catch=(Exception,))
    best = study.best_trial
    params = {**best.params}
    return {"trials": len(study.trials), "params": params, "epochs": best.user_attrs["best_epoch"]}


def _kerastuner_peer(data, seed: int, budget: float, events: list, folder: str) -> dict:
    import keras
    import keras_tuner as kt

    from benchmarks.spaces import tasks as t

    class CNN(kt.HyperModel):
        def build(self, hp):
            params = {
                "optimizer": hp.Choice("optimizer", t.OPTIMIZERS),
                "learning_rate": hp.Float("learning_rate", *t.LEARNING_RATE, sampling="log"),
            }
            with hp.conditional_scope("optimizer", ["momentum"]):
                if params["optimizer"] == "momentum":
                    params["momentum"] = hp.Float("momentum", *t.MOMENTUM)
            with hp.conditional_scope("optimizer", ["adamw"]):
                if params["optimizer"] == "adamw":
                    params["weight_decay"] = hp.Float(
                        "weight_decay", *t.WEIGHT_DECAY, sampling="log"
                    )
            params["clipping"] = hp.Choice("clipping", ["none", "clipnorm"])
            with hp.conditional_scope("clipping", ["clipnorm"]):
                if params["clipping"] == "clipnorm":
                    params["clip_threshold"] = hp.Float(
                        "clip_threshold", *t.CLIP_THRESHOLD, sampling="log"
                    )
            params["dropout"] = hp.Float("dropout", *t.DROPOUT)
            params["filters"] = hp.Int("filters", t.FILTERS[0], t.FILTERS[1], step=16)
            params["units"] = hp.Int("units", *t.UNITS, sampling="log")
            return _compiled(keras, params, data)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(
                *args, batch_size=hp.Choice("batch_size", list(t.BATCH_SIZES)), **kwargs
            )

    deadline = time.time() + budget

    class TimedHyperband(kt.Hyperband):
        # KerasTuner has no wall-clock budget: end the search between trials once it is spent.
        def pre_create_trial(self):
            if time.time() >= deadline:
                self.oracle.max_trials = len(self.oracle.trials)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.score is not None:
                events.append((time.time(), float(trial.score)))

    class CountEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _EpochCount.total += 1

    tuner = TimedHyperband(
        CNN(),
        objective="val_accuracy",
        max_epochs=t.EPOCHS,
        factor=3,
        hyperband_iterations=1000,
        seed=seed,
        directory=folder,
        project_name="kt",
        max_consecutive_failed_trials=1000,
    )
    tuner.search(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=t.EPOCHS,
        callbacks=[
            CountEpochs(),
            keras.callbacks.EarlyStopping("val_accuracy", patience=t.PATIENCE, mode="max"),
        ],
        verbose=0,
    )
    best = tuner.oracle.get_best_trials(1)[0]
    return {
        "trials": len(tuner.oracle.trials),
        "params": dict(best.hyperparameters.values),
        "epochs": kerastuner_best_epochs(best),
    }


def kerastuner_best_epochs(trial) -> int:
    """The epochs a KerasTuner trial's best model had trained. Hyperband continues a trial
    from an earlier round's checkpoint at ``tuner/initial_epoch``, and ``best_step`` counts
    from there: KerasTuner reads it off this round's History alone."""
    return int(trial.hyperparameters.values.get("tuner/initial_epoch", 0)) + trial.best_step + 1


def _retrain_and_test(data, params: dict, epochs: int, seed: int) -> float:
    """The peers' winner: trained on train + validation for its best epoch count, tested."""
    import keras
    import numpy as np

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = _compiled(keras, params, data)
    model.fit(
        np.concatenate([data.x_train, data.x_val]),
        np.concatenate([data.y_train, data.y_val]),
        batch_size=params["batch_size"],
        epochs=epochs,
        verbose=0,
    )
    return float(model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"])


# Seeds of --retests: the same for every tool, and none a sweep or peer used for its own.
RETEST_SEEDS = range(1000, 1100)


def retest(spec_file: Path) -> None:
    """Re-train one winner's configuration once per seed in its spec file; its test
    accuracies are written back into the file."""
    from benchmarks.spaces.tasks import LOADERS

    spec = json.loads(spec_file.read_text())
    data = LOADERS[spec["task"]](os.environ.get("SWEEPER_DATA_DIR"))
    params, epochs = spec["params"], spec["epochs"]  # as the run recorded its winner
    spec["tests"] = [_retrain_and_test(data, params, epochs, seed) for seed in spec["seeds"]]
    spec_file.write_text(json.dumps(spec))


def run_peer(tool: str, task: str, seed: int, budget: float, out: Path) -> None:
    """One peer's search and winner, in this process; writes its record to ``out``."""
    import keras

    from benchmarks.spaces.tasks import LOADERS

    keras.utils.set_random_seed(seed)
    data = LOADERS[task](os.environ.get("SWEEPER_DATA_DIR"))
    events: list = []
    started = time.time()
    if tool == "kerastuner":
        with tempfile.TemporaryDirectory() as folder:
            found = _kerastuner_peer(data, seed, budget, events, folder)
    else:
        found = _optuna_peer(data, seed, budget, "tpe" if tool == "optuna" else "random", events)
    search_end = time.time()
    params = {"batch_size": 128, "clipping": "none", **found["params"]}
    test = _retrain_and_test(data, params, found["epochs"], seed)
    record = {
        "events": events,
        "trials": found["trials"],
        "epochs": _EpochCount.total,
        "search_started": started,
        "search_ended": search_end,
        "winner_test": test,
        "winner": params,
        "winner_epochs": found["epochs"],
    }
    out.write_text(json.dumps(record))


# --- sweeper, as its users run it ---------------------------------------------------------


def run_sweeper(
    task: str,
    seed: int,
    budget: float,
    folder: Path,
    env: dict,
    cwd: Path = ROOT,
    flags: tuple[str, ...] | list[str] = (),
) -> dict:
    """``sweeper run`` as a user types it, with ``flags`` added; its trials and winner read
    back from its results. ``python -m`` imports sweeper from ``cwd`` first."""
    import optuna

    from sweeper.storage.record import TrialRecord

    space_file = ROOT / "benchmarks" / "spaces" / f"{task}_subset.py"
    command = [sys.executable, "-m", "sweeper", "run", str(space_file), *flags]
    command += ["--timeout", str(budget), "--seed", str(seed), "--results-dir", str(folder)]
    _check(subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True))
    # The sweep's one results folder, named after its study (the engine adds to the name).
    (journal,) = folder.glob("*/study.journal")
    results = journal.parent
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name=results.name, storage=storage)
    events, epochs = [], 0
    for trial in study.trials:
        epochs += TrialRecord.of(trial).epochs_run or 0
        if trial.state == optuna.trial.TrialState.COMPLETE:
            events.append((trial.datetime_complete.timestamp(), trial.value))
    card = json.loads((results / "winner.json").read_text())
    return {
        "events": events,
        "trials": len(study.trials),
        "epochs": epochs,
        "winner_test": card["test_metrics"]["accuracy"],
        "winner": card.get("params"),
        "winner_epochs": card["epochs"],
    }


# --- the sitting ---------------------------------------------------------------------------


def _check(done: subprocess.CompletedProcess) -> None:
    if done.returncode != 0:
        sys.exit(f"{' '.join(done.args)} failed:\n{done.stderr[-2000:]}")


def run_one(tool: str, task: str, seed: int, args) -> dict:
    env = {**os.environ, "SWEEPER_DATA_DIR": args.data_dir}
    env.update({"BENCH_TRAIN": str(args.train), "BENCH_VAL": str(args.val)})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as scratch:
        tmp = kept_folder(args.keep, tool, task, seed) if args.keep else Path(scratch)
        launched = time.time()
        if tool == "sweeper":
            record = run_sweeper(task, seed, args.budget, tmp, env)
        elif tool == ENGINE_TOOL:
            flags = ("--engine", "kerastuner", "--algorithm", "hyperband")
            record = run_sweeper(task, seed, args.budget, tmp, env, flags=flags)
        elif tool == BEFORE:  # sweeper from another checkout; the task spaces from this one
            record = run_sweeper(task, seed, args.budget, tmp, env, Path(args.before))
        elif tool.startswith("sweeper "):  # a --variant: sweeper with these flags added
            flags = shlex.split(tool)[1:]
            record = run_sweeper(task, seed, args.budget, tmp, env, flags=flags)
        else:
            out = tmp / "peer.json"
            command = [sys.executable, __file__, "--peer", tool, "--task", task]
            command += ["--seed", str(seed), "--budget", str(args.budget), "--out", str(out)]
            _check(subprocess.run(command, env=env, capture_output=True, text=True))
            record = json.loads(out.read_text())
        record["total_s"] = time.time() - launched
        if args.retests:  # after the clock: the search's figures are already taken
            spec = tmp / "retest.json"
            seeds = list(RETEST_SEEDS[: args.retests])
            winner = {"task": task, "params": record["winner"], "seeds": seeds}
            spec.write_text(json.dumps({**winner, "epochs": record["winner_epochs"]}))
            command = [sys.executable, __file__, "--retest", str(spec)]
            _check(subprocess.run(command, env=env, capture_output=True, text=True))
            record["retests"] = json.loads(spec.read_text())["tests"]
    record["events"] = [(when - launched, value) for when, value in record["events"]]
    return {"tool": tool, "task": task, "seed": seed, **record}


def kept_folder(keep: str, tool: str, task: str, seed: int) -> Path:
    """Where ``--keep`` puts one run: ``DIR/<task>/<tool>/seed<N>``, a --variant's flags
    spelt into the tool's name."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in tool.replace(" ", "_"))
    folder = Path(keep) / task / name / f"seed{seed}"
    folder.mkdir(parents=True)
    return folder


def best_curve(events: list) -> list[tuple[float, float]]:
    curve, best = [], -math.inf
    for when, value in sorted(events):
        if value is not None and value > best:
            best = value
            curve.append((when, best))
    return curve


def time_to(events: list, target: float) -> float:
    return next((when for when, best in best_curve(events) if best >= target), math.inf)


def _median(values: list[float]) -> str:
    med = statistics.median(values)
    if math.isinf(med):
        return "never"
    finite = [v for v in values if math.isfinite(v)]
    spread = f" ({min(values):.0f}..{max(values):.0f})" if len(finite) == len(values) else ""
    return f"{med:.0f} s{spread}" if med > 1.5 else f"{med:.4f}"


def percent(target: float) -> str:
    """A target as the table and plot label it: 96.0%, or 98.65% where a tenth is too coarse."""
    return f"{target:.{1 if round(target, 3) == target else 2}%}"


def table(runs: list[dict], task: str, targets: tuple[float, ...]) -> str:
    head = ["tool", "seed", "trials", "epochs", "best val"]
    head += [f"to {percent(target)}" for target in targets] + ["winner test"]
    retested = any(r.get("retests") for r in runs if r["task"] == task)
    if retested:  # --retests: each winner's configuration, re-trained on the shared seeds
        counts = sorted({len(r.get("retests", [])) for r in runs if r["task"] == task})
        head.append(f"its mean over {'/'.join(map(str, counts))} re-trains")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]

    def seconds(value: float) -> str:
        return "never" if math.isinf(value) else f"{value:.0f} s"

    for tool in dict.fromkeys([*TOOLS, BEFORE, *(r["tool"] for r in runs)]):
        mine = [r for r in runs if r["task"] == task and r["tool"] == tool]
        if not mine:
            continue
        for r in mine:
            best = max((v for _, v in r["events"] if v is not None), default=math.nan)
            row = [tool, str(r["seed"]), str(r["trials"]), str(r["epochs"]), f"{best:.4f}"]
            row += [seconds(time_to(r["events"], target)) for target in targets]
            row.append(f"{r['winner_test']:.4f}")
            if retested:
                row.append(f"{statistics.mean(r['retests']):.4f}" if r.get("retests") else "")
            lines.append("| " + " | ".join(row) + " |")
        bests = [max((v for _, v in r["events"]), default=math.nan) for r in mine]
        row = [f"**{tool}** median", "", _stat([r["trials"] for r in mine])]
        row += [_stat([r["epochs"] for r in mine]), _acc(bests)]
        for target in targets:
            row.append(_median([time_to(r["events"], target) for r in mine]))
        row.append(_acc([r["winner_test"] for r in mine]))
        if retested:
            means = [statistics.mean(r["retests"]) for r in mine if r.get("retests")]
            row.append(_acc(means) if means else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _stat(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values)}..{max(values)})"


def _acc(values: list[float]) -> str:
    return f"{statistics.median(values):.4f} ({min(values):.4f}..{max(values):.4f})"


COLORS = {
    "sweeper": "#1b7837",
    ENGINE_TOOL: "#762a83",
    "optuna": "#2166ac",
    "kerastuner": "#b2182b",
    "random": "#888888",
    BEFORE: "#a6dba0",
}


def color(tool: str) -> str:
    return COLORS.get(tool, "#e08214")  # a --variant


def plot(runs: list[dict], task: str, budget: float, targets) -> str:
    """An inline SVG: best validation accuracy so far against seconds since launch."""
    curves = [(r["tool"], best_curve(r["events"])) for r in runs if r["task"] == task]
    values = [v for _, c in curves for _, v in c]
    if not values:
        return f"<p>{task}: no completed trials</p>"
    width, height, pad = 720, 360, 50
    x_max = max([budget * 1.2, *(w for _, c in curves for w, _ in c)])
    y_lo = max(0.0, min(targets[0] - 0.03, sorted(values)[len(values) // 4]))
    y_hi = min(1.0, max(values) + 0.005)

    def x(when):
        return pad + (width - 2 * pad) * when / x_max

    def y(value):
        clipped = min(max(value, y_lo), y_hi)
        return height - pad - (height - 2 * pad) * (clipped - y_lo) / (y_hi - y_lo)

    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    parts.append(f'<text x="{pad}" y="20">{task}: best validation accuracy so far</text>')
    for target in targets:
        parts.append(
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
            f'stroke="#ccc" stroke-dasharray="4"/><text x="{width - pad + 2}" '
            f'y="{y(target):.1f}" font-size="10">{percent(target)}</text>'
        )
    for tool, curve in curves:
        if not curve:
            continue
        points = []  # a step line: the best so far holds until the next improvement
        last = None
        for when, best in curve:
            if last is not None:
                points.append((when, last))
            points.append((when, best))
            last = best
        points.append((x_max, last))
        path = " ".join(f"{x(w):.1f},{y(v):.1f}" for w, v in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{color(tool)}" stroke-width="1.5" '
            f'opacity="0.8"><title>{tool}</title></polyline>'
        )
    for i, tool in enumerate(dict.fromkeys(tool for tool, _ in curves)):  # the sitting's
        parts.append(
            f'<text x="{pad + 110 * i}" y="{height - 10}" fill="{color(tool)}">{tool}</text>'
        )
    for tick in range(0, int(x_max) + 1, max(10, int(x_max / 6) // 10 * 10)):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - pad + 15}" font-size="10">{tick}s</text>'
        )
    for value in (y_lo, (y_lo + y_hi) / 2, y_hi):
        parts.append(f'<text x="2" y="{y(value):.1f}" font-size="10">{value:.3f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(DEFAULT_TOOLS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=45.0, help="seconds of search per run")
    parser.add_argument("--train", type=int, default=3000, help="training images per task")
    parser.add_argument("--val", type=int, default=1000, help="validation images per task")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SWEEPER_DATA_DIR", str(ROOT.parent / "shared" / "datasets")),
        help="folder holding mnist.npz",
    )
    parser.add_argument(
        "--before",
        metavar="DIR",
        help=f"also run '{BEFORE}': the sweeper of another checkout (e.g. a git worktree)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="FLAGS",
        help='also run sweeper with these flags added, e.g. "--workers 2" (repeatable)',
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="TASK=A,B",
        help="validation accuracies to time instead of the task's own, e.g. mnist=0.975,0.98 "
        "(for a larger --train; repeatable)",
    )
    parser.add_argument(
        "--from-runs",
        metavar="FILE",
        help="run nothing: report the runs.json of an earlier sitting (e.g. with other --target)",
    )
    parser.add_argument("--out", default=str(ROOT / "results" / "search_efficiency"))
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep each run's folder (sweeper's results and study, a peer's record) under DIR, "
        "to replay or re-train from later; by default they are deleted after each run",
    )
    parser.add_argument(
        "--retests",
        type=int,
        default=0,
        metavar="N",
        help="also re-train each winner's configuration N times, with seeds shared by every "
        "tool, and report the mean test accuracy: the configuration's worth apart from the "
        "luck of one re-training's seed (at the goal's size, half a minute per re-train)",
    )
    parser.add_argument("--retest", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.keep and Path(args.keep).is_dir() and any(Path(args.keep).iterdir()):
        parser.error(f"--keep {args.keep}: the folder is not empty; keep each sitting apart")
    for flags in args.variant:  # now, not when its turn comes minutes into the sitting
        try:
            shlex.split(flags)
        except ValueError as exc:
            parser.error(f"--variant {flags!r}: {exc}; quote it as a shell would")
    args.targets = dict(TARGETS)
    for given in args.target:
        task, _, values = given.partition("=")
        try:
            targets = tuple(sorted(float(v) for v in values.split(",")))
        except ValueError:
            targets = ()
        if task not in TASKS or not targets or not all(0 < t <= 1 for t in targets):
            parser.error(
                f"--target {given!r}: give a task ({', '.join(TASKS)}) and accuracies "
                "between 0 and 1, e.g. mnist=0.975,0.98"
            )
        args.targets[task] = targets
    return args


def sitting_tools(args: argparse.Namespace) -> list[str]:
    """The tools of one sitting: the chosen ones, then --before's and each --variant's."""
    tools = [*args.tools, *([BEFORE] if args.before else [])]
    return tools + [f"sweeper {flags}" for flags in args.variant]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.peer or args.retest:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if args.retest:
            retest(Path(args.retest))
        else:
            run_peer(args.peer, args.task, args.seed, args.budget, Path(args.out))
        return

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_runs:
        runs = json.loads(Path(args.from_runs).read_text())
        report(runs, args.targets, out)
        return
    tools = sitting_tools(args)
    runs: list[dict] = []
    started = time.time()
    for seed in args.seeds:
        for task in args.tasks:
            shift = seed % len(tools)  # who goes first rotates with the seed
            for tool in tools[shift:] + tools[:shift]:
                run = run_one(tool, task, seed, args)
                run.update(budget=args.budget, train=args.train, val=args.val)
                runs.append(run)
                print(
                    f"[{time.time() - started:5.0f} s] {task} {tool} seed {seed}: "
                    f"{run['trials']} trials, best "
                    f"{max((v for _, v in run['events']), default=math.nan):.4f}, "
                    f"test {run['winner_test']:.4f}, {run['total_s']:.0f} s",
                    flush=True,
                )
                (out / "runs.json").write_text(json.dumps(runs))
    report(runs, args.targets, out)


def report(runs: list[dict], targets: dict, out: Path) -> None:
    """Print each task's table and write the plots for a sitting's runs."""
    first = runs[0]
    if "budget" in first:  # a runs.json from before they were recorded has neither
        print(f"\n{first['train']} train / {first['val']} validation images, ", end="")
        print(f"{first['budget']:.0f} s per search")
    budget = first.get("budget", 0.0)  # the plot's time axis then ends at the last trial
    html = ["<!doctype html><meta charset='utf-8'><title>search efficiency</title>"]
    for task in dict.fromkeys(run["task"] for run in runs):
        print(f"\n## {task}\n\n{table(runs, task, targets[task])}")
        html.append(plot(runs, task, budget, targets[task]))
    (out / "search_efficiency.html").write_text("\n".join(html))
    print(f"\nruns: {out / 'runs.json'}; plot: {out / 'search_efficiency.html'}")


if __name__ == "__main__":
    main()
