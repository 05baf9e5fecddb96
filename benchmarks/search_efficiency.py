"""Search efficiency: how soon, and how good, a model each tool finds on the same budget.

Tools in one sitting, on the same task (``benchmarks/spaces/tasks.py``: two CNNs, an MLP, a
recurrent network, a regression), equal wall-clock budgets, several seeds:

- sweeper: ``python -m sweeper run SPACE --timeout B --seed S``, no other flags (``--variant``
  adds sweeper with flags, ``--before DIR`` another checkout's sweeper);
- sweeper-kerastuner: the same with ``--engine kerastuner --algorithm hyperband``;
- the peers (``benchmarks/peers.py``), each as its docs show: the hand-written Optuna loop
  (``optuna``), random search (``random``), KerasTuner's Hyperband (``kerastuner``), Ray Tune
  with OptunaSearch and ASHA, trials in parallel (``ray``), and DEHB (``dehb``);
- the oracle: the best configuration any tool found for the task in the sitting, trained once
  from a cold start the way the tool that found it trains (sweeper's trial path, with its
  weight averaging, or plain Keras for a peer's; ``--no-oracle`` skips it,
  ``--oracle-trainings N`` trains it N times on its own seeds): how soon a search could reach
  each target.

Every tool runs in a process of its own, timed from its launch (imports and data loading
included), to the end of each epoch it trains: a tool reaches a target with the first epoch
that validates at it (``--clock trial``: when that epoch's trial ends). After the search each
tool's winner is re-trained on train + validation for its best epoch count and tested on the
task's test set: sweeper by its own winner stage, the peers alike. Tools alternate within
each seed, so drift in the machine's speed lands on all of them.

Prints, per task: trials, epochs, best validation value, time to each target and the
winner's test score, per seed and as medians (with min..max); for sweeper, when its starting
points ended, the best they validated and when another trial's first epoch ended (no target
above their best comes sooner); and writes a best-so-far-vs-time plot per task as one
self-contained HTML file.

    python benchmarks/search_efficiency.py                      # defaults: ~27 min, 2 cores
    python benchmarks/search_efficiency.py --tasks friedman --budget 120 \
        --tools sweeper optuna ray dehb --variant=--no-starting-points
    python benchmarks/search_efficiency.py --tools sweeper --variant "--workers 2"
    python benchmarks/search_efficiency.py --budget 240 --train 12000 --val 3000 \
        --target mnist=0.985,0.9865 --target fashion=0.865,0.8795   # the goal's size, ~2 h
    python benchmarks/search_efficiency.py --from-runs results/search_efficiency/runs.json \
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

from benchmarks import peers  # noqa: E402 - after ROOT joins the path
from benchmarks.spaces.tasks import TASKS  # noqa: E402
from sweeper.storage.record import (  # noqa: E402
    STARTING_POINT,
    TrialRecord,
    before_divergence,
)

PEERS = peers.PEERS
# sweeper's KerasTuner engine (its Hyperband oracle), beside the hand-written KerasTuner run:
# what the engine choice costs or gains.
ENGINE_TOOL = "sweeper-kerastuner"
TOOLS = ("sweeper", ENGINE_TOOL, *PEERS)
# The default sitting: sweeper against the three peers every earlier sitting had, on the two
# CNN tasks, which fits the 30-minute goal on 2 cores. Ray Tune and DEHB, the other tasks and
# the engine comparison run when asked for (--tools, --tasks).
DEFAULT_TOOLS = ("sweeper", "optuna", "kerastuner", "random")
DEFAULT_TASKS = ("mnist", "fashion")
BEFORE = "sweeper-before"  # with --before DIR: another checkout's sweeper, for before/after
ORACLE = "oracle"  # the sitting's best configuration, trained once from a cold start
TARGETS = {name: task.targets for name, task in TASKS.items()}


# --- the peers, in a process of their own ---------------------------------------------------


kerastuner_best_epochs = peers.kerastuner_best_epochs


# Seeds of --retests: the same for every tool, and none a sweep or peer used for its own.
RETEST_SEEDS = range(1000, 1100)


def trained_as(tool: str) -> str:
    """How a configuration ``tool`` found is re-trained and timed: through sweeper's own
    trial path where a sweeper run found it, in plain Keras where a peer did."""
    return "sweeper" if tool.startswith("sweeper") else "keras"


def retest(spec_file: Path) -> None:
    """Re-train one winner's configuration once per seed in its spec file; its test
    scores are written back into the file."""
    spec = json.loads(spec_file.read_text())
    task = TASKS[spec["task"]]
    data = task.load(peers.data_dir())
    params, epochs = spec["params"], spec["epochs"]  # as the run recorded its winner
    # Trained the way the tool that found it trains its winner, as the oracle is.
    train = (
        peers.sweeper_retrain_and_test
        if spec.get("trained_as") == "sweeper"
        else peers.retrain_and_test
    )
    spec["tests"] = [train(task, data, params, epochs, seed) for seed in spec["seeds"]]
    spec_file.write_text(json.dumps(spec))


def run_peer(tool: str, task_name: str, seed: int, budget: float, out: Path) -> None:
    """One peer's search and winner, in this process; writes its record to ``out``."""
    import keras

    task = TASKS[task_name]
    keras.utils.set_random_seed(seed)
    data = task.load(peers.data_dir())
    events: list = []
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        found = peers.run(tool, task, data, seed, budget, events, folder)
    search_end = time.time()
    params = {"batch_size": 128, "clipping": "none", **found["params"]}
    test = peers.retrain_and_test(task, data, params, found["epochs"], seed)
    record = {
        "events": events,
        "epoch_events": peers.Epochs.ends,
        "trials": found["trials"],
        "epochs": peers.Epochs.total,
        "search_started": started,
        "search_ended": search_end,
        "winner_test": test,
        "winner": params,
        "winner_epochs": found["epochs"],
    }
    out.write_text(json.dumps(record))


