"""Deprecated: where ``load_existing_study`` was before sweeper's stages became packages,
kept so that scripts written against the earlier README still run. Use ``sweeper.load``:
``sweeper.load(space).study`` is the same study, read-only."""

import warnings

from sweeper.storage.storages import load_existing_study

warnings.warn(
    "sweeper.study is deprecated; use sweeper.load(space).study",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["load_existing_study"]
