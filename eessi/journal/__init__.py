"""The durable journal of an institution: messages byte-exact, case events, the outbox.

``base`` holds the interface (:class:`Journal`, :class:`JournalTransaction`) and the records;
``sqlite`` the SQLite implementation. Open one with :func:`open_journal`.
"""

from __future__ import annotations

from pathlib import Path

from eessi.journal.base import (
    FINAL_STATUSES,
    INITIAL_STATUS,
    TRANSITIONS,
    CaseEvent,
    CaseSnapshot,
    Direction,
    Journal,
    JournalTransaction,
    MessageRecord,
    MessageStatus,
)
from eessi.journal.sqlite import SqliteJournal, Synchronous

__all__ = [
    "FINAL_STATUSES",
    "INITIAL_STATUS",
    "TRANSITIONS",
    "CaseEvent",
    "CaseSnapshot",
    "Direction",
    "Journal",
    "JournalTransaction",
    "MessageRecord",
    "MessageStatus",
    "SqliteJournal",
    "open_journal",
]


async def open_journal(path: str | Path, *, synchronous: Synchronous = "FULL") -> Journal:
    """Open the journal at ``path`` (a SQLite file, created if missing).

    ``synchronous="FULL"`` (default) makes every acknowledged write survive a power loss;
    ``"NORMAL"`` only a killed process, and is faster (see ``docs/decisions.md``).
    """
    return await SqliteJournal.open(path, synchronous=synchronous)
