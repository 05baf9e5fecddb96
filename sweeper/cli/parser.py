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
FLAGS = {
    "n_trials": "--trials",
    "trial_number": "--trial N",
    "in_process": "--in-process",
    "objectives": "--objective",
    "constraints": "--constraint",
}
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


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default after its help, unless the help says it in words already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default  # None, False and SUPPRESS say nothing; 0 does (a seed)
        unset = default is None or default is False or default == argparse.SUPPRESS
        if "(default" in text or not action.option_strings or unset:
            return text
        return f"{text} (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """argparse, except that a bad flag value is one line with where to look, not the usage
    block above the line that matters, and the help shows each option's default."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


SPACE_HELP = "a space name from `sweeper spaces`, or a path to a .py file"
DATA_DIR_HELP = (
    "where datasets such as mnist.npz are (default: $SWEEPER_DATA_DIR, else Keras' cache)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sweeper",
        description="Hyperparameter sweeps for Keras models, on Optuna: `run` a space, read its "
        "leaderboard, re-train its winner. `sweeper COMMAND --help` for a command's options.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    _run_parser(commands)
    _worker_parser(commands)
    commands.add_parser("spaces", help="list the search spaces")
    show = commands.add_parser("show", help="print a space's parameters, ranges and conditions")
    show.add_argument("space", help=SPACE_HELP)
    report = commands.add_parser(
        "report",
        help="write leaderboard.csv and leaderboard.html from the study (also while it runs)",
    )
    _study_arguments(report)
    dashboard = commands.add_parser(
        "dashboard", help="open the study in optuna-dashboard (a journal file or a database alike)"
    )
    _study_arguments(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="where to listen (this machine)")
    dashboard.add_argument("--port", type=_positive_int, default=8080, metavar="N")
    repair = commands.add_parser(
        "repair",
        help="keep every intact record of a damaged study journal and set the damaged file "
        "aside (never deleted)",
    )
    _study_arguments(repair)
    retrain = commands.add_parser(
        "retrain",
        help="re-train the best trial on train + validation data, test it, save winner.keras "
        "and winner.json",
    )
    _study_arguments(retrain)
    retrain.add_argument(
        "--trial", type=int, metavar="N", help="re-train trial N instead of the best one"
    )
    retrain.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    return parser


def _run_parser(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run or resume a sweep",
        description="Sweep a space: train its trials until the budget is met, write the "
        "leaderboard, then re-train the winner and test it. Running it again resumes the sweep.",
    )
    run.add_argument("space", help=SPACE_HELP)
    search = run.add_argument_group("search", "what is tried, and how much")
    search.add_argument(
        "--trials",
        type=_positive_int,
        metavar="N",
        help="total trial budget (default: the space's); trials already in the study count",
    )
    search.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="the sweep's time budget: at it, the running trial stops (keeping what it "
        "reached) and no new one starts",
    )
    _engine_arguments(search)
    search.add_argument(
        "--sampler",
        default=DEFAULT.sampler,
        choices=list(SAMPLERS),
        metavar="NAME",
        help=f"the Optuna engine's sampler: {', '.join(SAMPLERS)}",
    )
    search.add_argument(
        "--pruner",
        default=DEFAULT.pruner,
        choices=list(PRUNERS),
        metavar="NAME",
        help=f"the Optuna engine's pruner: {', '.join(PRUNERS)}",
    )
    search.add_argument(
        "--seed",
        type=int,
        default=DEFAULT.seed,
        metavar="N",
        help="seeds the sampler and every trial",
    )
    search.add_argument(
        "--objective",
        action="append",
        metavar="NAME:max|min",
        help="what the sweep optimizes, in place of the space's: a metric Keras reports "
        "(val_accuracy:max) or a cost measured on every trial (params:min, size_mb, "
        "latency_ms, latency_ms_batch, train_s); repeat it for several, the first (a metric) "
        "the one early stopping and pruning watch",
    )
    search.add_argument(
        "--constraint",
        action="append",
        metavar="EXPR",
        help="a bound every winner keeps, such as latency_ms<=2 or val_accuracy>=0.98; "
        "repeat it for several. Trials that break one stay on the leaderboard, marked",
    )
    search.add_argument(
        "--winner",
        metavar="RULE",
        help="which trial to re-train, such as 'min params within 0.005 of val_accuracy' "
        "(default: the best one; with several objectives, the least of the first cost "
        "within 0.005 of the first objective's best)",
    )
    search.add_argument(
        "--enqueue",
        metavar="FILE",
        help="JSON or YAML list of {parameter: value} configurations a new sweep tries first "
        "(parameters left out take their range's middle)",
    )
    search.add_argument(
        "--no-starting-points",
        action="store_true",
        help="skip the space's starting points (by default a new sweep first tries a bold "
        "configuration, Adam at 1e-2 with clipped gradients and the least dropout, then a "
        "well-worn one, Adam at 1e-3)",
    )
    search.add_argument(
        "--warm-start",
        metavar="STUDY",
        help="seed a new sweep's sampler with an earlier sweep of the same space: its results "
        "folder, journal file or database URL",
    )
    training = run.add_argument_group("training", "how each trial trains")
    training.add_argument(
        "--max-epochs",
        type=_positive_int,
        metavar="N",
        help="epoch budget per trial (default: the space's)",
    )
    training.add_argument(
        "--patience",
        type=_int_at_least(0),
        metavar="N",
        help="early stopping: epochs without improvement before a trial stops "
        "(default: the space's)",
    )
    training.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    placement = run.add_argument_group("placement", "where trials run")
    _placement_arguments(placement)
    placement.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the workers on an existing Dask cluster: its scheduler's address "
        "(tcp://host:8786) or scheduler file; one worker per Dask worker's GPU resource "
        "(dask worker --resources GPU=1), else per worker thread. Needs --storage "
        "postgresql://... and pip install 'sweeper[dask]'",
    )
    storage = run.add_argument_group("storage", "where the study lives")
    storage.add_argument(
        "--storage",
        metavar="URL",
        help="database URL (postgresql://...) or journal file "
        "(default: RESULTS_DIR/<space>/study.journal)",
    )
    _database_arguments(storage)
    output = run.add_argument_group("output", "what the sweep leaves")
    _results_dir_argument(output, "outputs go to RESULTS_DIR/<space>/")
    output.add_argument(
        "--no-retrain", action="store_true", help="do not re-train and test the winner at the end"
    )
    output.add_argument(
        "--tensorboard",
        action="store_true",
        help="write each trial's TensorBoard logs, its hyperparameters as HParams, into "
        "RESULTS_DIR/<space>/tensorboard (view: tensorboard --logdir that folder)",
    )


