"""A throw-away PostgreSQL cluster for the tests (not a test module; decision D83).

Started once per test session from the server binaries installed on the machine (Debian's
``postgresql`` package, which ``make test`` installs when missing): ``initdb`` into a temporary
directory, ``pg_ctl start`` on a free loopback port with its unix socket in that directory,
trust authentication, ``fsync=off`` (the tests check behaviour, not power-loss durability).
PostgreSQL refuses to run as root: as root, the cluster runs as the ``postgres`` user.

Each test asks for a fresh database (:meth:`PostgresCluster.new_database`). Nothing is
downloaded. If the server cannot be started, the tests that need it fail (they are part of the
product); set ``EESSI_TEST_SKIP_POSTGRES=1`` to skip them explicitly instead.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SKIP_VARIABLE", "PostgresCluster", "find_bin_dir", "start_cluster"]

#: Set to 1 to skip the PostgreSQL tests (they fail otherwise when no server can be started).
SKIP_VARIABLE = "EESSI_TEST_SKIP_POSTGRES"


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``$EESSI_PG_BIN``, the PATH, or the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian does not put them on the PATH)."""
    given = os.environ.get("EESSI_PG_BIN")
    if given:
        return Path(given)
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)] or [0],
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    """A running cluster: where it listens, and how to get a fresh database in it."""

    bin_dir: Path
    root: Path
    port: int
    run_as: dict[str, Any] = field(default_factory=dict)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; return its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._numbers)}"
        self._run(
            "createdb",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return self.url(name)

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            **self.run_as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")

    def stop(self) -> None:
        subprocess.run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
            timeout=120,
            **self.run_as,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PostgresCluster:
    """initdb + pg_ctl start; raises RuntimeError saying what is missing or what failed."""
    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise RuntimeError(
            "no PostgreSQL server binaries (initdb, pg_ctl) found: run `make test` (it installs"
            " Debian's postgresql), or set EESSI_PG_BIN, or set"
            f" {SKIP_VARIABLE}=1 to skip the PostgreSQL tests"
        )
    root = Path(tempfile.mkdtemp(prefix="eessi-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root and there is no `postgres` user to run the server as"
            ) from None
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        os.chown(root, user.pw_uid, user.pw_gid)
    (root / "socket").mkdir()
    if run_as:
        os.chown(root / "socket", run_as["user"], run_as["group"])
    cluster = PostgresCluster(bin_dir, root, _free_port(), run_as)
    try:
        cluster._run(
            "initdb",
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        cluster._run(
            "pg_ctl",
            "-D",
            str(root / "data"),
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "120",
            "-o",
            options,
            "start",
        )
    except BaseException as exc:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        cluster.stop()
        raise RuntimeError(f"could not start a PostgreSQL test cluster: {exc}\n{tail}") from exc
    return cluster
