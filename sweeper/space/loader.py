"""Finding and importing search-space modules, by name or by file path.

A space module defines ``SPACE = Space(...)``. Names resolve to the installed
``search_spaces`` package; anything that looks like a path (``my_space.py``, ``dir/x.py``) is
imported from that file. Every failure becomes one ``SpaceError`` line naming the module.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from sweeper.errors import SpaceError, UsageError
from sweeper.space.space import Space


def spaces_dir() -> Path:
    """The folder of the shipped ``search_spaces`` package, found without importing it (the
    library imports a space module only when it is asked for)."""
    spec = importlib.util.find_spec("search_spaces")
    assert spec is not None and spec.submodule_search_locations, "sweeper's install is broken"
    return Path(next(iter(spec.submodule_search_locations)))


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(".py") or "/" in ref or "\\" in ref


def available_spaces() -> dict[str, str]:
    """Name -> one-line description of every space in ``search_spaces/``.

    Reads docstrings without importing, so a broken module still lists (and cannot break
    the listing).
    """
    spaces = {}
    for path in sorted(spaces_dir().glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        except SyntaxError as exc:
            doc = f"(syntax error at line {exc.lineno})"
        spaces[path.stem] = doc.strip().splitlines()[0] if doc.strip() else ""
    return spaces


def load_space(ref: str) -> Space:
    """The validated ``Space`` that a name in ``search_spaces/`` or a ``.py`` path declares."""
    if _looks_like_path(ref):
        module, origin = _import_file(Path(ref)), ref
        source = str(Path(ref).resolve())
    else:
        module, origin = _import_named(ref), str(spaces_dir() / f"{ref}.py")
        source = ref
    space = getattr(module, "SPACE", None)
    if not isinstance(space, Space):
        raise SpaceError(
            f"search space {origin} defines no SPACE; add `SPACE = Space(...)` at module level"
        )
    name = space.name or Path(origin).stem
    description = space.description or (module.__doc__ or "").strip().split("\n")[0]
    return dataclasses.replace(space, name=name, description=description, source=source)


def _import_named(name: str) -> ModuleType:
    if not name.isidentifier() or name not in available_spaces():
        known = ", ".join(available_spaces()) or "none"
        raise UsageError(
            f"unknown search space {name!r}; choose from {known}, or pass a path to a .py file"
        )
    return _guarded_import(
        spaces_dir() / f"{name}.py", lambda: importlib.import_module(f"search_spaces.{name}")
    )


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise UsageError(f"search space file {path} does not exist; check the path")

    def load() -> ModuleType:
        module_name = f"sweeper_user_space_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise SpaceError(
                f"search space {path} cannot be imported as a Python module; give a .py file"
            )
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up here
        spec.loader.exec_module(module)
        return module

    return _guarded_import(path, load)


def _guarded_import(path: Path, load) -> ModuleType:
    try:
        return load()
    except SpaceError as exc:
        raise SpaceError(f"search space {path}: {exc}") from exc
    except SyntaxError as exc:
        raise SpaceError(
            f"search space {path} has a syntax error at line {exc.lineno}: {exc.msg}; fix it"
        ) from exc
    except Exception as exc:
        line = traceback.extract_tb(exc.__traceback__)[-1].lineno
        raise SpaceError(
            f"search space {path} failed to import ({type(exc).__name__}: {exc}, "
            f"line {line}); fix the module"
        ) from exc
