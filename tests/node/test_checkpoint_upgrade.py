"""A journal whose checkpoint the previous build wrote (format ``eessi-checkpoint/3``, every
table one row per entry) restarts from that checkpoint, not by replaying its whole input log,
and its next checkpoint is written packed (D220); a crash while that checkpoint is written
leaves one whole checkpoint (issue 9, item 11).

The fixture ``data/checkpoint_v3.sqlite.gz`` is the CNS's journal as the previous build wrote
it (``data/make_checkpoint_v3.py`` says how): 8 R17 cases completed and one open at PT, a
checkpoint at input 17 of 23, then 3 more cases (a tail of 6 inputs)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from node_kit import CNS, write_directory

from eessi.core.cns import CnsState
from eessi.directory import Directory, load_directory
from eessi.node.checkpoint import FORMAT, LEGACY_FORMAT
from eessi.node.institution import NodeOptions
from eessi.node.network import Network, journal_file_name

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_checkpoint_v3 import HOUSEHOLDS, households

FIXTURE = Path(__file__).parent / "data" / "checkpoint_v3.sqlite.gz"
#: Inputs in the fixture's log, and the position of its checkpoint.
INPUTS, CHECKPOINT_AT = 23, 17
PEOPLE = households(HOUSEHOLDS)


def fixture_journal(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    db = where / journal_file_name(CNS)
    db.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    return db


def cns(where: Path, directory: Directory, every: int | None) -> Network:
    return Network(
        directory,
        where,
        ids=[CNS],
        seed=7,
        options=NodeOptions(checkpoint_every=every),
        synchronous="FULL",
        households=PEOPLE,
    )


def header(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        loaded: dict[str, Any] = json.loads(
            conn.execute("SELECT header FROM checkpoint").fetchone()[0]
        )
    return loaded


def rows_per_table(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT tbl, count(*) FROM checkpoint_items GROUP BY tbl"))


async def full_replay(where: Path, directory: Directory) -> Any:
    """The CNS's state from its whole input log (the fixture without its checkpoint)."""
    db = fixture_journal(where)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM checkpoint_items")
        conn.execute("DELETE FROM checkpoint")
    async with cns(where, directory, every=0) as net:
        assert net[CNS].stats["replayed"] == INPUTS
        return net[CNS].desk.snapshot()


