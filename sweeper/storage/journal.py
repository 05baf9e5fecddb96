"""A damaged journal file: found before anything writes to it, and repaired without loss.

Optuna's journal storage is one JSON record per line. A crash or a full disk in the middle of
a write leaves a line cut short; Optuna reads past a cut last line (it may be a write in
progress) but the next append glues onto it, and from then on every read fails. So sweeper
checks the file first: ``run`` refuses to write to a damaged journal, ``report`` warns, and
``repair`` keeps every intact record and sets the damaged file aside (never deleting it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sweeper.errors import SweeperError
from sweeper.files import atomic_path
from sweeper.storage.storages import journal_path

# A last line without its newline may be a write in progress: look again after this long.
SETTLE_S = 0.2


@dataclass(frozen=True)
class Damage:
    path: Path
    line: int  # 1-based
    reason: str

    def describe(self) -> str:
        return f"study journal {self.path} is damaged at line {self.line} ({self.reason})"


def _bad_lines(data: bytes) -> list[tuple[int, str]]:
    lines = data.split(b"\n")
    bad = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number == len(lines):  # no newline after it
            bad.append((number, "its last record was cut off mid-write"))
            continue
        try:
            json.loads(line)
        except ValueError:
            bad.append((number, "a record that is not valid JSON, as a write cut short leaves"))
    return bad


def storage_damage(storage: str | None, folder: Path) -> Damage | None:
    """The damage of the journal a storage setting names; None for a database or a whole one."""
    path = journal_path(storage, folder)
    return find_damage(path) if path is not None else None


def refuse_damaged(storage: str | None, folder: Path, space_ref: str) -> None:
    """Refuse to add trials to a damaged journal: the next record would glue onto the cut one.
    ``space_ref``: the space as the user names it, for the fix."""
    damage = storage_damage(storage, folder)
    if damage is not None:
        raise SweeperError(
            f"{damage.describe()}, so no trial can be added to it; run `python -m sweeper "
            f"repair {space_ref}` to keep every intact record and set the damaged file aside"
        )


def find_damage(path: Path) -> Damage | None:
    """The first damaged line of a journal file, or None if every record is whole."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    bad = _bad_lines(data)
    if bad and bad[0][0] == data.count(b"\n") + 1:  # only the last line: maybe being written
        time.sleep(SETTLE_S)
        data = path.read_bytes()
        bad = _bad_lines(data)
    return Damage(path, *bad[0]) if bad else None


@dataclass(frozen=True)
class Repair:
    kept: int
    dropped: list[int]  # line numbers
    aside: Path  # where the damaged file now is


def repair(path: Path) -> Repair:
    """Keep every intact record of ``path`` in a fresh journal; move the original aside."""
    damage = find_damage(path)
    if damage is None:
        raise SweeperError(f"study journal {path} is not damaged; nothing to repair")
    data = path.read_bytes()
    dropped = {number for number, _ in _bad_lines(data)}
    kept = [
        line
        for number, line in enumerate(data.split(b"\n"), start=1)
        if line.strip() and number not in dropped
    ]
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"".join(line + b"\n" for line in kept))
        path.rename(aside)  # the original stays, under a new name
    return Repair(len(kept), sorted(dropped), aside)
