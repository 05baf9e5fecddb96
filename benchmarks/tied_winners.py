"""Which winner of a sweep re-trains best: of the trials tied at the top, the earliest or
the one sweeper's tie rule picks (``sweeper.storage.standing.tie_order``: the gentlest
learning rate for its optimizer, then the earliest); and where the winner's best value ties
over several epochs (a saturated accuracy), re-trained to the first of them or to the latest
(``sweeper.storage.record.best_epoch``, what sweeper re-trains to).

It reads the sweeper runs a search-efficiency sitting kept (``search_efficiency.py --keep
DIR``), re-trains the picks as sweeper re-trains its winner, on the seeds every tool's
re-tests share, and prints, per run where two picks differ, each pick's mean test score: a
paired comparison on the same runs and seeds, so a sitting's luck in what its searches drew
does not enter it.

    python benchmarks/search_efficiency.py --tasks sequence --budget 120 --seeds 0 1 2 \\
        --tools sweeper --keep ../kept
    python benchmarks/tied_winners.py ../kept ../kept-another-sitting --retests 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from benchmarks import peers  # noqa: E402 - after ROOT joins the path
from benchmarks.search_efficiency import RETEST_SEEDS  # noqa: E402
from benchmarks.spaces.tasks import TASKS  # noqa: E402
from sweeper.space.goals import Goal  # noqa: E402
from sweeper.storage.record import TrialRecord, best_trained_epoch  # noqa: E402
from sweeper.storage.standing import StudyGoals, tie_order  # noqa: E402


def tied_at_top(journal: Path) -> tuple[list, Goal]:
    """The complete trials of the run's study that tie at its best primary value, and that
    objective."""
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name=journal.parent.name, storage=storage)
    goals = StudyGoals.of(study)
    scored = goals.scored(goals.candidates(study.get_trials(deepcopy=False)), goals.primary.name)
    if not scored:
        return [], goals.primary
    top = max(goals.primary.better(value) for _, value in scored)
    return [trial for trial, value in scored if goals.primary.better(value) == top], goals.primary


def kept_runs(folders: list[Path]) -> list[tuple[str, str, int, Path]]:
    """(task, run, seed, study journal) of each sweeper run under ``--keep`` folders; a run
    is named by its folder and tool (``kept/sweeper-before``)."""
    runs = []
    for kept in folders:
        for journal in sorted(kept.glob("*/sweeper*/seed*/*/study.journal")):
            task, tool, seed = journal.parts[-5:-2]
            if task in TASKS:
                runs.append((task, f"{kept.name}/{tool}", int(seed.removeprefix("seed")), journal))
    return runs


def epochs_at_best(trial, goal: Goal) -> tuple[int, int]:
    """The first epoch at the trial's best value, and the one sweeper re-trains it to
    (``best_trained_epoch``: the latest of epochs tied at that value). A trial recorded without its
    history (written by hand) has only its recorded best epoch."""
    record = TrialRecord.of(trial)
    latest = best_trained_epoch(record.history, goal.name, goal.direction)
    if latest is None:
        return record.best_epoch, record.best_epoch
    values = record.history[goal.name]
    return values.index(values[latest - 1]) + 1, latest


class Retests:
    """Configurations re-trained as sweeper re-trains its winner, once per shared seed; each
    (task, parameters, epochs) once, as runs of two checkouts often drew the same trials."""

    def __init__(self, retests: int):
        self.seeds, self.data, self.done = list(RETEST_SEEDS[:retests]), {}, {}

    def __call__(self, task_name: str, params: dict, epochs: int) -> list[float]:
        key = (task_name, json.dumps(params, sort_keys=True), epochs)
        if key not in self.done:
            task = TASKS[task_name]
            if task_name not in self.data:
                self.data[task_name] = task.load(peers.data_dir())
            data = self.data[task_name]
            self.done[key] = [
                peers.sweeper_retrain_and_test(task, data, params, epochs, seed)
                for seed in self.seeds
            ]
        return self.done[key]


def compare(kept: list[Path], retests: int) -> list[dict]:
    """Per kept run: how many trials tie at the top; where two or more do, the earliest and
    the rule's pick, each re-trained to its first epoch at the best value, as sweeper did
    before its rule for ties between epochs (none where they are the same trial); and where
    the rule's pick ties over several epochs, it re-trained to the first and to the latest."""
    retested, rows = Retests(retests), []
    for task_name, tool, seed, journal in kept_runs(kept):
        tied, goal = tied_at_top(journal)
        rows.append({"task": task_name, "tool": tool, "seed": seed, "tied": len(tied)})
        if not tied:
            continue
        picks = {"earliest": min(tied, key=lambda t: t.number), "rule": min(tied, key=tie_order)}
        compared = len(tied) > 1 and picks["earliest"] is not picks["rule"]
        for name, trial in picks.items():
            first, _ = epochs_at_best(trial, goal)
            tests = retested(task_name, trial.params, first) if compared else []
            rows[-1][name] = {"trial": trial.number, "params": trial.params, "tests": tests}
        trial = picks["rule"]
        first, latest = epochs_at_best(trial, goal)
        if first != latest:
            rows[-1]["epochs"] = {
                "trial": trial.number,
                "first": (first, retested(task_name, trial.params, first)),
                "latest": (latest, retested(task_name, trial.params, latest)),
            }
    return rows


