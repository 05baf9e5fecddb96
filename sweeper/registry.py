"""The extension points by name: engines (what chooses each trial's values) and backends
(where trials run).

A registry maps each name to a ``"module:attribute"`` reference and imports it only when it
is asked for, so code that checks names (the configuration, the CLI's choices) imports no
engine or backend. Other packages add engines through the ``sweeper.engines`` entry point
group, as pytest plugins do::

    [project.entry-points."sweeper.engines"]
    nevergrad = "sweeper_nevergrad:NevergradEngine"
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from sweeper.errors import SettingError, SweeperError, describe_failure


class Registry:
    """Names for one setting's values, each resolved to an object on first use."""

    def __init__(self, setting: str, builtin: Mapping[str, str], group: str | None = None):
        self.setting, self.group = setting, group
        self._builtin = dict(builtin)
        self._loaded: dict[str, Any] = {}  # by reference: the same plugin, loaded once

    def _found(self) -> dict[str, str]:
        """Name -> reference ("module:attribute"): the built-in ones, then those installed."""
        plugins = _entry_points(self.group, tuple(sys.path)) if self.group else {}
        return {**plugins, **self._builtin}

    def names(self) -> list[str]:
        """The built-in names, then those installed packages add."""
        return [*self._builtin, *(n for n in self._found() if n not in self._builtin)]

    def load(self, name: str) -> Any:
        """The object ``name`` stands for; an unknown name is a ``SettingError``."""
        reference = self._found().get(name)
        if reference is None:
            names = ", ".join(self.names())
            raise SettingError(self.setting, f"must be one of {names}, not {name!r}")
        if reference not in self._loaded:
            try:
                module, _, attribute = reference.partition(":")
                found = importlib.import_module(module)
                for part in attribute.split("."):
                    found = getattr(found, part)
                self._loaded[reference] = found
            except Exception as exc:  # a plugin that fails to import: say whose it is
                raise SweeperError(
                    f"{self.setting} {name!r} ({reference}) cannot be loaded "
                    f"({describe_failure(exc)}); reinstall the package that provides it, or "
                    "choose another"
                ) from exc
        return self._loaded[reference]


@functools.lru_cache(maxsize=8)
def _entry_points(group: str, path: tuple[str, ...]) -> dict[str, str]:
    """The entry points of ``group`` that the packages on ``path`` declare (read once per
    ``sys.path``: a configuration is built, and checked, many times in a sweep)."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=group)}


# One line per built-in engine; other packages add theirs as entry points.
ENGINES = Registry(
    "engine",
    {
        "optuna": "sweeper.search.optuna_engine:OptunaEngine",
        "kerastuner": "sweeper.search.kerastuner:KerasTunerEngine",
    },
    group="sweeper.engines",
)
# Where trials run; the configuration picks one (``SweepConfig.backend``).
BACKENDS = Registry(
    "backend",
    {
        "in_process": "sweeper.backends.in_process:InProcess",
        "processes": "sweeper.backends.processes:WorkerProcesses",
        "dask": "sweeper.backends.dask_cluster:DaskCluster",
    },
)