def run_oracle(spec_file: Path, launched: float) -> None:
    """The oracle: one configuration trained from a cold start in this process, timed from
    ``launched`` (before the interpreter started); its epochs' values written back."""
    spec = json.loads(spec_file.read_text())
    task = TASKS[spec["task"]]
    data = task.load(peers.data_dir())
    train = peers.sweeper_oracle if spec["trained_as"] == "sweeper" else peers.oracle
    spec["events"] = train(task, data, spec["params"], launched, spec["seed"])
    spec_file.write_text(json.dumps(spec))


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

    space_file = TASKS[task].space_file
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
    events = [
        (trial.datetime_complete.timestamp(), trial.value)
        for trial in study.trials
        if trial.state == optuna.trial.TrialState.COMPLETE
    ]
    card = json.loads((results / "winner.json").read_text())
    return {
        "events": events,
        "epoch_events": sweeper_epoch_events(study, TASKS[task].objective),
        "trials": len(study.trials),
        "epochs": sum(TrialRecord.of(trial).epochs_run or 0 for trial in study.trials),
        "winner_test": card["test_metrics"][TASKS[task].metric],
        "winner": card.get("params"),
        "winner_epochs": card["epochs"],
        "starts": starting_points_of(study, TASKS[task].sign),
    }


def starting_points_of(study, sign: int) -> dict | None:
    """When the sweep's starting points ended (``end``), the best value they validated
    (``best``), and when the first epoch of any other trial ended (``next``, None if none
    did): a target above their best is reached no sooner than ``next``, whatever the search
    draws. None for a sweep without starting points."""
    starts, others = [], []
    for trial in study.trials:
        if trial.datetime_complete is not None:
            (starts if STARTING_POINT in trial.user_attrs else others).append(trial)
    if not starts:
        return None
    values = [t.value for t in starts if t.value is not None and math.isfinite(t.value)]
    firsts = [ends[0] for ends in map(epoch_ends, others) if ends]
    return {
        "end": max(t.datetime_complete.timestamp() for t in starts),
        "best": max(values, key=lambda v: sign * v) if values else None,
        "next": min(firsts, default=None),
    }


def epoch_ends(trial) -> list[float]:
    """When each epoch of a finished trial ended, from what it recorded (``epoch_end_s``): its
    start is read as its completion less its wall time, never before the objective started,
    so no epoch is timed early. Empty where it recorded no epochs' times."""
    record = TrialRecord.of(trial)
    if trial.datetime_complete is None or record.wall_time_s is None:
        return []
    start = trial.datetime_complete.timestamp() - record.wall_time_s
    return [start + seconds for seconds in record.epoch_end_s]


