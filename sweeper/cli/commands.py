"""One function per command: the parsed flags in, the library called, an exit code out."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sweeper.cli.parser import DEFAULT
from sweeper.cli.render import show_leaderboard, show_winner
from sweeper.cli.values import load_points, parse_gpus
from sweeper.config import SweepConfig
from sweeper.errors import SweeperError, UsageError, not_writable
from sweeper.files import stderr_to
from sweeper.report.leaderboard import write_leaderboard
from sweeper.report.live import format_duration, format_params
from sweeper.results import ResultsDir
from sweeper.space.loader import available_spaces, load_space
from sweeper.space.space import Space
from sweeper.storage.journal import repair, storage_damage
from sweeper.storage.record import FINISHED, TrialRecord, count_finished
from sweeper.storage.storages import journal_path, load_existing_study, open_storage, shown_storage


def _placement(args: argparse.Namespace) -> dict[str, Any]:
    if args.in_process and (
        args.workers != DEFAULT.placement.workers
        or args.gpus
        or args.trials_per_gpu
        or args.trials_per_process
    ):
        raise UsageError(
            "--in-process runs no workers; drop it, or drop --workers, --gpus, "
            "--trials-per-gpu and --trials-per-process"
        )
    return {
        "workers": None if args.in_process else args.workers,
        "gpus": None if args.gpus is None else parse_gpus(args.gpus),
        "trials_per_gpu": args.trials_per_gpu,
        "trials_per_process": args.trials_per_process,
    }


def _config(args: argparse.Namespace) -> SweepConfig:
    return SweepConfig.of(
        n_trials=args.trials,
        timeout=args.timeout,
        sampler=args.sampler,
        pruner=args.pruner,
        seed=args.seed,
        max_epochs=args.max_epochs,
        patience=args.patience,
        storage=args.storage,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        enqueue=load_points(args.enqueue) if args.enqueue else (),
        objectives=tuple(args.objective or ()),
        constraints=tuple(args.constraint or ()),
        winner=args.winner,
        starting_points=not args.no_starting_points,
        warm_start=args.warm_start,
        engine=args.engine,
        algorithm=args.algorithm,
        tensorboard=args.tensorboard,
        heartbeat=args.heartbeat,
        storage_retry=args.storage_retry,
        dask=args.dask,
        **_placement(args),
    )


def _run(args: argparse.Namespace, console: Console) -> int:
    from sweeper.pipeline import run_plan
    from sweeper.report.live import RichProgress
    from sweeper.sweep import plan_sweep

    plan = plan_sweep(load_space(args.space), _config(args))  # resolved here, and only here
    space = plan.space
    progress = RichProgress(
        space.name, space.objective, space.direction, plan.config.epochs, console
    )
    result = run_plan(plan, observer=progress, retrain=not args.no_retrain)
    swept = result.sweep
    if swept.trials_run == 0 and count_finished(result.study) >= plan.config.budget:
        console.print(
            f"{space.name} is finished: its study holds all {plan.config.budget} trials of "
            "its budget, so no worker started (raise --trials to sweep on)"
        )
    wall, fit = swept.wall_time_s, swept.fit_time_s
    counts = {
        state.name: len(result.study.get_trials(deepcopy=False, states=(state,)))
        for state in FINISHED
    }
    console.print(
        f"{swept.trials_run} trials run in {format_duration(wall)} "
        f"(training {format_duration(fit)}, {100 * fit / wall if wall else 0:.0f}%); study has "
        f"{counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed"
    )
    best = result.best_trial
    if best is not None:
        console.print(
            f"best {space.objective}={TrialRecord.of(best).value:.4f} (trial {best.number}): "
            f"{format_params(best.params)}",
            highlight=False,
        )
    show_leaderboard(result.study, result.results, console)
    if result.winner is not None:
        show_winner(result.winner, console)
    elif best is None and not args.no_retrain:
        console.print("no trial completed, so there is no winner to re-train")
    return 0


def _worker(args: argparse.Namespace, console: Console) -> int:
    from sweeper.report.live import RichProgress
    from sweeper.sweep import joined_plan, joiner_id, sweep

    space = load_space(args.space)
    plan = joined_plan(
        space,
        args.storage,
        timeout=args.timeout,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        storage_retry=args.storage_retry,
        **_placement(args),
    )
    progress = RichProgress(
        space.name, space.objective, space.direction, plan.config.epochs, console
    )
    swept = sweep(plan, observer=progress, leaderboard=False, first_worker=joiner_id())
    counted = count_finished(swept.study)
    console.print(
        f"{swept.trials_run} trials run here in {format_duration(swept.wall_time_s)}; the "
        f"study has {counted} of its {swept.config.budget} trials"
    )
    return 0


def _study_space(args: argparse.Namespace) -> Space:
    """The space whose study `report`, `repair` and `retrain` read: the engine's own."""
    engine = SweepConfig(engine=args.engine, algorithm=args.algorithm)
    return engine.engine_space(load_space(args.space))