def _worker_parser(commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="join a sweep on a database as more workers, until its budget is met",
        description="Join a sweep that `run SPACE --storage URL` started: train its trials, "
        "with the settings it recorded, until its budget is met. No leaderboard or winner "
        "at the end: run `report` and `retrain` where you read the results.",
    )
    worker.add_argument("space", help=SPACE_HELP)
    worker.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop joining after this long (the running trial keeps what it reached)",
    )
    worker.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    placement = worker.add_argument_group("placement", "where trials run")
    _placement_arguments(placement)
    storage = worker.add_argument_group("storage", "where the study lives")
    storage.add_argument(
        "--storage", required=True, metavar="URL", help="the sweep's database (postgresql://...)"
    )
    storage.add_argument(
        "--storage-retry",
        type=_non_negative_float,
        default=DEFAULT.storage_retry,
        metavar="SECONDS",
        help=STORAGE_RETRY_HELP,
    )
    output = worker.add_argument_group("output", "what the sweep leaves")
    _results_dir_argument(output, "this machine's logs go to RESULTS_DIR/<space>/")


def _results_dir_argument(group, help: str) -> None:
    group.add_argument(
        "--results-dir", default=str(DEFAULT.results_dir), metavar="RESULTS_DIR", help=help
    )


STORAGE_RETRY_HELP = (
    "on a database storage, how long an outage (a restart, a failover) is ridden out before "
    "the sweep stops, to resume with the same command; 0: stop at once"
)


def _database_arguments(group) -> None:
    group.add_argument(
        "--heartbeat",
        type=_positive_int,
        default=DEFAULT.heartbeat,
        metavar="SECONDS",
        help="on a database storage, how often a running trial records that it is alive; "
        "one silent for twice this is failed and retried once",
    )
    group.add_argument(
        "--storage-retry",
        type=_non_negative_float,
        default=DEFAULT.storage_retry,
        metavar="SECONDS",
        help=STORAGE_RETRY_HELP,
    )


def _placement_arguments(group) -> None:
    """Where trials run: the same options for `run` and `worker`."""
    group.add_argument(
        "--workers",
        type=_workers,
        default=DEFAULT.placement.workers,
        metavar="N|auto",
        help="worker processes sharing the study; auto: one per GPU (times --trials-per-gpu), "
        "or one per CPU core",
    )
    group.add_argument(
        "--gpus",
        metavar="IDS",
        help="GPUs to use, e.g. 0,1, or none for CPU only (default: all that "
        "CUDA_VISIBLE_DEVICES or nvidia-smi show)",
    )
    group.add_argument(
        "--trials-per-gpu",
        type=_positive_int,
        metavar="K",
        help="workers that share one GPU (default: spread evenly)",
    )
    group.add_argument(
        "--trials-per-process",
        type=_positive_int,
        metavar="N",
        help="restart a worker after N trials; 1 runs every trial in a fresh "
        "process (default: once what it keeps per trial adds up to 10%% of its size)",
    )
    group.add_argument(
        "--in-process",
        action="store_true",
        help="train in this process, without worker processes (no dead-worker "
        "recovery; memory grows a few MiB a trial)",
    )


def _engine_arguments(group) -> None:
    group.add_argument(
        "--engine",
        default=DEFAULT.engine,
        choices=ENGINES.names(),
        help="what chooses each trial's values: optuna (its sampler and pruner), kerastuner "
        "(its oracle; a study of its own, <space>-kerastuner-<algorithm>), or an installed "
        "engine",
    )
    group.add_argument(
        "--algorithm",
        default=DEFAULT.algorithm,
        choices=ALGORITHMS,
        help="KerasTuner's oracle, with --engine kerastuner",
    )


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    """Where an existing study is: the same options, meaning the same, as for `run`."""
    parser.add_argument("space", help=SPACE_HELP)
    _engine_arguments(parser)
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="the storage the sweep used (default: RESULTS_DIR/<space>/study.journal)",
    )
    _results_dir_argument(parser, "the sweep's outputs are in RESULTS_DIR/<space>/")
