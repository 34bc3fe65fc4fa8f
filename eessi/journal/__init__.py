"""The durable journal of an institution: messages byte-exact, case events, the outbox.

``base`` holds the interface (:class:`Journal`, :class:`JournalTransaction`) and the records;
``sqlite`` the SQLite implementation (the embedded default), ``postgres`` the PostgreSQL one
(asyncpg), ``migrations`` their schema steps. Open one with :func:`open_journal`: a file path
opens SQLite, a ``postgresql://`` URL PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from eessi.journal.urls import is_postgres_url

if TYPE_CHECKING:
    from eessi.journal.postgres import PostgresJournal

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
    "PostgresJournal",
    "SqliteJournal",
    "open_journal",
]


async def open_journal(path: str | Path, *, synchronous: Synchronous = "FULL") -> Journal:
    """Open the journal at ``path``: a SQLite file (created if missing), or a PostgreSQL
    database given as a ``postgresql://USER@HOST:PORT/DB`` URL (its schema created or
    upgraded; the database itself must exist).

    ``synchronous="FULL"`` (default) makes every acknowledged write survive a power loss (for
    PostgreSQL: ``synchronous_commit=on``); ``"NORMAL"`` only a killed process, and is faster
    (see ``docs/decisions.md``).
    """
    if isinstance(path, str) and is_postgres_url(path):
        from eessi.journal.postgres import PostgresJournal

        return await PostgresJournal.open(path, synchronous_commit=synchronous == "FULL")
    return await SqliteJournal.open(path, synchronous=synchronous)


def __getattr__(name: str) -> Any:
    """``PostgresJournal`` imported on first use: a SQLite node never loads asyncpg (D187)."""
    if name == "PostgresJournal":
        from eessi.journal.postgres import PostgresJournal

        return PostgresJournal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