def sweeper_epoch_events(study, objective: str) -> list[tuple[float, float]] | None:
    """(time, validation value) at each epoch's end (``epoch_ends``), every trial's, up to
    its divergence. None where a trial trained without recording its epochs' times (an older
    sweeper)."""
    events = []
    for trial in study.trials:
        record = TrialRecord.of(trial)
        if trial.datetime_complete is None or record.wall_time_s is None:
            continue
        if record.epochs_run and not record.epoch_end_s:
            return None
        values = before_divergence(record.history.get(objective, []), record.history)
        for when, value in zip(epoch_ends(trial), values, strict=False):
            if value is not None:
                events.append((when, value))
    return events


# --- the sitting ---------------------------------------------------------------------------


def _check(done: subprocess.CompletedProcess) -> None:
    if done.returncode != 0:
        sys.exit(f"{' '.join(done.args)} failed:\n{done.stderr[-2000:]}")


def _environment(args) -> dict:
    env = {**os.environ, "SWEEPER_DATA_DIR": args.data_dir}
    env.update({"BENCH_TRAIN": str(args.train), "BENCH_VAL": str(args.val)})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_one(tool: str, task: str, seed: int, args) -> dict:
    env = _environment(args)
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
            winner["trained_as"] = trained_as(tool)
            spec.write_text(json.dumps({**winner, "epochs": record["winner_epochs"]}))
            command = [sys.executable, __file__, "--retest", str(spec)]
            _check(subprocess.run(command, env=env, capture_output=True, text=True))
            record["retests"] = json.loads(spec.read_text())["tests"]
    for key in ("events", "epoch_events"):
        if record.get(key) is not None:
            record[key] = [(when - launched, value) for when, value in record[key]]
    for key in ("end", "next"):  # sweeper's starting points: their times, from launch too
        if record.get("starts") and record["starts"][key] is not None:
            record["starts"][key] -= launched
    return {"tool": tool, "task": task, "seed": seed, **record}


