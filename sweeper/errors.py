"""What can go wrong, sorted by who has to act.

``SweeperError`` and its subclasses are bad input or a bad environment: the CLI prints their
message (one line naming the problem and the fix) and exits non-zero, before any trial runs.
``TrialFailed`` ends one trial; the sweep goes on. ``FatalTrialError`` ends the whole sweep,
because every following trial would fail the same way (KerasTuner's FailedTrialError vs
FatalError split).

A message names the settings it speaks of as ``{setting}`` fields (``{results_dir}``): the
library words them as the setting (``results_dir``), the command line as its flag
(``--results-dir``), so each says what is wrong in its own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A setting named in a message: lower-case words joined by "_", so a value in braces that a
# message quotes (a dict's repr, a JSON example) is left as it is.
_SETTING = re.compile(r"\{([a-z]+(?:_[a-z]+)*)\}")
# How the library words a setting that is not a keyword of its own.
_LIBRARY_WORDS = {"in_process": "workers=None"}


def library_words(name: str) -> str:
    return _LIBRARY_WORDS.get(name, name)


def worded(template: str, name: Callable[[str], str] = library_words) -> str:
    """``template`` with each ``{setting}`` named by ``name``."""
    return _SETTING.sub(lambda match: name(match.group(1)), template)


class SweeperError(Exception):
    """Bad input or environment; the message says what is wrong and how to fix it."""

    exit_code = 1

    def __init__(self, message: str = "") -> None:
        super().__init__(message)  # args: the template, so the error pickles whole

    @property
    def template(self) -> str:
        """The message with its settings as ``{setting}`` fields."""
        return str(self.args[0]) if self.args else ""

    def worded(self, name: Callable[[str], str] = library_words) -> str:
        """The message with each setting named by ``name`` (the CLI: its flag)."""
        return worded(self.template, name)

    def __str__(self) -> str:
        return self.worded()


class UsageError(SweeperError):
    """A bad argument or setting from the caller (an unknown name, a malformed URL, a space
    that cannot be used that way): exit code 2, as for a command line's usage errors."""

    exit_code = 2


class SpaceError(SweeperError):
    """A search-space module or declaration is invalid."""


class DataError(SweeperError):
    """The data a space needs cannot be loaded."""


class TrialFailed(Exception):
    """This trial cannot produce a result (out of memory, unbuildable model)."""


class TrialDiverged(TrialFailed):
    """This trial's loss became NaN or infinite. The trial loop ends it pruned at its last
    finite epoch, not failed: Optuna's samplers learn nothing from a failed trial, while TPE
    ranks a pruned one after every complete one, so it steers away from what diverges."""


class FatalTrialError(SweeperError):
    """A trial failed in a way every trial would (e.g. the objective metric does not exist)."""


def not_writable(path: object, exc: OSError) -> SweeperError:
    """A folder or file sweeper must write to and cannot (a read-only file system...)."""
    return SweeperError(
        f"cannot write to {path} ({exc.strerror or exc}); choose a writable {{results_dir}}, "
        "or {storage} for the study"
    )


# Lines of a TensorFlow error that say where, not why: the graph's call stack and node names.
_WHERE_LINES = ("File ", "[[", "{{", "Detected at node", "Stack trace")
# TensorFlow's out-of-memory line, of which the tensor's shape and type and the device matter.
_TF_OOM = re.compile(
    r"OOM when allocating tensor with shape\s*(\[[^\]]*\]) and type (\w+)"
    r"(?: on \S*device:(\w+:\d+))?"
)
REASON_CHARS = 200  # a reason is one line of a table: never a whole array


# Keras wraps an error raised inside a layer's call() in a header and bolds the reason.
_KERAS_HEADER = "Exception encountered when calling"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def useful_line(text: str) -> str:
    """The line of an error message that says why. TensorFlow opens with a header ("Graph
    execution error:") and a call stack, and says why further down, as Keras does for an
    error inside a layer ("Exception encountered when calling ..."); that line's tail (a
    dump of label values) is dropped, and the line capped at ``REASON_CHARS``."""
    text = _ANSI.sub("", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    header = line.endswith(":") or line.startswith(_KERAS_HEADER)
    if header and len(lines) > 1:  # the reason comes later
        line = next((ln for ln in lines[1:] if not ln.startswith(_WHERE_LINES)), line)
    line = re.split(r"\s{2,}", line)[0]  # TensorFlow appends data after two spaces
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "\u2026"


def describe_failure(exc: BaseException) -> str:
    """One line saying why something failed, with out-of-memory named as such."""
    text = useful_line(str(exc))
    oom = _TF_OOM.search(str(exc))
    if oom is not None:
        shape, dtype, device = oom.groups()
        return f"out of memory allocating a {dtype} tensor of shape {shape}" + (
            f" on {device}" if device else ""
        )
    if (
        isinstance(exc, MemoryError)
        or "ResourceExhausted" in type(exc).__name__
        or "RESOURCE_EXHAUSTED" in str(exc)
        or "out of memory" in str(exc).lower()
    ):
        return f"out of memory: {text or type(exc).__name__}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SettingError(UsageError):
    """A sweep setting out of its range, or one that does not fit the others. ``setting`` is
    the one at fault (``n_trials``), which the message starts with; the CLI words it with its
    flag (``--trials``)."""

    def __init__(self, setting: str, problem: str) -> None:
        Exception.__init__(self, setting, problem)  # args: both, so it pickles whole

    @property
    def setting(self) -> str:
        return str(self.args[0])

    @property
    def problem(self) -> str:
        return str(self.args[1])

    @property
    def template(self) -> str:
        return f"{{{self.setting}}} {self.problem}"
