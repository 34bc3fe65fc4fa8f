"""The checkpoint of the desk state in the SQLite journal: two tables, written atomically.

The node (``eessi.node.checkpoint``) encodes its desk state as entries ``(table, key, value)``
(bytes the journal does not look into) and a JSON header saying who wrote them. The journal
keeps **one** checkpoint: a header row (``checkpoint``, a single slot) and its entries
(``checkpoint_items``). Saving a new one writes only the entries that changed since the
previous one, the ones removed, and the new header, in one ``BEGIN IMMEDIATE`` … ``COMMIT``
on the writer thread: a crash (``kill -9``, power loss with ``synchronous=FULL``) before the
commit leaves the previous checkpoint whole, header and entries, since SQLite rolls the
unfinished transaction back when the file is next opened. The header also records how many
entries the checkpoint has, checked when it is read.

The values are the node's bytes, except for one convention: a value whose first byte is zero
is one the node may leave unread until it needs it (D186): :func:`read_checkpoint` can cut
those to a head, and :func:`fetch_value` reads one whole later (on the loop's read-only
connection, by the ``(tbl, key)`` index).

Functions here run on the writer thread (:class:`eessi.journal.sqlite.SqliteJournal` calls
them with its writer lock held), but :func:`fetch_value`; they raise ``sqlite3.Error`` for the
caller to translate.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from eessi.errors import JournalError
from eessi.journal.base import Checkpoint, CheckpointItem

__all__ = ["CHECKPOINT_SCHEMA", "fetch_value", "read_checkpoint", "write_checkpoint"]

#: Schema version 2 of the journal adds these (a migration from version 1).
CHECKPOINT_SCHEMA = """
CREATE TABLE checkpoint (
    slot      INTEGER PRIMARY KEY CHECK (slot = 1),
    header    TEXT    NOT NULL,
    input_seq INTEGER NOT NULL,
    at        TEXT    NOT NULL,
    items     INTEGER NOT NULL
);
CREATE TABLE checkpoint_items (
    tbl   TEXT NOT NULL,
    key   BLOB NOT NULL,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX checkpoint_items_key ON checkpoint_items (tbl, key);
"""


def write_checkpoint(
    conn: sqlite3.Connection,
    header: str,
    input_seq: int,
    at: str,
    changed: list[CheckpointItem],
    removed: list[tuple[str, bytes]],
    replace_all: bool,
) -> None:
    """Replace the checkpoint in one transaction (all of it, or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if replace_all:
            conn.execute("DELETE FROM checkpoint_items")
        if removed:
            conn.executemany("DELETE FROM checkpoint_items WHERE tbl = ? AND key = ?", removed)
        if changed:
            conn.executemany(
                "INSERT INTO checkpoint_items (tbl, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
                changed,
            )
        count = conn.execute("SELECT count(*) FROM checkpoint_items").fetchone()[0]
        conn.execute(
            "INSERT INTO checkpoint (slot, header, input_seq, at, items) VALUES (1, ?, ?, ?, ?)"
            " ON CONFLICT (slot) DO UPDATE SET header = excluded.header,"
            " input_seq = excluded.input_seq, at = excluded.at, items = excluded.items",
            (header, input_seq, at, count),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def read_checkpoint(
    conn: sqlite3.Connection, path: Path, head: int | None = None
) -> Checkpoint | None:
    """The checkpoint, header and entries read in one transaction; ``None`` if there is none.
    ``head``: values starting with a zero byte come cut to their first ``head`` bytes (D186:
    the node reads them whole with :func:`fetch_value` when it needs them), and of the tables
    the header lists under ``by_key`` only the rows whose key starts with byte 2 come (D221:
    the node's index of the others, which it reads by key; ``by_key`` says how many others
    there are, checked). Raises :class:`JournalError`
    (``journal.corrupt``) if it does not hold together."""
    conn.execute("BEGIN")
    try:
        row = conn.execute(
            "SELECT header, input_seq, at, items FROM checkpoint WHERE slot = 1"
        ).fetchone()
        if row is None:
            return None
        by_key = _by_key(row[0]) if head is not None else {}
        if head is None:
            items: list[CheckpointItem] = conn.execute(
                "SELECT tbl, key, value FROM checkpoint_items"
            ).fetchall()
            held = len(items)
        elif not by_key:
            items = conn.execute(
                "SELECT tbl, key, CASE WHEN substr(value, 1, 1) = x'00'"
                " THEN substr(value, 1, ?) ELSE value END FROM checkpoint_items",
                (head,),
            ).fetchall()
            held = len(items)
        else:
            # by the (tbl, key) index: a row left out is never read from the table (SQLite
            # seeks a row only when the query needs its value)
            marks = ", ".join("?" * len(by_key))
            items = conn.execute(
                "SELECT tbl, key, CASE WHEN substr(value, 1, 1) = x'00'"
                " THEN substr(value, 1, ?) ELSE value END"
                " FROM checkpoint_items INDEXED BY checkpoint_items_key"
                f" WHERE tbl NOT IN ({marks}) OR (key >= x'02' AND key < x'03')",
                (head, *by_key),
            ).fetchall()
            held = conn.execute("SELECT count(*) FROM checkpoint_items").fetchone()[0]
            for table, listed in by_key.items():
                (rows,) = conn.execute(
                    "SELECT count(*) FROM checkpoint_items WHERE tbl = ?"
                    " AND NOT (key >= x'02' AND key < x'03')",
                    (table,),
                ).fetchone()
                if rows != listed:
                    raise _damaged(path, f"its index of {table} lists {listed} rows, it has {rows}")
    finally:
        conn.execute("COMMIT")
    header_text, input_seq, at_text, count = row
    try:
        header = json.loads(header_text)
        at = datetime.fromisoformat(at_text).astimezone(UTC)
    except (TypeError, ValueError) as exc:
        raise _damaged(path, f"its header cannot be read ({exc})") from None
    if not isinstance(header, dict) or not isinstance(input_seq, int):
        raise _damaged(path, "its header is not an object with an input position")
    if held != count:
        raise _damaged(path, f"it lists {count} entries but holds {held}")
    return Checkpoint(header, input_seq, at, items)


def _by_key(header_text: str) -> dict[str, int]:
    """The header's ``by_key`` tables, with the number of rows each has besides its index
    (none if it cannot be read: the caller says why)."""
    try:
        header = json.loads(header_text)
    except (TypeError, ValueError):
        return {}
    tables = header.get("by_key") if isinstance(header, dict) else None
    if not isinstance(tables, dict) or not all(
        isinstance(t, str) and type(n) is int for t, n in tables.items()
    ):
        return {}
    return tables


def fetch_value(conn: sqlite3.Connection, table: str, key: bytes) -> bytes | None:
    """One entry's whole value (``None`` if there is no such entry): a lookup by the
    ``(tbl, key)`` index, on any connection (read-only on the loop, D186)."""
    row = conn.execute(
        "SELECT value FROM checkpoint_items WHERE tbl = ? AND key = ?", (table, key)
    ).fetchone()
    return None if row is None else bytes(row[0])


def _damaged(path: Path, why: str) -> JournalError:
    return JournalError(
        f"the journal's checkpoint is damaged: {why}",
        code="journal.corrupt",
        where=str(path),
        hint="the node ignores it and replays the whole input log; the next checkpoint replaces it",
    )
