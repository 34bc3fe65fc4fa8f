"""What ``eessi serve`` imports before it answers (issue 9.11, D187): a CNS on a SQLite journal
loads neither PostgreSQL's driver nor the mock funds' modules nor the shared-institution
partitions; a real process, its imports read from ``python -X importtime``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from node_kit import CNS, write_directory

#: Modules a lone CNS on SQLite has no use for before (or after) it answers.
NOT_NEEDED = ("asyncpg", "eessi.journal.postgres", "eessi.mock", "eessi.node.partitions")


def imported_until_listening(tmp_path: Path, *extra: str) -> set[str]:
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "eessi", "serve", "--institution", CNS,
         "--directory", str(write_directory(tmp_path)), "--db", str(tmp_path / "cns.sqlite"),
         "--host", "127.0.0.1", "--port", "0", "--tick", "0", "--no-security", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                break
        else:
            raise AssertionError(f"eessi serve exited ({proc.wait()}) before listening")
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=60)
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in err.splitlines()
        if line.startswith("import time:")
    }
    assert "eessi.node.institution" in modules  # the import times were read
    return modules


def test_a_cns_on_sqlite_starts_without_postgres_mock_or_partition_modules(
    tmp_path: Path,
) -> None:
    modules = imported_until_listening(tmp_path)
    loaded = sorted(m for m in modules if m.split(".")[0] == "asyncpg" or m in NOT_NEEDED)
    loaded += sorted(m for m in modules if m.startswith("eessi.mock."))
    assert loaded == []
