"""Prototypes of the optimisations proposed in docs/performance.md, for measuring them only.

Installed by ``bench/support/node.py --prototype NAME`` (through ``bench/exchange.py --prototype
NAME``) in the bench's node processes, never in the package: they monkeypatch private parts of
``eessi.node.institution`` and ``eessi.journal.sqlite`` so that the expected gain of a change is
a measured figure before anyone writes the real one.

``one-hop-commit``
    ``Institution._commit`` builds every statement of a batch (input log, case events, outbox
    rows, inbound marked processed, case snapshots) on the event loop, then runs them, with
    ``BEGIN IMMEDIATE`` and ``COMMIT``, in **one** call on the journal's writer thread, instead
    of one awaited thread hop per statement while holding the writer lock. Same SQL, same
    rows, same durability. Event sequence numbers are computed inside that one call.
``gc-freeze``
    ``gc.collect(); gc.freeze()`` once the node is built (households, registry, desk), so the
    cyclic garbage collector's full passes no longer walk those long-lived objects.
``one-hop-writes``
    On top of ``one-hop-commit``: a group commit (``SqliteJournal._commit_batch``) runs all
    its writes, with ``BEGIN IMMEDIATE``/``COMMIT``, in one call on the writer thread;
    ``accept_inbound`` and ``set_status`` (the writes of every receipt and every send) are
    given synchronous forms for it (same SQL, same checks).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

__all__ = ["PROTOTYPES", "install"]


def _one_hop_commit() -> None:
    from eessi.journal.base import encode_json
    from eessi.journal.sqlite import _INSERT, _params, _ts
    from eessi.node.institution import Institution
    from eessi.node.records import INPUT_LOG, case_state

    event_sql = (
        "INSERT INTO case_events (case_id, seq, at, kind, data, message_id)"
        " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM case_events WHERE case_id = ?"
    )
    case_sql = (
        "INSERT INTO cases (case_id, state, updated_at, last_seq) VALUES (?, ?, ?,"
        " (SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = ?))"
        " ON CONFLICT (case_id) DO UPDATE SET state = excluded.state,"
        " updated_at = excluded.updated_at, last_seq = excluded.last_seq"
    )
    mark_sql = (
        "UPDATE messages SET status = ?, last_error = ?, updated_at = ?"
        " WHERE direction = 'in' AND message_id = ? AND status = 'received'"
    )

    async def _commit(self: Any, done: list[Any]) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = []
        touched: set[str] = set()
        last = done[-1].at

        def event(case_id: str, kind: str, data: Any, at: datetime, mid: str | None) -> None:
            text = encode_json(dict(data or {}), what=f"event {kind!r} of case {case_id}")
            statements.append((event_sql, (case_id, _ts(at), kind, text, mid, case_id)))

        for d in done:
            if d.log_entry is not None:
                event(INPUT_LOG, "input", d.log_entry, d.at, d.inbound_id)
            for case_id, kind, data in d.events:
                event(case_id, kind, data, d.at, d.inbound_id)
            for record, _ in d.outbound:
                if record.updated_at is None:
                    record = replace(record, updated_at=record.created_at)
                statements.append((_INSERT, _params(record)))
            if d.inbound_id is not None:
                status = "processed" if d.error is None else "rejected"
                statements.append((mark_sql, (status, d.error, _ts(d.at), d.inbound_id)))
            touched |= d.cases
        cases = self.desk.snapshot().cases
        for case_id in sorted(touched):
            cf = cases.get(case_id)
            if cf is not None:
                text = encode_json(case_state(cf), what=f"the state of case {case_id}")
                statements.append((case_sql, (case_id, text, _ts(last), case_id)))

        journal = self.journal
        writer = journal._writer

        def run() -> None:
            conn: sqlite3.Connection = writer._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        async with journal._lock:
            await writer._execute(run)
            journal.stats.commits += 1

    Institution._commit = _commit


def _one_hop_writes() -> None:
    """accept_inbound / set_status each as one hop (group commit kept, one hop per op)."""
    from eessi.journal import sqlite as mod

    original_commit_batch = mod.SqliteJournal._commit_batch

    async def _commit_batch(self: Any, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        # Run the whole group (BEGIN, every op's statements, COMMIT) in one thread call when
        # every op of the group offers a synchronous form (see _sync below).
        syncs = [getattr(op, "sync", None) for op, _ in batch]
        if any(s is None for s in syncs):
            await original_commit_batch(self, batch)
            return
        writer = self._writer

        def run() -> list[tuple[Any, BaseException | None]]:
            conn: sqlite3.Connection = writer._conn
            grouped = len(syncs) > 1
            if grouped:
                conn.execute("BEGIN IMMEDIATE")
            out: list[tuple[Any, BaseException | None]] = []
            try:
                for fn in syncs:
                    try:
                        out.append((fn(conn), None))
                    except mod.JournalError as exc:
                        out.append((None, exc))
                if grouped:
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return out

        try:
            results = await writer._execute(run)
        except BaseException as exc:
            err = mod._translate(exc, self.path, "write to the journal")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            if not isinstance(exc, Exception):
                raise
            return
        self.stats.commits += 1
        self.stats.writes += len(batch)
        for (_, fut), (value, error) in zip(batch, results, strict=True):
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)

    mod.SqliteJournal._commit_batch = _commit_batch

    async def accept_inbound(self: Any, record: Any) -> bool:
        mod._expect(record, mod.Direction.IN, mod.MessageStatus.RECEIVED, "accept_inbound")
        params = mod._params(record)

        def sync(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(mod._ACCEPT, params).fetchall()
            if not rows:
                raise mod.JournalError(
                    f"message ID {record.message_id} was already accepted from another sender",
                    code="journal.id-conflict",
                    where=f"message {record.message_id}",
                    hint="refuse this message: a sender may not reuse another party's message ID",
                )
            return bool(rows[0][0] == 0)

        result: bool = await self._submit(_SyncOp(sync))
        return result

    async def set_status(
        self: Any,
        message_id: str,
        status: Any,
        *,
        at: datetime,
        attempts: int | None = None,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
    ) -> Any:
        def sync(conn: sqlite3.Connection) -> Any:
            row = conn.execute(
                "SELECT status, attempts, sent_at FROM messages"
                " WHERE direction = 'out' AND message_id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                raise mod._unknown(message_id, mod.Direction.OUT)
            mod.check_transition(message_id, mod.MessageStatus(row[0]), status)
            if attempts is not None:
                new_attempts = attempts
            else:
                new_attempts = row[1] + (1 if status is mod.MessageStatus.SENDING else 0)
            sent_at = mod._ts(at) if status is mod.MessageStatus.SENDING else row[2]
            updated = conn.execute(
                "UPDATE messages SET status = ?, attempts = ?, sent_at = ?, next_attempt_at = ?,"
                " last_error = ?, updated_at = ? WHERE direction = 'out' AND message_id = ?"
                f" RETURNING {mod._COLUMNS}",
                (
                    status.value,
                    new_attempts,
                    sent_at,
                    mod._ts_opt(next_attempt_at),
                    error,
                    mod._ts(at),
                    message_id,
                ),
            ).fetchone()
            return mod._record(updated)

        return await self._submit(_SyncOp(sync))

    mod.SqliteJournal.accept_inbound = accept_inbound
    mod.SqliteJournal.set_status = set_status


class _SyncOp:
    """A group-commit op with a synchronous form (``sync(conn)``), run on the writer thread."""

    def __init__(self, sync: Callable[[sqlite3.Connection], Any]) -> None:
        self.sync = sync

    async def __call__(self, conn: Any) -> Any:  # the original _commit_batch path
        return await conn._execute(self.sync, conn._conn)


PROTOTYPES: dict[str, Callable[[], None]] = {
    "gc-freeze": lambda: None,  # applied by node.py once the node is built
    "one-hop-commit": _one_hop_commit,
    "one-hop-writes": lambda: (_one_hop_commit(), _one_hop_writes()),
}


def install(names: list[str]) -> None:
    for name in names:
        PROTOTYPES[name]()
