"""Where a study is stored, as the user gives it: a database URL or a journal file, checked
without connecting, and shown without its password wherever sweeper prints or records it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sweeper.errors import UsageError

JOURNAL_SUFFIXES = (".journal", ".log", ".jsonl")
# scheme://user:password@host...: the password, up to the "@" that ends it.
_PASSWORD = re.compile(r"(?P<head>\b[\w+.-]+://[^/:@\s]*:)[^@\s/]*@")


def hide_password(where: str | os.PathLike) -> str:
    """``where`` as it may be shown or stored: a URL's password as ``***`` (as SQLAlchemy
    shows it), anything else as it is. Works on URLs that do not parse, too."""
    return _PASSWORD.sub(r"\g<head>***@", str(where))


def check_storage_url(url: str) -> str:
    """Validate a storage setting without connecting; returns its kind ("journal" or "rdb")."""
    shown = hide_password(url)
    if "://" not in url:
        if Path(url).suffix in JOURNAL_SUFFIXES:
            return "journal"
        raise UsageError(
            f"bad storage {shown!r}: expected a database URL such as "
            "postgresql://user@host/db or sqlite:///study.db, or a journal file ending in .journal"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()  # parses host, port and database kind; connects nowhere
    except NoSuchModuleError as exc:  # a subclass of ArgumentError: test it first
        raise UsageError(
            f"bad storage URL {shown!r}: unknown database kind "
            f"{url.split('://')[0]!r}; use postgresql://, mysql:// or sqlite://"
        ) from exc
    except (ArgumentError, ValueError) as exc:
        raise UsageError(
            f"bad storage URL {shown!r} ({hide_password(str(exc))}); expected e.g. "
            "postgresql://user@host/db"
        ) from exc
    return "rdb"
