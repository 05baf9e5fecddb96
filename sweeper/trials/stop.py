"""The stop flag: set by SIGINT or SIGTERM, read by the trial loop between trials and by
a Keras callback between batches, so a stop never cuts a study write in half. It also
carries the sweep's deadline (``--timeout``).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any


class StopFlag:
    """Set by SIGINT or SIGTERM, read at safe points. With ``escalate``, a second signal
    raises KeyboardInterrupt at once: the way out of a sweep in this process that hangs."""

    def __init__(self, escalate: bool = False, deadline: float | None = None) -> None:
        self.escalate, self.count = escalate, 0
        self.deadline = deadline  # time.time() at which the sweep's time is up, if it has one
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    def time_is_up(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def request(self) -> None:
        self.count += 1

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum, frame) -> None:
        self.request()
        if self.escalate and self.count > 1:
            raise KeyboardInterrupt
