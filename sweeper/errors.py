"""What can go wrong, sorted by who has to act.

``SweeperError`` and its subclasses are bad input or a bad environment: the CLI prints their
message (one line naming the problem and the fix) and exits non-zero, before any trial runs.
``TrialFailed`` ends one trial; the sweep goes on. ``FatalTrialError`` ends the whole sweep,
because every following trial would fail the same way (KerasTuner's FailedTrialError vs
FatalError split).
"""

import re


class SweeperError(Exception):
    """Bad input or environment; the message says what is wrong and how to fix it."""

    exit_code = 1


class UsageError(SweeperError):
    """A bad command-line value (unknown name, malformed URL): exit code 2 like argparse."""

    exit_code = 2


class SpaceError(SweeperError):
    """A search-space module or declaration is invalid."""


class DataError(SweeperError):
    """The data a space needs cannot be loaded."""


class TrialFailed(Exception):
    """This trial cannot produce a result (NaN loss, out of memory, unbuildable model)."""


class FatalTrialError(SweeperError):
    """A trial failed in a way every trial would (e.g. the objective metric does not exist)."""


def not_writable(path: object, exc: OSError) -> SweeperError:
    """A folder or file sweeper must write to and cannot (a read-only file system...)."""
    return SweeperError(
        f"cannot write to {path} ({exc.strerror or exc}); choose a writable --results-dir, "
        "or --storage for the study"
    )


# Lines of a TensorFlow error that say where, not why: the graph's call stack and node names.
_WHERE_LINES = ("File ", "[[", "{{", "Detected at node", "Stack trace")
# TensorFlow's out-of-memory line, of which the tensor's shape and type and the device matter.
_TF_OOM = re.compile(
    r"OOM when allocating tensor with shape\s*(\[[^\]]*\]) and type (\w+)"
    r"(?: on \S*device:(\w+:\d+))?"
)
REASON_CHARS = 200  # a reason is one line of a table: never a whole array


def useful_line(text: str) -> str:
    """The line of an error message that says why. TensorFlow opens with a header ("Graph
    execution error:") and a call stack, and says why further down; that line's tail (a
    dump of label values) is dropped, and the line capped at ``REASON_CHARS``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    if line.endswith(":") and len(lines) > 1:  # a header: the reason comes later
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
    """A sweep setting out of its range. The library names the setting (``n_trials``); the
    CLI re-words the message with its flag (``--trials``)."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting, self.problem = setting, problem
        super().__init__(f"{setting} {problem}")

    def named(self, name: str) -> str:
        return f"{name} {self.problem}"
