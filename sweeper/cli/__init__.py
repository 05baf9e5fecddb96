"""The command line: a thin layer over the library. ``main(argv) -> exit code``.

Exit codes: 0 success, 1 an error in a file or the environment, 2 a bad command-line value,
130 interrupted. Every error is one line on stderr naming the problem and the fix.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import optuna
from rich.console import Console

from sweeper.cli.commands import COMMANDS
from sweeper.cli.parser import LEADS, build_parser, flag
from sweeper.errors import SettingError, SweeperError, worded


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner quiet
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the live view and sweep.log say it
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and the error
        return int(exc.code or 0)
    console = Console(markup=False)  # what it prints is the study's text, never markup
    try:
        return COMMANDS[args.command](args, console)
    except SweeperError as exc:  # the library names settings; here, they are flags
        print(f"sweeper: error: {error_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sweeper: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def error_line(exc: SweeperError) -> str:
    """The library's error in the command line's words: each setting named by its flag."""
    if isinstance(exc, SettingError):
        return f"{LEADS.get(exc.setting, flag(exc.setting))} {worded(exc.problem, flag)}"
    return exc.worded(flag)
