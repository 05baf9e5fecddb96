"""A real PostgreSQL server on loopback for the tests: Debian's binaries, a throwaway cluster
in a temporary folder (initdb / pg_ctl), password authentication, a small max_connections so
the limit can be reached on purpose. As root, the server runs as the `postgres` user, since
PostgreSQL refuses to run as root."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "sweeper", "pg-secret-7f3a"
MAX_CONNECTIONS = 60


@functools.cache
def storage(url: str):
    """One storage (one connection pool) per database for a test's own reads: a new one per
    poll would hold its connections until garbage-collected, and exhaust the server."""
    from sweeper.storage.storages import open_storage

    return open_storage(url, Path("."))


def binaries() -> Path | None:
    """The folder with initdb and pg_ctl, or None where PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (for the test servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    folder: Path
    port: int
    bin_dir: Path
    options: str = ""  # the server's command line options, to start it again

    def url(self, database: str = "postgres", password: str | None = PASSWORD) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def halt(self) -> None:
        """Stop the server as a crash would (no shutdown), keeping its data: an outage."""
        self._ctl("-m", "immediate", "stop")

    def resume(self) -> None:
        """Start the halted server again, on the same port, with the same data."""
        self._ctl("-o", self.options, "-l", str(self.folder / "server.log"), "-w", "start")

    def _ctl(self, *args: str) -> None:
        _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), *args])

    def stop(self) -> None:
        _as_postgres(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_postgres(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=60)


def start() -> Server:
    bin_dir = binaries()
    assert bin_dir is not None
    folder = Path(tempfile.mkdtemp(prefix="sweeper-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    (folder / "pw").write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder / "pw", "postgres", "postgres")
    _as_postgres(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            USER,
            f"--pwfile={folder / 'pw'}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]
    )
    port = free_port()
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        f"-c max_connections={MAX_CONNECTIONS} -c synchronous_commit=off"
    )
    _as_postgres(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-o",
            options,
            "-l",
            str(folder / "server.log"),
            "-w",
            "start",
        ]
    )
    return Server(folder, port, bin_dir, options)