def table(rows: list[dict]) -> str:
    """The runs where the rule picks another trial than the earliest, then per task how
    often and by how much its pick tests better (in the task's direction); then the runs
    whose pick ties over several epochs, re-trained to the first and to the latest."""

    def pick(p: dict) -> str:
        rate = p["params"].get("learning_rate")
        how = f"{p['params'].get('optimizer', '?')} at {rate:.2g}" if rate else "no rate"
        return f"{p['trial']}, {how}: {statistics.mean(p['tests']):.4f}"

    lines = [
        "| task | run | tied | the earliest: trial, mean re-test | the rule's pick | better by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    gains: dict[str, list[float]] = {}
    for row in rows:
        earliest, rule = row.get("earliest"), row.get("rule")
        if not (earliest and earliest["tests"] and rule and rule["tests"]):
            continue
        sign = TASKS[row["task"]].sign
        gain = sign * (statistics.mean(rule["tests"]) - statistics.mean(earliest["tests"]))
        gains.setdefault(row["task"], []).append(gain)
        run = f"{row['tool']} seed {row['seed']}"
        lines.append(
            f"| {row['task']} | {run} | {row['tied']} | {pick(earliest)} | {pick(rule)} "
            f"| {gain:+.4f} |"
        )
    lines.append("")
    for task in sorted({row["task"] for row in rows}):
        runs = [row for row in rows if row["task"] == task]
        tied = sum(row["tied"] > 1 for row in runs)
        changed = gains.get(task, [])
        better = sum(gain > 0 for gain in changed)
        if not tied:
            lines.append(f"{task}: none of {len(runs)} kept runs ties at the top")
            continue
        mean = f" (mean {statistics.mean(changed):+.4f})" if changed else ""
        lines.append(
            f"{task}: {tied} of {len(runs)} kept runs tie at the top; the rule picks another "
            f"trial than the earliest at {len(changed)}, better at {better}{mean}"
        )
    return "\n".join([*lines, "", epoch_table(rows)])


def epoch_table(rows: list[dict]) -> str:
    """The runs whose pick's best value ties over several epochs, re-trained to the first of
    them and to the latest (sweeper's ``best_epoch``), then per task how often the latest
    tests better."""
    lines = [
        "| task | run | trial | the first epoch at its best: mean re-test | the latest "
        "| better by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    gains: dict[str, list[float]] = {}
    for row in rows:
        if "epochs" not in row:
            continue
        (first, early), (latest, late) = row["epochs"]["first"], row["epochs"]["latest"]
        gain = TASKS[row["task"]].sign * (statistics.mean(late) - statistics.mean(early))
        gains.setdefault(row["task"], []).append(gain)
        lines.append(
            f"| {row['task']} | {row['tool']} seed {row['seed']} | {row['epochs']['trial']} "
            f"| {first}: {statistics.mean(early):.4f} | {latest}: {statistics.mean(late):.4f} "
            f"| {gain:+.4f} |"
        )
    lines.append("")
    for task in sorted({row["task"] for row in rows}):
        runs, changed = sum(row["task"] == task for row in rows), gains.get(task, [])
        if not changed:
            lines.append(f"{task}: no winner of {runs} kept runs ties over several epochs")
            continue
        better = sum(gain > 0 for gain in changed)
        lines.append(
            f"{task}: the winner ties over several epochs at {len(changed)} of {runs} kept "
            f"runs; re-trained to the latest, better at {better} "
            f"(mean {statistics.mean(changed):+.4f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "kept", nargs="+", help="folders search_efficiency.py --keep filled, one per sitting"
    )
    parser.add_argument(
        "--retests", type=int, default=5, metavar="N", help="re-trains per trial (default 5)"
    )
    args = parser.parse_args(argv)
    kept = [Path(folder) for folder in args.kept]
    if not kept_runs(kept):
        parser.error(
            f"{' '.join(args.kept)}: no kept sweeper run; fill it with search_efficiency.py --keep"
        )
    if not 1 <= args.retests <= len(RETEST_SEEDS):
        parser.error(f"--retests {args.retests}: between 1 and {len(RETEST_SEEDS)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows = compare(kept, args.retests)
    print(table(rows))


if __name__ == "__main__":
    main()
