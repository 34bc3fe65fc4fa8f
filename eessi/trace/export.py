"""Export a trace from one or more institution journals.

Each institution keeps its own journal, so one exchange is usually recorded twice: as ``out``
in the sender's journal and as ``in`` in the receiver's. A trace keeps both records (each says
whose journal it came from, ``observer``), because both matter: the outbound one carries the
send status and attempts, the inbound one the arrival time and processing status. Records of
several journals are merged in time order; at equal times an outbound record comes before the
inbound record of the same moment, so a message is sent before it is received.

Filters are the journal's own (:meth:`eessi.journal.Journal.messages`): by case, by institution
(sender or receiver), and by time (``since``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from eessi.directory import Directory
from eessi.journal.base import Direction, Journal, MessageRecord
from eessi.trace.format import (
    TraceError,
    TraceHeader,
    TraceInput,
    TraceMessage,
    directory_to_dict,
    write_trace,
)
from eessi.trace.runlog import RUN_LOG, config_from_journals

__all__ = [
    "check_journal_paths",
    "cns_of",
    "collect",
    "collect_inputs",
    "export_journals",
    "make_header",
    "merge",
    "observer_of",
]


def observer_of(record: MessageRecord) -> str:
    """The institution whose journal holds ``record``: the sender of an outbound message, the
    receiver of an inbound one."""
    return record.sender if record.direction is Direction.OUT else record.receiver


def merge(groups: Sequence[Sequence[MessageRecord]]) -> list[TraceMessage]:
    """Records of several journals (each in journal order) as one sequence.

    A k-way merge: each journal's own order is kept, the earliest head goes first, and an
    inbound record waits for the outbound record of the same message when another journal has
    it (a message is sent before it is received, even when a virtual clock gives both the same
    time). At equal times, the journal listed first goes first.
    """
    pending_out = {
        (r.sender, r.message_id)
        for records in groups
        for r in records
        if r.direction is Direction.OUT
    }
    heads = [0] * len(groups)
    out: list[TraceMessage] = []
    total = sum(len(g) for g in groups)
    while len(out) < total:
        best: tuple[bool, datetime, int] | None = None
        for j, records in enumerate(groups):
            if heads[j] >= len(records):
                continue
            r = records[heads[j]]
            at = r.received_at if r.received_at is not None else r.created_at
            blocked = r.direction is Direction.IN and (r.sender, r.message_id) in pending_out
            key = (blocked, at, j)
            if best is None or key < best:
                best = key
        assert best is not None
        j = best[2]
        r = groups[j][heads[j]]
        heads[j] += 1
        if r.direction is Direction.OUT:
            pending_out.discard((r.sender, r.message_id))
        out.append(TraceMessage(observer_of(r), r))
    return out


async def collect(
    journals: Sequence[Journal],
    *,
    case: str | None = None,
    institution: str | None = None,
    since: datetime | None = None,
) -> list[TraceMessage]:
    """The messages of ``journals`` that pass the filters, merged (see :func:`merge`)."""
    groups = [await j.messages(case=case, institution=institution, since=since) for j in journals]
    return merge(groups)


#: Pseudo case ID of a node's input log (``eessi.node.records.INPUT_LOG``).
INPUT_LOG = "~inputs"


async def collect_inputs(
    journals: Sequence[Journal],
    *,
    case: str | None = None,
    since: datetime | None = None,
) -> list[TraceInput]:
    """Every journal's input log (see :class:`~eessi.trace.format.TraceInput`), journal by
    journal. With ``case``, only the entries about that case (a document of it, or an input
    that opened it); with ``since``, only those at or after it."""
    out: list[TraceInput] = []
    for journal in journals:
        events = await journal.case_events(INPUT_LOG)
        observer = await _owner(journal)
        for ev in events:
            data = dict(ev.data)
            if case is not None and data.get("case") != case and case not in data.get("ids", ()):
                continue
            if since is not None and ev.at < since:
                continue
            out.append(TraceInput(observer, ev.seq, ev.at, data, ev.message_id))
    return out


async def _owner(journal: Journal) -> str:
    """The IR ID of the journal's institution: what it noted at its start, else from its
    messages ("" if it has neither)."""
    for note in reversed(await journal.case_events(RUN_LOG)):
        owner = note.data.get("institution")
        if isinstance(owner, str) and owner:
            return owner
    for r in await journal.messages():
        return observer_of(r)
    return ""


def make_header(
    directory: Directory,
    *,
    config: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    created: datetime | str,
) -> TraceHeader:
    """The header of a trace of a run with ``directory`` and ``config``."""
    return TraceHeader(
        directory=directory_to_dict(directory),
        config=dict(config or {}),
        source=dict(source or {}),
        created=created if isinstance(created, str) else created.isoformat(),
    )


def check_journal_paths(journal_paths: Sequence[str | Path]) -> None:
    """Refuse a path that is not a file (opening it would create an empty journal)."""
    for p in journal_paths:
        if not Path(p).is_file():
            raise TraceError(
                "no journal file here",
                code="trace.no-journal",
                where=str(p),
                hint="give the SQLite journal of an institution (see `eessi up --data-dir`)",
            )


async def export_journals(
    output: str | Path,
    journal_paths: Sequence[str | Path],
    directory: Directory,
    *,
    config: Mapping[str, Any] | None = None,
    case: str | None = None,
    institution: str | None = None,
    since: datetime | None = None,
    created: datetime,
) -> int:
    """Read the journal files, write the trace atomically; returns the number of messages.

    The run configuration is what the journals noted at each start (households, seeds, the
    clock, the mock funds' rules: :func:`eessi.trace.runlog.config_from_journals`); the keys
    of ``config`` replace those."""
    from eessi.journal import open_journal

    check_journal_paths(journal_paths)
    journals = [await open_journal(p, synchronous="NORMAL") for p in journal_paths]
    try:
        messages = await collect(journals, case=case, institution=institution, since=since)
        inputs = await collect_inputs(journals, case=case, since=since)
        noted = await config_from_journals(journals, prefer=cns_of(directory))
    finally:
        for j in journals:
            await j.close()
    source: dict[str, Any] = {
        "journals": [Path(p).name for p in journal_paths],
        "case": case,
        "institution": institution,
        "since": since.isoformat() if since is not None else None,
    }
    header = make_header(
        directory, config={**noted, **(config or {})}, source=source, created=created
    )
    return write_trace(output, header, messages, inputs=inputs)


def cns_of(directory: Directory) -> str | None:
    cns = directory.of_kind("cns")
    return cns[0].id if cns else None