async def test_a_checkpoint_of_the_previous_format_is_read_and_only_its_tail_replayed(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    db = fixture_journal(tmp_path / "upgraded")
    assert header(db)["format"] == LEGACY_FORMAT
    async with cns(tmp_path / "upgraded", directory, every=0) as net:
        node = net[CNS]
        assert node.stats["replayed"] == INPUTS - CHECKPOINT_AT  # the tail, not the whole log
        restored = node.desk.snapshot()
        assert isinstance(restored, CnsState)
        registered = sorted(str(member) for member in restored.registrations)
        cases = await node.journal.cases()
    expected = await full_replay(tmp_path / "replayed", directory)
    assert restored == expected
    # what the operator sees: the 11 spouses registered (R17), 12 cases, the one from PT still
    # waiting for its S073
    assert registered == [f"upgrade-{i:03d}/spouse" for i in range(11)]
    assert len(cases) == 12
    assert sum(cf.state.value != "completed" for cf in restored.cases.values()) == 1


async def test_the_first_checkpoint_after_the_upgrade_is_packed_and_restores_the_same_state(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    db = fixture_journal(tmp_path / "upgraded")
    assert rows_per_table(db) == {"cases": 9, "household_cases": 9, "registrations": 8}
    async with cns(tmp_path / "upgraded", directory, every=None) as net:
        before = net[CNS].desk.snapshot()
    # the stop wrote this build's checkpoint: the cases one row each and their index, the other
    # tables packed
    assert header(db)["format"] == FORMAT
    assert rows_per_table(db) == {"cases": 12 + 1, "household_cases": 1, "registrations": 1}
    async with cns(tmp_path / "upgraded", directory, every=0) as net:
        assert net[CNS].stats["replayed"] == 0
        assert net[CNS].desk.snapshot() == before
    assert before == await full_replay(tmp_path / "replayed", directory)


WRITER = """
import asyncio, sys
sys.path.insert(0, {data!r})
sys.path.insert(0, {tests!r})
from make_checkpoint_v3 import HOUSEHOLDS, households
from node_kit import CNS
from eessi.core.cns import CnsState
from eessi.directory import load_directory
from eessi.node.checkpoint import DeskCheckpoints
from eessi.node.institution import NodeOptions
from eessi.node.network import Network

async def main():
    net = Network(load_directory({directory!r}), {where!r}, ids=[CNS], seed=7,
                  options=NodeOptions(checkpoint_every=0), synchronous="FULL",
                  households=households(HOUSEHOLDS))
    async with net:
        node = net[CNS]
        state = node.desk.snapshot()
        seq, at = node.checkpoints.input_seq, node.checkpoints.input_at
        n = 0
        while True:
            n += 1
            writer = DeskCheckpoints(node.journal, CNS)  # knows nothing saved: writes it all
            writer.logged(seq, at, 0)
            print(f"begin {{n}}", flush=True)
            await writer.save(state)
            print(f"saved {{n}}", flush=True)

asyncio.run(main())
"""


def kill_while_writing(script: str, rounds: int) -> None:
    """Run the writer; ``kill -9`` it as soon as it begins write number ``rounds``."""
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == f"begin {rounds}":
                os.kill(proc.pid, signal.SIGKILL)  # while that write is under way
                break
        assert proc.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.slow
async def test_a_kill_while_the_upgraded_checkpoint_is_written_leaves_one_whole_checkpoint(
    tmp_path: Path,
) -> None:
    """A real process restores from the previous format's checkpoint and writes this build's
    (all of it, again and again) until it is killed (``kill -9``) while a write is under
    way; the next start reads whichever checkpoint the journal holds whole, and the state is
    the full replay's: no input lost, none applied twice."""
    directory_file = write_directory(tmp_path)
    directory = load_directory(directory_file)
    expected = await full_replay(tmp_path / "replayed", directory)
    for attempt in range(3):
        where = tmp_path / f"killed{attempt}"
        fixture_journal(where)
        script = WRITER.format(
            data=str(Path(__file__).parent / "data"),
            tests=str(Path(__file__).parent),
            directory=str(directory_file),
            where=str(where),
        )
        rounds = 1 + attempt  # the first write (the conversion), then whole rewrites
        await asyncio.to_thread(kill_while_writing, script, rounds)
        async with cns(where, directory, every=0) as net:
            replayed = net[CNS].stats["replayed"]
            # the previous format's checkpoint (killed during the conversion) or this one's
            assert replayed in ({0, INPUTS - CHECKPOINT_AT} if rounds == 1 else {0})
            assert net[CNS].desk.snapshot() == expected
        assert header(where / journal_file_name(CNS))["format"] in (FORMAT, LEGACY_FORMAT)


async def test_a_damaged_packed_row_is_ignored_and_the_whole_log_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = load_directory(write_directory(tmp_path))
    db = fixture_journal(tmp_path / "damaged")
    async with cns(tmp_path / "damaged", directory, every=None):
        pass
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(
            "SELECT value FROM checkpoint_items WHERE tbl = 'registrations'"
        ).fetchone()
        conn.execute(
            "UPDATE checkpoint_items SET value = ? WHERE tbl = 'registrations'",
            (value[: len(value) // 2],),  # cut short, as a torn page would
        )
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with cns(tmp_path / "damaged", directory, every=0) as net:
            assert net[CNS].stats["replayed"] == INPUTS
            state = net[CNS].desk.snapshot()
    assert "checkpoint ignored, an entry cannot be decoded" in caplog.text
    assert state == await full_replay(tmp_path / "replayed", directory)


async def test_a_previous_format_checkpoint_of_other_state_classes_is_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the previous format as the build before wrote it is read: another model (an older
    build's, whose classes differ) is ignored and the whole log replayed."""
    directory = load_directory(write_directory(tmp_path))
    db = fixture_journal(tmp_path / "older")
    with sqlite3.connect(db) as conn:
        head = json.loads(conn.execute("SELECT header FROM checkpoint").fetchone()[0])
        conn.execute(
            "UPDATE checkpoint SET header = ?",
            (json.dumps({**head, "model": "a9eda5493819cf923eeee4ca7979a267"}),),
        )
    with caplog.at_level(logging.WARNING, logger="eessi.node"):
        async with cns(tmp_path / "older", directory, every=0) as net:
            assert net[CNS].stats["replayed"] == INPUTS
    assert "which this build does not read" in caplog.text
