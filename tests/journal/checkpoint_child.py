"""Helper process for ``test_journal_checkpoint.py`` (not a test): saves checkpoints until killed.

Usage: ``python checkpoint_child.py JOURNAL_FILE ENTRIES``. Round ``n`` (1, 2, ...) saves a
checkpoint at input position ``n``: every entry ``k<i>`` rewritten with a value starting
``<n>:``, the entry ``gone<n-1>`` removed and ``gone<n>`` added. Before each save it prints
``begin <n>``, after the save returned ``saved <n> <seconds>`` (flushed). The parent kills
this process with SIGKILL while a save is under way and checks that the journal holds one
whole checkpoint: the last saved, or the one begun if its commit made it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from eessi.journal import SqliteJournal

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def entries(n: int, count: int) -> list[tuple[str, bytes, bytes]]:
    filler = b"x" * 2000
    items = [("t", f"k{i}".encode(), f"{n}:".encode() + filler) for i in range(count)]
    items.append(("t", f"gone{n}".encode(), f"{n}:".encode()))
    return items


async def main(path: str, count: int) -> None:
    journal = await SqliteJournal.open(path, synchronous="FULL")
    n = 0
    while True:
        n += 1
        print(f"begin {n}", flush=True)
        started = time.perf_counter()
        await journal.save_checkpoint(
            header={"round": n},
            input_seq=n,
            at=T0 + timedelta(seconds=n),
            changed=entries(n, count),
            removed=[("t", f"gone{n - 1}".encode())],
        )
        print(f"saved {n} {time.perf_counter() - started:.4f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
