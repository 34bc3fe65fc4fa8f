"""Where a contract test's journal lives: a SQLite file or a PostgreSQL database (not a test
module). ``Store.open()`` opens (again) the same journal, for the tests that close and reopen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eessi.journal import open_journal
from eessi.journal.base import Journal

__all__ = ["Store"]


@dataclass(frozen=True)
class Store:
    #: "sqlite" or "postgresql".
    backend: str
    #: The SQLite file path or the PostgreSQL URL.
    target: str

    async def open(self) -> Journal:
        """The journal, opened as ``eessi serve`` opens it (``open_journal``): SQLite with
        synchronous=NORMAL (as the suite always did: faster), PostgreSQL with its default
        synchronous_commit=on."""
        if self.backend == "sqlite":
            return await open_journal(Path(self.target), synchronous="NORMAL")
        return await open_journal(self.target)
