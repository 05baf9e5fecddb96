"""The command line: a thin layer over the library. ``main(argv) -> exit code``.

Exit codes: 0 success, 1 an error in a file or the environment, 2 a bad command-line value,
130 interrupted. Every error is one line on stderr naming the problem and the fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd
from rich.console import Console
from rich.table import Table

from sweeper.backends.devices import parse_gpus
from sweeper.config import SweepConfig
from sweeper.errors import SettingError, SweeperError, UsageError, not_writable
from sweeper.files import stderr_to
from sweeper.report.leaderboard import leaderboard, write_leaderboard
from sweeper.report.live import format_duration, format_params
from sweeper.results import ResultsDir
from sweeper.search.head_start import load_points
from sweeper.search.kerastuner import ALGORITHMS, ENGINES
from sweeper.search.study import (
    PRUNERS,
    SAMPLERS,
    count_finished,
    journal_path,
    load_existing_study,
    open_storage,
    shown_storage,
)
from sweeper.space.loader import available_spaces, load_space
from sweeper.space.space import Space
from sweeper.storage.journal import repair, storage_damage
from sweeper.storage.record import FINISHED

if TYPE_CHECKING:
    from sweeper.training.retrain import Winner

TOP_ROWS = 10  # leaderboard rows printed in the terminal; the files hold them all
# The library's defaults, which the flags' defaults and help texts repeat from here.
DEFAULT = SweepConfig()
# The flag of each sweep setting whose name differs from it (the rest: --max-epochs etc.).
FLAGS = {"n_trials": "--trials", "workers": "--workers (or --in-process)"}


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, but got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, but got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, but got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, but got {value}")
    return value


def _workers(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweeper", description="Hyperparameter sweeps for Keras models, on Optuna."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run or resume a sweep")
    run.add_argument("space", help="a space name from `sweeper spaces`, or a path to a .py file")
    run.add_argument(
        "--trials",
        type=_positive_int,
        metavar="N",
        help="total trial budget (default: the space's); trials already in the study count",
    )
    _engine_arguments(run)
    run.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="the sweep's time budget: at it, the running trial stops (keeping what it "
        "reached) and no new one starts",
    )
    run.add_argument(
        "--sampler",
        default=DEFAULT.sampler,
        choices=list(SAMPLERS),
        metavar="NAME",
        help=f"Optuna sampler: {', '.join(SAMPLERS)} (default: {DEFAULT.sampler})",
    )
    run.add_argument(
        "--pruner",
        default=DEFAULT.pruner,
        choices=list(PRUNERS),
        metavar="NAME",
        help=f"Optuna pruner: {', '.join(PRUNERS)} (default: {DEFAULT.pruner})",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=DEFAULT.seed,
        metavar="N",
        help=f"seeds the sampler and every trial (default: {DEFAULT.seed})",
    )
    run.add_argument(
        "--max-epochs",
        type=_positive_int,
        metavar="N",
        help="epoch budget per trial (default: the space's)",
    )
    run.add_argument(
        "--patience",
        type=_int_at_least(0),
        metavar="N",
        help="early stopping: epochs without improvement before a trial stops "
        "(default: the space's)",
    )
    run.add_argument(
        "--storage",
        metavar="URL",
        help="database URL (postgresql://...) or "
        "journal file; default: results/<space>/study.journal",
    )
    run.add_argument(
        "--enqueue",
        metavar="FILE",
        help="JSON or YAML list of {parameter: value} configurations a new sweep tries first "
        "(parameters left out take their range's middle)",
    )
    run.add_argument(
        "--no-starting-points",
        action="store_true",
        help="skip the space's starting points (by default a new sweep first tries a "
        "well-worn configuration: Adam at 1e-3)",
    )
    run.add_argument(
        "--warm-start",
        metavar="STUDY",
        help="seed a new sweep's sampler with an earlier sweep of the same space: its results "
        "folder, journal file or database URL",
    )
    run.add_argument(
        "--results-dir",
        default=str(DEFAULT.results_dir),
        metavar="DIR",
        help=f"outputs go to DIR/<space>/ (default: {DEFAULT.results_dir})",
    )
    run.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where datasets such as mnist.npz are "
        "(default: $SWEEPER_DATA_DIR, else Keras' download cache)",
    )
    _placement_arguments(run)
    run.add_argument(
        "--no-retrain", action="store_true", help="do not re-train and test the winner at the end"
    )
    run.add_argument(
        "--heartbeat",
        type=_positive_int,
        default=DEFAULT.heartbeat,
        metavar="SECONDS",
        help="on a database storage, how often a running trial records that it is alive; "
        f"one silent for twice this is failed and retried once (default: {DEFAULT.heartbeat})",
    )
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the workers on an existing Dask cluster: its scheduler's address "
        "(tcp://host:8786) or scheduler file; one worker per Dask worker's GPU resource "
        "(dask worker --resources GPU=1), else per worker thread. Needs --storage "
        "postgresql://... and pip install 'sweeper[dask]'",
    )
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="write each trial's TensorBoard logs, its hyperparameters as HParams, into "
        "RESULTS_DIR/<space>/tensorboard (view: tensorboard --logdir that folder)",
    )
    run.set_defaults(handler=_run)

    worker = commands.add_parser(
        "worker",
        help="join a sweep on a database as more workers, until its budget is met",
        description="Join a sweep that `run SPACE --storage URL` started: train its trials, "
        "with the settings it recorded, until its budget is met. No leaderboard or winner "
        "at the end: run `report` and `retrain` where you read the results.",
    )
    worker.add_argument("space", help="a space name from `sweeper spaces`, or a path to a .py file")
    worker.add_argument(
        "--storage", required=True, metavar="URL", help="the sweep's database (postgresql://...)"
    )
    worker.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop joining after this long (the running trial keeps what it reached)",
    )
    worker.add_argument(
        "--results-dir",
        default=str(DEFAULT.results_dir),
        metavar="DIR",
        help=f"this machine's logs go to DIR/<space>/ (default: {DEFAULT.results_dir})",
    )
    worker.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where datasets such as mnist.npz are (default: $SWEEPER_DATA_DIR, else Keras' "
        "download cache)",
    )
    _placement_arguments(worker)
    worker.set_defaults(handler=_worker)

    spaces = commands.add_parser("spaces", help="list the search spaces")
    spaces.set_defaults(handler=_spaces)

    show = commands.add_parser("show", help="print a space's parameters, ranges and conditions")
    show.add_argument("space")
    show.set_defaults(handler=_show)

    report = commands.add_parser(
        "report",
        help="write leaderboard.csv and leaderboard.html from the study (also while it runs)",
    )
    _study_arguments(report)
    report.set_defaults(handler=_report)

    dashboard = commands.add_parser(
        "dashboard",
        help="open the study in optuna-dashboard (a journal file or a database alike)",
    )
    _study_arguments(dashboard)
    dashboard.add_argument(
        "--host", default="127.0.0.1", help="where to listen (default: 127.0.0.1, this machine)"
    )
    dashboard.add_argument(
        "--port", type=_positive_int, default=8080, metavar="N", help="(default: 8080)"
    )
    dashboard.set_defaults(handler=_dashboard)

    repair = commands.add_parser(
        "repair",
        help="keep every intact record of a damaged study journal and set the damaged file "
        "aside (never deleted)",
    )
    _study_arguments(repair)
    repair.set_defaults(handler=_repair)

    retrain = commands.add_parser(
        "retrain",
        help="re-train the best trial on train + "
        "validation data, test it, save winner.keras and winner.json",
    )
    _study_arguments(retrain)
    retrain.add_argument(
        "--trial", type=int, metavar="N", help="re-train trial N instead of the best one"
    )
    retrain.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where datasets such as mnist.npz "
        "are (default: $SWEEPER_DATA_DIR, else Keras' download cache)",
    )
    retrain.set_defaults(handler=_retrain)
    return parser


def _placement_arguments(parser: argparse.ArgumentParser) -> None:
    """Where trials run: the same options for `run` and `worker`."""
    parser.add_argument(
        "--workers",
        type=_workers,
        default=DEFAULT.placement.workers,
        metavar="N|auto",
        help=f"worker processes sharing the study (default: {DEFAULT.placement.workers}); "
        "auto: one per GPU (times --trials-per-gpu), or one per CPU core",
    )
    parser.add_argument(
        "--gpus",
        metavar="IDS",
        help="GPUs to use, e.g. 0,1, or none for CPU "
        "only (default: all that nvidia-smi or CUDA_VISIBLE_DEVICES show)",
    )
    parser.add_argument(
        "--trials-per-gpu",
        type=_positive_int,
        metavar="K",
        help="workers that share one GPU (default: spread evenly)",
    )
    parser.add_argument(
        "--trials-per-process",
        type=_positive_int,
        metavar="N",
        help="restart a worker after N trials; 1 runs every trial in a fresh "
        "process (default: once what it keeps per trial adds up to 10%% of its size)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="train in this process, without worker processes (no dead-worker "
        "recovery; memory grows a few MiB a trial)",
    )


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        default=DEFAULT.engine,
        choices=ENGINES,
        help="what chooses each trial's values: optuna (its sampler and pruner), or "
        "kerastuner (its oracle; a study of its own, <space>-kerastuner-<algorithm>)",
    )
    parser.add_argument(
        "--algorithm",
        default=DEFAULT.algorithm,
        choices=ALGORITHMS,
        help=f"KerasTuner's oracle, with --engine kerastuner (default: {DEFAULT.algorithm})",
    )


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    """Where an existing study is: the same options, meaning the same, as for `run`."""
    parser.add_argument("space", help="a space name from `sweeper spaces`, or a path to a .py file")
    _engine_arguments(parser)
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="the storage the sweep used (default: results/<space>/study.journal)",
    )
    parser.add_argument(
        "--results-dir",
        default=str(DEFAULT.results_dir),
        metavar="DIR",
        help=f"the sweep's outputs are in DIR/<space>/ (default: {DEFAULT.results_dir})",
    )


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
        starting_points=not args.no_starting_points,
        warm_start=args.warm_start,
        engine=args.engine,
        algorithm=args.algorithm,
        tensorboard=args.tensorboard,
        heartbeat=args.heartbeat,
        dask=args.dask,
        **_placement(args),
    )


def _run(args: argparse.Namespace, console: Console) -> int:
    from sweeper.pipeline import run
    from sweeper.report.live import RichProgress

    config = _config(args)
    space = config.engine_space(load_space(args.space))
    config = config.resolve(space)
    progress = RichProgress(space.name, space.objective, space.direction, config.epochs, console)
    result = run(space, config, observer=progress, retrain=not args.no_retrain)
    swept = result.sweep
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
            f"best {space.objective}={best.value:.4f} (trial {best.number}): "
            f"{format_params(best.params)}",
            highlight=False,
        )
    _show_leaderboard(result.study, result.results, console)
    if result.winner is not None:
        _show_winner(result.winner, console)
    elif best is None and not args.no_retrain:
        console.print("no trial completed, so there is no winner to re-train")
    return 0


def _worker(args: argparse.Namespace, console: Console) -> int:
    from sweeper.report.live import RichProgress
    from sweeper.sweep import joined_config, joiner_id, run_sweep

    space = load_space(args.space)
    config = joined_config(
        space,
        args.storage,
        timeout=args.timeout,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
        **_placement(args),
    )
    progress = RichProgress(space.name, space.objective, space.direction, config.epochs, console)
    swept = run_sweep(space, config, observer=progress, leaderboard=False, first_worker=joiner_id())
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
    _show_leaderboard(study, results, console)
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
    _show_winner(winner, console)
    return 0


def _show_winner(winner: Winner, console: Console) -> None:
    card = winner.card
    tested = (
        ", ".join(f"{name} {value:.4f}" for name, value in card["test_metrics"].items())
        if card["test_metrics"]
        else "none (the space has no test split)"
    )
    console.print(
        f"winner: trial {card['trial']} re-trained for {card['epochs']} epochs on "
        f"{card['train_examples']} examples; test {tested}",
        highlight=False,
    )
    console.print(
        f"saved {winner.model_path} and {winner.card_path}", highlight=False, soft_wrap=True
    )


def _cell(row: dict, column: str, fmt: str = "{}") -> str:
    return "" if pd.isna(row[column]) else fmt.format(row[column])


def _show_leaderboard(study: optuna.Study, results: ResultsDir, console: Console) -> None:
    """The top of the leaderboard as a table, and where the whole of it is."""
    frame = leaderboard(study)
    table = Table(
        title=f"{study.study_name}: top {min(TOP_ROWS, len(frame))} of {len(frame)} trials",
        title_justify="left",
    )
    for header in (
        "rank",
        "trial",
        "state",
        study.user_attrs.get("objective", "value"),
        "epochs",
        "time",
    ):
        table.add_column(header, justify="left" if header == "state" else "right", no_wrap=True)
    # One line a trial: the parameters are cut at the terminal's edge, the files hold them all.
    fixed = 52 + len(study.user_attrs.get("objective", "value"))  # the other columns, borders
    table.add_column(
        "parameters, or why it failed",
        no_wrap=True,
        overflow="ellipsis",
        max_width=max(20, console.width - fixed),
    )
    for row in frame.head(TOP_ROWS).to_dict("records"):
        params = {
            str(c).removeprefix("params_"): v
            for c, v in row.items()
            if str(c).startswith("params_") and not pd.isna(v)
        }
        epochs = (
            f"{_cell(row, 'best_epoch')}/{row['epochs_run']}"
            if _cell(row, "epochs_run") not in ("", "0")
            else ""
        )
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            row["state"],
            _cell(row, "value", "{:.4f}"),
            epochs,
            _cell(row, "wall_time_s", "{:.1f}s"),
            _cell(row, "fail_reason") if row["state"] == "fail" else format_params(params),
        )
    console.print(table)
    console.print(
        f"leaderboard: {results.leaderboard_csv} and {results.leaderboard_html}",
        highlight=False,
        soft_wrap=True,
    )


def _spaces(args: argparse.Namespace, console: Console) -> int:
    table = Table("space", "description", box=None)
    for name, description in available_spaces().items():
        table.add_row(name, description)
    console.print(table)
    return 0


def _show(args: argparse.Namespace, console: Console) -> int:
    space = load_space(args.space)
    console.print(f"[bold]{space.name}[/bold]: {space.description}")
    console.print(
        f"objective: {space.direction} {space.objective}; up to {space.max_epochs} "
        f"epochs, early-stopping patience {space.patience}; {space.n_trials} trials"
    )
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
    from sweeper.search.head_start import starting_points

    for i, point in enumerate(starting_points(space), start=1):
        console.print(f"starting point {i}: {format_params(point)}", soft_wrap=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner quiet
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the live view and sweep.log say it
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and the error
        return int(exc.code or 0)
    console = Console()
    try:
        return args.handler(args, console)
    except SettingError as exc:  # the library names the setting; here, it is a flag
        flag = FLAGS.get(exc.setting, f"--{exc.setting.replace('_', '-')}")
        print(f"sweeper: error: {exc.named(flag)}", file=sys.stderr)
        return exc.exit_code
    except SweeperError as exc:
        print(f"sweeper: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sweeper: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
