"""Writing result files so that a reader never sees half of one, and sending a process'
native output to a log file.

Reports are rewritten while other processes may read them (a browser, a script, another
``report``), so every file is written beside its target and moved over it in one step.
"""

from __future__ import annotations

import os
import sys
import tempfile
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
    """Native stderr into ``path`` for the block (e.g. while Keras loads), then back.

    Held in a temporary file meanwhile: a block that fails on bad input (a trial that cannot
    be re-trained) must leave the results folder as it was, so its output is kept only where
    that folder already exists.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    fd, held = tempfile.mkstemp(prefix="sweeper-stderr-")
    os.close(fd)
    succeeded = False
    try:
        output_to(held, fds=(2,))
        yield
        succeeded = True
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if succeeded:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.is_dir():
            with open(held, "rb") as src, open(path, "ab") as dst:
                dst.write(src.read())
        os.unlink(held)
