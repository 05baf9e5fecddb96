"""The parser: the commands, their flags and help, each flag's default read from the
library's (``SweepConfig()``) and each name's choices from the registries.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from sweeper.config import SweepConfig
from sweeper.registry import ENGINES
from sweeper.search.kerastuner import ALGORITHMS
from sweeper.search.pruners import PRUNERS
from sweeper.search.samplers import SAMPLERS

# The library's defaults, which the flags' defaults and help texts repeat from here.
DEFAULT = SweepConfig()
# The flag of each sweep setting whose name differs from it (the rest: --max-epochs etc.).
FLAGS = {"n_trials": "--trials", "trial_number": "--trial N", "in_process": "--in-process"}
# How an error names the setting it is about, where the flag alone would mislead.
LEADS = {"workers": "--workers (or --in-process)"}


def flag(setting: str) -> str:
    """The flag that gives ``setting`` (``n_trials`` -> ``--trials``)."""
    return FLAGS.get(setting, f"--{setting.replace('_', '-')}")


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


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, but got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, but got {value}")
    return value


def _workers(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


class OneLineParser(argparse.ArgumentParser):
    """argparse, except that a bad flag value is one line with where to look, not the usage
    block above the line that matters."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sweeper", description="Hyperparameter sweeps for Keras models, on Optuna."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )

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
    _storage_retry_argument(run)
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
    _storage_retry_argument(worker)

    commands.add_parser("spaces", help="list the search spaces")

    show = commands.add_parser("show", help="print a space's parameters, ranges and conditions")
    show.add_argument("space")

    report = commands.add_parser(
        "report",
        help="write leaderboard.csv and leaderboard.html from the study (also while it runs)",
    )
    _study_arguments(report)

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

    repair = commands.add_parser(
        "repair",
        help="keep every intact record of a damaged study journal and set the damaged file "
        "aside (never deleted)",
    )
    _study_arguments(repair)

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
    return parser


def _storage_retry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-retry",
        type=_non_negative_float,
        default=DEFAULT.storage_retry,
        metavar="SECONDS",
        help="on a database storage, how long an outage (a restart, a failover) is ridden out "
        "before the sweep stops, to resume with the same command (default: "
        f"{DEFAULT.storage_retry:g}; 0: stop at once)",
    )


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
        choices=ENGINES.names(),
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
