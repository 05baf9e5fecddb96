"""Writing result files so that a reader never sees half of one, and sending a process'
native output to a log file.

Reports are rewritten while other processes may read them (a browser, a script, another
``report``), so every file is written beside its target and moved over it in one step.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; it replaces ``path`` when the block succeeds.

    The name keeps the suffix (Keras picks the format from it) and holds the process id, so
    two processes writing the same report never share a temporary file.
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def output_to(path: str | os.PathLike, fds: tuple[int, ...] = (1, 2)) -> None:
    """Send this process' stdout and stderr to ``path`` (appended), at the file-descriptor
    level: TensorFlow prints its start-up lines from C++, where no Python redirect reaches."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for target in fds:
        os.dup2(fd, target)
    os.close(fd)


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Native stderr to ``path`` for the block (e.g. while Keras loads), then back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        output_to(path, fds=(2,))
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
