"""The checkpoint tables of the SQLite journal: saved whole or not at all, read consistently,
migrated into journals of schema 1, and a kill -9 while saving leaves the previous one whole."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from checkpoint_child import T0

from eessi.errors import JournalError
from eessi.journal import SqliteJournal
from eessi.journal.sqlite import _SCHEMA, SCHEMA_VERSION

CHILD = Path(__file__).with_name("checkpoint_child.py")
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_checkpoint_missing_entries_is_reported_damaged(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    async with await SqliteJournal.open(db) as journal:
        await journal.save_checkpoint(
            header={}, input_seq=1, at=AT, changed=[("t", b"a", b"1"), ("t", b"b", b"1")]
        )
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM checkpoint_items WHERE key = x'61'")
    async with await SqliteJournal.open(db) as journal:
        with pytest.raises(JournalError) as info:
            await journal.load_checkpoint()
    assert info.value.code == "journal.corrupt"
    assert "lists 2 entries but holds 1" in str(info.value)


async def test_journal_of_schema_1_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT INTO case_events VALUES ('~inputs', 1, '2026-01-05T09:00:00.000000Z',"
            " 'input', '{}', NULL)"
        )
        conn.execute("PRAGMA user_version = 1")
    async with await SqliteJournal.open(db) as journal:
        assert [e.seq for e in await journal.case_events_after("~inputs", 0)] == [1]
        assert await journal.load_checkpoint() is None
        await journal.save_checkpoint(header={}, input_seq=1, at=AT, changed=[])
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4


def kill_while_saving(db: Path, seed: int) -> tuple[int, int]:
    """Run the child; SIGKILL it at a random moment within a save, some rounds in; return the
    last round saved and the last one begun."""
    rng = random.Random(seed)
    kill_in = rng.randint(2, 4)
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    duration = 0.0
    while True:
        line = proc.stdout.readline()
        assert line, f"the child stopped: {proc.stderr.read() if proc.stderr else ''}"
        seen.append(line)
        if line.startswith("saved "):
            duration = float(line.split()[2])
        if line == f"begin {kill_in}\n":
            break
    # somewhere in the first 80 % of a save, as long as the previous ones took
    time.sleep(rng.random() * 0.8 * duration)
    os.kill(proc.pid, signal.SIGKILL)
    rest, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, f"the child died on its own:\n{err}"
    seen += rest.splitlines(keepends=True)
    saved = max(int(ln.split()[1]) for ln in seen if ln.startswith("saved "))
    begun = max(int(ln.split()[1]) for ln in seen if ln.startswith("begin "))
    return saved, begun


async def test_kill_9_while_checkpointing_leaves_the_previous_checkpoint_whole(
    tmp_path: Path,
) -> None:
    interrupted = 0
    for seed in (1, 2, 3):
        db = tmp_path / f"j{seed}.sqlite"
        saved, begun = kill_while_saving(db, seed)
        async with await SqliteJournal.open(db) as journal:
            checkpoint = await journal.load_checkpoint()
        assert checkpoint is not None
        n = checkpoint.input_seq
        assert n in (saved, begun)  # the last one saved, or the one begun if it committed
        interrupted += n < begun
        assert checkpoint.header == {"round": n}
        assert checkpoint.at == T0.replace(second=n)
        keys = {key for _, key, _ in checkpoint.items}
        assert keys == {f"k{i}".encode() for i in range(3000)} | {f"gone{n}".encode()}
        assert all(value.startswith(f"{n}:".encode()) for _, _, value in checkpoint.items)
    # the kill lands within a save (timed from the previous saves): at least once of three
    assert interrupted >= 1
