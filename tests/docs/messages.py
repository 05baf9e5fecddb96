"""The one-line errors sweeper's code can raise, read from its source: every
``raise``/``return`` of one of sweeper's error classes with a message written in place.

A message becomes a pattern: its literal text, each value formatted into it as "…", and each
``{setting}`` it names worded as the command line words it (``--results-dir``). The
troubleshooting page lists the same patterns, so a message changed in the code and not on
the page (or the other way round) fails ``test_docs.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from sweeper.cli.parser import LEADS, flag
from sweeper.errors import worded

ERRORS = {
    "SweeperError",
    "UsageError",
    "SpaceError",
    "DataError",
    "FatalTrialError",
    "SettingError",
    "StorageUnavailable",
}
GAP = "…"  # where a message holds a value


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else GAP for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Subscript):
        return GAP  # a message built elsewhere, or a value: one gap
    return None


def _pattern(name: str, args: list[ast.expr]) -> str | None:
    if name == "SettingError" and len(args) == 2:
        setting = args[0].value if isinstance(args[0], ast.Constant) else None
        problem = _text(args[1])
        if problem is None:
            return None
        lead = GAP if setting is None else LEADS.get(setting, flag(setting))
        return f"{lead} {worded(problem, flag)}"
    message = _text(args[0]) if args else None
    return None if message is None else worded(message, flag)


def messages(root: Path) -> Iterator[tuple[str, str]]:
    """(where, pattern) of every message the package under ``root`` raises."""
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.exc if isinstance(node, ast.Raise) else getattr(node, "value", None)
            if not isinstance(node, ast.Raise | ast.Return) or not isinstance(value, ast.Call):
                continue
            name = getattr(value.func, "id", None) or getattr(value.func, "attr", None)
            if name in ERRORS:
                pattern = _pattern(name, value.args)
                if pattern is not None and pattern != GAP:
                    yield f"{path.relative_to(root.parent)}:{node.lineno}", pattern


def documented(page: str) -> set[str]:
    """The patterns a troubleshooting page lists: each a ``` `` ``` code span opening a list
    item under its "Every message" heading."""
    listed = page.split("## Every message", 1)[-1]
    found = set()
    for line in listed.splitlines():
        if line.startswith("- `` ") and " ``" in line[5:]:
            found.add(line[5 : line.index(" ``", 5)])
    return found