def kept_folder(keep: str, tool: str, task: str, seed: int) -> Path:
    """Where ``--keep`` puts one run: ``DIR/<task>/<tool>/seed<N>``, a --variant's flags
    spelt into the tool's name."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in tool.replace(" ", "_"))
    folder = Path(keep) / task / name / f"seed{seed}"
    folder.mkdir(parents=True)
    return folder


def best_curve(events: list, sign: int = 1) -> list[tuple[float, float]]:
    """The best value so far at each improvement (``sign``: 1 where higher is better, -1
    where lower is)."""
    curve, best = [], -math.inf
    for when, value in sorted(events):
        if value is not None and math.isfinite(value) and sign * value > best:
            best = sign * value
            curve.append((when, value))
    return curve


# Keras reports metrics in float32: 840 of 1,000 images right is 0.8399999737..., which must
# count as reaching a target of 0.84.
FLOAT32_SLACK = 1e-6


def timeline(run: dict, clock: str) -> list:
    """A run's (time, value) events on ``clock``: at each epoch's end (``epoch``), or at each
    trial's (``trial``). A run recorded without its epochs' times (an earlier sitting's, an
    older sweeper's) has its trials' ends alone; ``table`` says so in its row."""
    epochs = run.get("epoch_events")
    return run["events"] if clock == "trial" or epochs is None else epochs


def time_to(events: list, target: float, sign: int = 1) -> float:
    return next(
        (
            when
            for when, best in best_curve(events, sign)
            if sign * best >= sign * target - FLOAT32_SLACK
        ),
        math.inf,
    )


def best_value(run: dict, sign: int = 1) -> float:
    curve = best_curve(run["events"], sign)
    return curve[-1][1] if curve else math.nan


def run_oracle_of(task: str, runs: list[dict], args) -> dict | None:
    """The oracle row: the best configuration any tool found for ``task`` in this sitting
    (the run with the best validation value), trained once from a cold start, in a fresh
    process timed from its launch as the tools are, the way the tool that found it trains
    (sweeper's trial path for any sweeper run, plain Keras for a peer's): the value it
    validated is the one the oracle can reach."""
    sign = TASKS[task].sign
    found = [r for r in runs if r["task"] == task and r.get("winner") and best_curve(r["events"])]
    if not found:
        return None
    best = max(found, key=lambda r: sign * best_value(r, sign))
    env = _environment(args)
    trainings = []  # one per training seed, 0 first: seed 0's alone is the one-run oracle
    for seed in range(args.oracle_trainings):
        with tempfile.TemporaryDirectory() as scratch:
            spec = Path(scratch) / "oracle.json"
            oracle = {"task": task, "params": best["winner"], "seed": seed}
            oracle["trained_as"] = trained_as(best["tool"])
            spec.write_text(json.dumps(oracle))
            launched = time.time()
            command = [sys.executable, __file__, "--oracle", str(spec)]
            command += ["--launched", str(launched)]
            _check(subprocess.run(command, env=env, capture_output=True, text=True))
            trainings.append(json.loads(spec.read_text())["events"])
    events = trainings[0]
    return {
        "tool": ORACLE,
        "task": task,
        "seed": best["seed"],
        "found_by": best["tool"],
        "trained_as": oracle["trained_as"],
        "events": events,
        "epoch_events": events,  # it is timed at every epoch either way
        "trainings": trainings,
        "trials": 1,
        "epochs": len(events),
        "winner_test": math.nan,
        "winner": best["winner"],
        "total_s": events[-1][0] if events else math.nan,
    }


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


def label(task: str, target: float) -> str:
    """An accuracy as a percentage; any other metric (an error) as its value."""
    return percent(target) if TASKS[task].metric == "accuracy" else f"{target:g}"


def table(runs: list[dict], task: str, targets: tuple[float, ...], clock: str = "epoch") -> str:
    head = ["tool", "seed", "trials", "epochs", "best val"]
    sign = TASKS[task].sign
    head += [f"to {label(task, target)}" for target in targets] + ["winner test"]
    retested = any(r.get("retests") for r in runs if r["task"] == task)
    if retested:  # --retests: each winner's configuration, re-trained on the shared seeds
        counts = sorted({len(r["retests"]) for r in runs if r["task"] == task and r.get("retests")})
        head.append(f"its mean over {'/'.join(map(str, counts))} re-trains")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]

    for tool in dict.fromkeys([*TOOLS, BEFORE, *(r["tool"] for r in runs)]):
        mine = [r for r in runs if r["task"] == task and r["tool"] == tool]
        if not mine:
            continue
        if tool == ORACLE:  # cold trainings of the sitting's best; no search, no winner
            (r,) = mine
            lines.append(oracle_row(r, sign, targets, retested))
            continue
        if clock == "epoch" and any(r.get("epoch_events") is None for r in mine):
            tool = f"{tool} (at trial ends)"  # recorded before epochs were timed
        for r in mine:
            best = best_value(r, sign)
            row = [tool, str(r["seed"]), str(r["trials"]), str(r["epochs"]), f"{best:.4f}"]
            row += [_seconds(time_to(timeline(r, clock), target, sign)) for target in targets]
            row.append(f"{r['winner_test']:.4f}")
            if retested:
                row.append(f"{statistics.mean(r['retests']):.4f}" if r.get("retests") else "")
            lines.append("| " + " | ".join(row) + " |")
        bests = [best_value(r, sign) for r in mine]
        row = [f"**{tool}** median", "", _stat([r["trials"] for r in mine])]
        row += [_stat([r["epochs"] for r in mine]), _acc(bests)]
        for target in targets:
            row.append(_median([time_to(timeline(r, clock), target, sign) for r in mine]))
        row.append(_acc([r["winner_test"] for r in mine]))
        if retested:
            means = [statistics.mean(r["retests"]) for r in mine if r.get("retests")]
            row.append(_acc(means) if means else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def oracle_row(r: dict, sign: int, targets: tuple[float, ...], retested: bool) -> str:
    """The oracle's line: its one cold training as it is, or with --oracle-trainings N the
    medians (min..max) over its N, since one cold run at a hard target is a toss of a coin."""
    trainings = r.get("trainings", [r["events"]])  # a runs.json from before had one
    name = f"**{ORACLE}** ({r['found_by']}'s, seed {r['seed']})"
    if len(trainings) == 1:
        row = [name, "", "1", str(r["epochs"]), f"{best_value(r, sign):.4f}"]
        row += [_seconds(time_to(r["events"], target, sign)) for target in targets]
    else:
        bests = [best_value({"events": events}, sign) for events in trainings]
        row = [f"{name}, {len(trainings)} cold trainings", "", "1"]
        row += [_stat([len(events) for events in trainings]), _acc(bests)]
        for target in targets:
            row.append(_median([time_to(events, target, sign) for events in trainings]))
    return "| " + " | ".join(row + [""] * (1 + retested)) + " |"


def starts_table(runs: list[dict], task: str) -> str:
    """Per sweeper tool with starting points: when they ended, the best they validated, and
    when another trial's first epoch ended (the soonest a target above their best can be
    reached), as medians (min..max); "" where no run recorded them."""
    lines = []
    for tool in dict.fromkeys(r["tool"] for r in runs if r["task"] == task and r.get("starts")):
        starts = [r["starts"] for r in runs if r["task"] == task and r["tool"] == tool]
        starts = [s for s in starts if s]
        bests = [s["best"] for s in starts if s["best"] is not None]
        best = _acc(bests) if bests else "none"
        nexts = [math.inf if s["next"] is None else s["next"] for s in starts]
        row = [tool, str(len(starts)), _median([s["end"] for s in starts]), best]
        lines.append("| " + " | ".join([*row, _median(nexts)]) + " |")
    if not lines:
        return ""
    head = "| tool | runs | starting points end | their best | another trial's first epoch |"
    return "\n".join([head, "|" + " --- |" * 5, *lines])


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f} s"


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
    "ray": "#01665e",
    "dehb": "#8c510a",
    BEFORE: "#a6dba0",
    ORACLE: "#000000",
}


def color(tool: str) -> str:
    return COLORS.get(tool, "#e08214")  # a --variant


def plot(runs: list[dict], task: str, budget: float, targets, clock: str = "epoch") -> str:
    """An inline SVG: the best validation value so far against seconds since launch (an
    error metric drawn upside down, so better is up on every task)."""
    sign = TASKS[task].sign
    curves = [(r["tool"], best_curve(timeline(r, clock), sign)) for r in runs if r["task"] == task]
    values = [sign * v for _, c in curves for _, v in c]
    if not values:
        return f"<p>{task}: no completed trials</p>"
    width, height, pad = 720, 360, 50
    x_max = max([budget * 1.2, *(w for _, c in curves for w, _ in c)])
    lowest = sign * targets[0] - 0.03 * abs(targets[0])
    y_lo = min(lowest, sorted(values)[len(values) // 4])
    y_hi = max(values) + 0.005 * abs(max(values))
    if sign > 0:
        y_lo, y_hi = max(0.0, y_lo), min(1.0, y_hi)

    def x(when):
        return pad + (width - 2 * pad) * when / x_max

    def y(value):
        clipped = min(max(sign * value, y_lo), y_hi)
        return height - pad - (height - 2 * pad) * (clipped - y_lo) / (y_hi - y_lo)

    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    metric = TASKS[task].objective
    parts.append(f'<text x="{pad}" y="20">{task}: best {metric} so far</text>')
    for target in targets:
        parts.append(
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
            f'stroke="#ccc" stroke-dasharray="4"/><text x="{width - pad + 2}" '
            f'y="{y(target):.1f}" font-size="10">{label(task, target)}</text>'
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
        shown = sign * value
        parts.append(f'<text x="2" y="{y(shown):.1f}" font-size="10">{shown:.3f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(DEFAULT_TASKS))
    parser.add_argument(
        "--tools",
        nargs="*",
        choices=TOOLS,
        default=list(DEFAULT_TOOLS),
        help="the tools to run (none: only --before's and each --variant's)",
    )
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
        help='also run sweeper with these flags added, e.g. "--workers 2", or a flag alone as '
        "--variant=--no-starting-points (repeatable)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="TASK=A,B",
        help="validation values to time instead of the task's own, e.g. mnist=0.975,0.98 or "
        "friedman=1.1,0.95 (for a larger --train; repeatable)",
    )
    parser.add_argument(
        "--clock",
        choices=("epoch", "trial"),
        default="epoch",
        help="when a tool reaches a target: at the end of the epoch that validated at it, as "
        "the oracle is timed (default), or at the end of that epoch's trial",
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
    parser.add_argument(
        "--no-oracle",
        action="store_true",
        help="skip the oracle row (the sitting's best configuration trained once, cold)",
    )
    parser.add_argument(
        "--oracle-trainings",
        type=int,
        default=1,
        metavar="N",
        help="train the oracle's configuration N times, each cold with its own seed, and "
        "report its medians: a steadier limit than one cold run (default 1)",
    )
    parser.add_argument("--retest", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--oracle", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.keep and Path(args.keep).is_dir() and any(Path(args.keep).iterdir()):
        parser.error(f"--keep {args.keep}: the folder is not empty; keep each sitting apart")
    if args.oracle_trainings < 1:
        parser.error(f"--oracle-trainings {args.oracle_trainings}: train it at least once")
    if not (args.tools or args.before or args.variant or args.from_runs):
        parser.error("--tools: name at least one tool, or add --before DIR or --variant FLAGS")
    for flags in args.variant:  # now, not when its turn comes minutes into the sitting
        try:
            shlex.split(flags)
        except ValueError as exc:
            parser.error(f"--variant {flags!r}: {exc}; quote it as a shell would")
    args.targets = dict(TARGETS)
    for given in args.target:
        task, _, values = given.partition("=")
        try:
            targets = tuple(float(v) for v in values.split(","))
        except ValueError:
            targets = ()
        accuracy = task in TASKS and TASKS[task].metric == "accuracy"
        if (
            task not in TASKS
            or not targets
            or not all(0 < t <= (1 if accuracy else math.inf) for t in targets)
        ):
            parser.error(
                f"--target {given!r}: give a task ({', '.join(TASKS)}) and its validation "
                "values (accuracies between 0 and 1, errors above 0), e.g. mnist=0.975,0.98"
            )
        # The easier target first: the lower accuracy, the higher error.
        args.targets[task] = tuple(sorted(targets, key=lambda t: TASKS[task].sign * t))
    return args


def sitting_tools(args: argparse.Namespace) -> list[str]:
    """The tools of one sitting: the chosen ones, then --before's and each --variant's."""
    tools = [*args.tools, *([BEFORE] if args.before else [])]
    return tools + [f"sweeper {flags}" for flags in args.variant]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.peer or args.retest or args.oracle:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if args.retest:
            retest(Path(args.retest))
        elif args.oracle:
            run_oracle(Path(args.oracle), args.launched)
        else:
            run_peer(args.peer, args.task, args.seed, args.budget, Path(args.out))
        return

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_runs:
        runs = json.loads(Path(args.from_runs).read_text())
        report(runs, args.targets, out, args.clock)
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
                    f"{best_value(run, TASKS[task].sign):.4f}, "
                    f"test {run['winner_test']:.4f}, {run['total_s']:.0f} s",
                    flush=True,
                )
                (out / "runs.json").write_text(json.dumps(runs))
    for task in args.tasks if not args.no_oracle else ():
        oracle = run_oracle_of(task, runs, args)
        if oracle is not None:
            runs.append(oracle)
            print(f"[{time.time() - started:5.0f} s] {task} oracle: {oracle['found_by']}'s best")
            (out / "runs.json").write_text(json.dumps(runs))
    report(runs, args.targets, out, args.clock)


STARTS_NOTE = (
    "sweeper's starting points, medians (min..max): a target above their best is reached no "
    "sooner than another trial's first epoch, whatever the search draws next"
)
CLOCKS = {
    "epoch": "at the end of the epoch that validated at it",
    "trial": "at the end of the trial that validated at it",
}


def report(runs: list[dict], targets: dict, out: Path, clock: str = "epoch") -> None:
    """Print each task's table and write the plots for a sitting's runs."""
    first = runs[0]
    if "budget" in first:  # a runs.json from before they were recorded has neither
        print(f"\n{first['budget']:.0f} s per search; the image tasks' subsets: ", end="")
        print(f"{first['train']} train / {first['val']} validation images")
    print(f"A tool reaches a target {CLOCKS[clock]} (--clock {clock}).")
    budget = first.get("budget", 0.0)  # the plot's time axis then ends at the last trial
    html = ["<!doctype html><meta charset='utf-8'><title>search efficiency</title>"]
    for task in dict.fromkeys(run["task"] for run in runs):
        print(f"\n## {task}\n\n{table(runs, task, targets[task], clock)}")
        starts = starts_table(runs, task)
        if starts:
            print(f"\n{STARTS_NOTE}\n\n{starts}")
        html.append(plot(runs, task, budget, targets[task], clock))
    (out / "search_efficiency.html").write_text("\n".join(html))
    print(f"\nruns: {out / 'runs.json'}; plot: {out / 'search_efficiency.html'}")


if __name__ == "__main__":
    main()