def _report(args: argparse.Namespace, console: Console) -> int:
    name = _study_space(args).name
    results = ResultsDir.of(args.results_dir, name)
    study = load_existing_study(name, args.storage, results.path, args.space)
    damage = storage_damage(args.storage, results.path)
    if damage is not None:  # Optuna reads past a cut last record: say what it hides
        print(
            f"sweeper: warning: {damage.describe()}; the trial it recorded may show as "
            f"running. `python -m sweeper repair {args.space}` keeps every intact record and "
            "sets the damaged file aside",
            file=sys.stderr,
        )
    write_leaderboard(study, results)
    show_leaderboard(study, results, console)
    return 0


def _dashboard(args: argparse.Namespace, console: Console) -> int:
    import importlib.util

    if importlib.util.find_spec("optuna_dashboard") is None:
        raise SweeperError(
            "the dashboard needs optuna-dashboard, which is not installed; "
            "pip install 'sweeper[dashboard]'"
        )
    import optuna_dashboard

    name = _study_space(args).name
    results = ResultsDir.of(args.results_dir, name)
    study = load_existing_study(name, args.storage, results.path, args.space)
    where = shown_storage(args.storage, results.path)
    console.print(
        f"optuna-dashboard: study {name} ({len(study.trials)} trials so far, from {where}) at "
        f"http://{args.host}:{args.port}/dashboard/ ; Ctrl-C stops it",
        highlight=False,
    )
    storage = open_storage(args.storage, results.path)
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return 0


def _repair(args: argparse.Namespace, console: Console) -> int:
    name = _study_space(args).name
    results = ResultsDir.of(args.results_dir, name)
    path = journal_path(args.storage, results.path)
    if path is None:
        raise UsageError("repair mends journal files; a database storage has none to mend")
    load_existing_study(name, args.storage, results.path, args.space)  # it exists, it reads
    try:
        done = repair(path)
    except OSError as exc:
        raise not_writable(path.parent, exc) from exc
    try:  # the kept records must replay into a study, or the journal goes back as it was
        load_existing_study(name, args.storage, results.path, args.space)
    except Exception as exc:
        os.replace(done.aside, path)
        raise SweeperError(
            f"the intact records of {path} do not replay into a study ({exc}); the journal "
            "is left as it was"
        ) from exc
    console.print(
        f"kept {done.kept} records of {path}, dropped damaged line(s) "
        f"{', '.join(map(str, done.dropped))}; the damaged file is now {done.aside}. A trial "
        "whose last record was lost is failed as `worker died` and retried by the next run.",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _retrain(args: argparse.Namespace, console: Console) -> int:
    from sweeper.pipeline import retrain_winner

    space = _study_space(args)
    results = ResultsDir.of(args.results_dir, space.name)
    study = load_existing_study(space.name, args.storage, results.path, args.space)
    with console.status("re-training the winner"):
        winner = retrain_winner(
            space, study, results, trial_number=args.trial, data_dir=args.data_dir
        )
    show_winner(winner, console)
    return 0


def _spaces(args: argparse.Namespace, console: Console) -> int:
    table = Table("space", "description", box=None)
    for name, description in available_spaces().items():
        table.add_row(name, description)
    console.print(table)
    return 0


def _show(args: argparse.Namespace, console: Console) -> int:
    space = load_space(args.space)
    console.print(Text.assemble((space.name, "bold"), f": {space.description}"))
    goals = ", ".join(f"{goal.direction} {goal.name}" for goal in space.goals)
    console.print(
        f"objective{'s' if len(space.goals) > 1 else ''}: {goals}; up to {space.max_epochs} "
        f"epochs, early-stopping patience {space.patience}; {space.n_trials} trials"
    )
    if space.constraints:
        console.print(f"constraints: {', '.join(map(str, space.constraint_list))}")
    if space.winner_rule is not None:
        console.print(f"winner: {space.winner_rule}")
    table = Table("parameter", "type", "range", "active when")
    for param in space.all_params:
        table.add_row(
            param.name,
            type(param).__name__,
            param.describe_range(),
            param.describe_when() or "always",
        )
    if space.hypermodel is not None:
        with stderr_to(Path(os.devnull)):  # Keras loads: the hypermodel builds once
            from sweeper.space.hypermodel import describe

            rows = describe(space.hypermodel)
        for row in rows:
            table.add_row(*row)
        table.caption = "the hypermodel's own as its default build asks for them"
    console.print(table)
    from sweeper.space.starting import starting_points

    for i, point in enumerate(starting_points(space), start=1):
        console.print(f"starting point {i}: {format_params(point)}", soft_wrap=True)
    return 0


# The handler of each command (main dispatches on the parser's ``command``).
COMMANDS = {
    "run": _run,
    "worker": _worker,
    "spaces": _spaces,
    "show": _show,
    "report": _report,
    "dashboard": _dashboard,
    "repair": _repair,
    "retrain": _retrain,
}
