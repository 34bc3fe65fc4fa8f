"""Kill -9 a real process writing a real journal file, reopen it, and check that nothing
acknowledged is lost, nothing is half-written, and nothing will be processed twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_child import T0, case_for, envelope_for, payload_for, process

from eessi.errors import JournalError
from eessi.journal import Direction, MessageStatus, SqliteJournal

CHILD = Path(__file__).with_name("crash_child.py")


def run_and_kill(
    db: Path, synchronous: str, seed: int, start: int = 0
) -> tuple[set[str], set[str]]:
    """Start the writer, SIGKILL it after a random number of lines plus a random delay; return
    the IDs it reported accepted and processed (every line it managed to flush)."""
    rng = random.Random(seed)
    lines_before_kill = rng.randint(1, 120)
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), synchronous, str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    while len(seen) < lines_before_kill:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
    time.sleep(rng.random() * 0.02)
    os.kill(proc.pid, signal.SIGKILL)
    rest, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, f"the writer died on its own:\n{err}"
    # Only whole lines: the kill may cut the child's last line (``"processed "``, no ID).
    lines = ("".join(seen) + rest).split("\n")[:-1]
    accepted = {ln.split()[1] for ln in lines if ln.startswith("accepted ")}
    processed = {ln.split()[1] for ln in lines if ln.startswith("processed ")}
    assert accepted, "the writer was killed before it accepted anything"
    return accepted, processed


async def check_journal(db: Path, accepted: set[str], processed: set[str]) -> None:
    async with await SqliteJournal.open(db) as journal:
        inbound = await journal.messages(direction=Direction.IN)
        ids = [m.message_id for m in inbound]
        assert len(ids) == len(set(ids)), "a message was stored twice"
        by_id = {m.message_id: m for m in inbound}
        # Nothing acknowledged is lost, and it is byte-exact.
        assert accepted <= by_id.keys()
        for mid in accepted:
            assert by_id[mid].payload == payload_for(mid)
            assert by_id[mid].envelope == envelope_for(mid)
        # Every transaction is all or nothing.
        done: set[str] = set()
        for mid, msg in by_id.items():
            events = await journal.case_events(case_for(mid))
            snapshot = await journal.case(case_for(mid))
            reply = await journal.message("out-" + mid, Direction.OUT)
            effects = [bool(events), snapshot is not None, reply is not None]
            is_processed = msg.status is MessageStatus.PROCESSED
            assert effects == [is_processed] * 3, f"{mid}: half a transaction: {effects}"
            if is_processed:
                done.add(mid)
                assert [e.seq for e in events] == [1, 2]
                assert snapshot is not None
                assert snapshot.last_seq == 2
                assert reply is not None
                assert reply.payload == payload_for(reply.message_id)
        assert processed <= done
        # The unprocessed list is exactly the accepted messages whose effects are absent.
        unprocessed = await journal.unprocessed_inbound()
        assert {m.message_id for m in unprocessed} == by_id.keys() - done
        # Pending sends resume: every committed reply is due.
        due = await journal.due_outbound(T0.replace(year=2100), limit=10_000)
        assert {m.message_id for m in due} == {"out-" + mid for mid in done}
        # Resuming processes each leftover once; a second attempt is refused.
        for msg in unprocessed:
            await process(journal, msg.message_id, 0)
        assert await journal.unprocessed_inbound() == []
        if done:
            with pytest.raises(JournalError, match="illegal status change processed"):
                async with journal.transaction() as tx:
                    await tx.mark_processed(sorted(done)[0], at=T0)


@pytest.mark.parametrize(
    ("synchronous", "seed"), [("NORMAL", 1), ("NORMAL", 2), ("FULL", 3), ("FULL", 4)]
)
def test_kill_9_loses_nothing_accepted_and_leaves_no_half_transaction(
    tmp_path: Path, synchronous: str, seed: int
) -> None:
    db = tmp_path / "journal.sqlite"
    accepted, processed = run_and_kill(db, synchronous, seed)
    asyncio.run(check_journal(db, accepted, processed))


def test_kill_9_again_after_a_resumed_restart_keeps_both_runs(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    accepted, processed = run_and_kill(db, "NORMAL", 5)
    asyncio.run(check_journal(db, accepted, processed))  # resumes the leftovers
    accepted2, processed2 = run_and_kill(db, "NORMAL", 6, start=500_000)
    asyncio.run(check_journal(db, accepted | accepted2, processed | processed2 | accepted))
