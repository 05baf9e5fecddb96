"""What can go wrong, sorted by who has to act.

``SweeperError`` and its subclasses are bad input or a bad environment: the CLI prints their
message (one line naming the problem and the fix) and exits non-zero, before any trial runs.
``TrialFailed`` ends one trial; the sweep goes on. ``FatalTrialError`` ends the whole sweep,
because every following trial would fail the same way (KerasTuner's FailedTrialError vs
FatalError split).
"""


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


def describe_failure(exc: BaseException) -> str:
    """One line saying why something failed, with out-of-memory named as such."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
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
