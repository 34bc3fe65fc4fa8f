"""Offline replay: the core path alone, without HTTP and without a journal.

:func:`eessi.trace.replay.replay_trace` replays through the whole node (loopback HTTP, SQLite
journal, outbox): that is the faithful replay, and ``eessi replay`` uses it. Its speed is the
node's. This module replays the *documents* of a trace through the same validation
(:func:`eessi.sed.validate.validate_or_raise`), the same decoding, the same desks
(:func:`eessi.node.desk_factory.desk_factory`, the trace's configuration and the recorded desk
IDs) and the same encoding, and compares what the desks send with what was recorded: the part
of a replay whose speed is ours, measured by ``bench/replay.py``.

What it leaves out, on purpose: transport checks (signatures, framing), the journal, parking of
out-of-order documents (a document the desk refuses is reported, not kept for later), resends
and receipts. A trace that replays clean here and diverges through the node points at those.
The whole node without HTTP, in memory, is ``replay_trace(trace, transport="twin")``
(:mod:`eessi.trace.replay` on :mod:`eessi.transport.twin`). The BUC of a document and the
version written for a receiver are the node's own (:func:`eessi.node.steps.buc_of`,
:func:`eessi.node.steps.version_for`), not copies.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from eessi.clock import VirtualClock
from eessi.core.compact import kept_decoded
from eessi.core.household import Household
from eessi.core.messages import DocumentReceived, Outgoing, Step
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import EessiError
from eessi.gc_tuning import DEFAULT_THRESHOLD
from eessi.ids import SeededIds
from eessi.journal.base import Direction, MessageRecord, MessageStatus
from eessi.node.desk_factory import desk_factory
from eessi.node.inputs import (
    apply_input,
    input_from_json,
)
from eessi.node.message_ids import AnsweredMessages, document_of
from eessi.node.steps import buc_of, version_for
from eessi.sed.catalogue import SUPPORTED_VERSIONS
from eessi.sed.documents import from_element
from eessi.sed.validate import validate_or_raise
from eessi.trace.diff import DiffResult, Divergence, compare
from eessi.trace.fields import DEFAULT_IGNORE
from eessi.trace.format import Trace, TraceInput, TraceMessage
from eessi.trace.replay import renumber, timeline
from eessi.trace.runconfig import cns_params, households, seed_of

__all__ = ["DeskRunner", "OfflineResult", "buc_of", "replay_offline"]

_SERVICE = "BusinessMessaging"
_ACTION = "Send"


@dataclass(frozen=True, slots=True)
class OfflineResult:
    comparison: DiffResult
    sides: tuple[str, ...]
    #: Documents handed to the desks and inputs applied.
    fed: int
    submitted: int
    #: Outbound documents the desks produced.
    produced: int
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.comparison.ok and not self.notes


class _StepIds:
    """The recorded IDs of the current step, then seeded ones."""

    def __init__(self, seed: int, *, fresh_offset: int = 7_919_000_003) -> None:
        self.current: deque[str] = deque()
        self._fresh = SeededIds(seed + fresh_offset)
        #: What the current step drew (recorded or fresh), for a recorder.
        self.drawn: list[str] = []

    def _take(self, fresh: Callable[[], str]) -> str:
        value = self.current.popleft() if self.current else fresh()
        self.drawn.append(value)
        return value

    def uuid(self) -> str:
        return self._take(self._fresh.uuid)

    def case_id(self, country: str) -> str:
        return self._take(lambda: self._fresh.case_id(country))


class DeskRunner:
    """One institution's desk, fed documents and inputs as the node would (no I/O); what it
    sends accumulates in ``out``. Also used by ``bench/replay.py`` to record traces fast."""

    def __init__(
        self,
        trace: Trace,
        side: str,
        directory: Directory,
        config: Mapping[str, Any],
        *,
        recording: bool = False,
        people: Sequence[Household] | None = None,
    ) -> None:
        self.side = side
        self.directory = directory
        self.entry: InstitutionEntry = directory.get(side)
        params = cns_params(config, self.entry, directory) if self.entry.kind == "cns" else None
        people = households(config) if people is None else people
        make = desk_factory(self.entry, directory, people, cns_params=params)
        start = datetime.fromisoformat(trace.header.created) if trace.header.created else None
        self.clock = VirtualClock(start)
        # Recording draws the seeded stream itself; a replay keeps it for the recorded IDs.
        self.ids = _StepIds(
            seed_of(config, directory, side), fresh_offset=0 if recording else 7_919_000_003
        )
        self.desk = make(self.clock, self.ids, None)
        self.answered = AnsweredMessages()
        self.accept = self.entry.versions or SUPPORTED_VERSIONS
        cns = directory.of_kind("cns")
        self.cns_id = cns[0].id if cns else "LU:CNS00001"
        self._versions: dict[tuple[str, str, str], str] = {}
        self.out: list[MessageRecord] = []
        self.notes: list[str] = []
        self.fed = self.submitted = 0

    def _version_for(self, receiver: str, code: str, version: str) -> str:
        key = (receiver, code, version)
        found = self._versions.get(key)
        if found is None:  # the directory and what this side accepts do not change
            found = self._versions[key] = version_for(
                self.directory, self.accept, receiver, code, version
            )
        return found

    def _send(self, at: datetime, out: Outgoing) -> None:
        sed = out.sed
        version = self._version_for(out.receiver, sed.code, sed.version)
        if version != sed.version:
            sed = replace(sed, version=version)
        self.out.append(
            MessageRecord(
                message_id=out.document_id,
                direction=Direction.OUT,
                sender=self.side,
                receiver=out.receiver,
                conversation_id=out.case_id,
                ref_to_message_id=self.answered.message_of(out.answers),
                sed_type=sed.code,
                sed_version=sed.version,
                service=_SERVICE,
                action=_ACTION,
                created_at=at,
                envelope=b"",
                payload=sed.to_xml(),
                status=MessageStatus.QUEUED,
            )
        )

    def _step(self, at: datetime, ids: Sequence[str], act: Callable[[], Step]) -> Step | None:
        if at > self.clock.now():
            self.clock.set(at)
        self.ids.current = deque(ids)
        self.ids.drawn = []
        try:
            return act()
        except EessiError as exc:
            self.notes.append(f"{self.side}: refused now: {exc}")
            return None

    def document(self, record: MessageRecord, entry: TraceInput | None, at: datetime) -> None:
        try:
            valid = validate_or_raise(record.payload, accept_versions=self.accept)
            sed = from_element(valid.root)
        except EessiError as exc:
            self.notes.append(f"{self.side}: message {record.message_id} refused now: {exc}")
            return
        case_id = record.conversation_id
        buc = entry.data.get("buc") if entry is not None else None
        msg = DocumentReceived(
            case_id,
            buc if isinstance(buc, str) else buc_of(self.desk, case_id, sed.code),
            record.sender,
            document_of(record.message_id)[0],
            sed,
            document_of(answers)[0] if (answers := record.ref_to_message_id) else None,
        )
        self.answered.received(msg.document_id, record.message_id)
        ids = entry.data.get("ids", ()) if entry is not None else ()
        step = self._step(at, ids, lambda: self.desk.handle(msg))
        self.fed += 1
        if step is not None:
            for out in step.outgoing:
                self._send(at, out)

    def submit(self, entry: TraceInput) -> None:
        raw = entry.data.get("input")
        try:
            value = input_from_json(raw if isinstance(raw, dict) else {})
        except (EessiError, TypeError, KeyError, ValueError) as exc:
            self.notes.append(f"{self.side}: input {entry.seq} cannot be read: {exc}")
            return
        step = self._step(
            entry.at,
            entry.data.get("ids", ()),
            lambda: apply_input(self.desk, value, cns_id=lambda: self.cns_id, where=self.side),
        )
        if step is not None:
            self.submitted += 1
            for out in step.outgoing:
                self._send(entry.at, out)


@dataclass(frozen=True, slots=True)
class _SideOutcome:
    """One side's replay, compared: small enough to send back from a worker process."""

    divergences: list[Divergence]
    recorded: int
    now: int
    paired: int
    fed: int
    submitted: int
    produced: int
    notes: list[str]


def _replay_side(
    trace: Trace,
    side: str,
    directory: Directory,
    config: Mapping[str, Any],
    people: Sequence[Household],
    ignore: tuple[str, ...],
    freeze: bool = False,
) -> _SideOutcome:
    """Feed ``side`` its timeline and compare what it sent with what it recorded sending. A
    side reads only the trace: two sides share nothing, so they may run in two processes."""
    run = DeskRunner(trace, side, directory, config, people=people)
    if freeze:  # inside our _frozen_heap: the desk's registry is long-lived too
        gc.freeze()
    by_message = {
        i.message_id: i
        for i in trace.inputs
        if i.observer == side and i.data.get("kind") == "document" and i.message_id
    }
    for feed in timeline(trace, side):
        if feed.record is not None:
            run.document(feed.record, by_message.get(feed.record.message_id), feed.at)
        elif feed.entry is not None:
            run.submit(feed.entry)
    positions = [
        i
        for i, m in enumerate(trace.messages, start=1)
        if m.observer == side and m.record.direction is Direction.OUT
    ]
    recorded = [trace.messages[i - 1] for i in positions]
    result = compare(recorded, [TraceMessage(side, r) for r in run.out], ignore=ignore)
    return _SideOutcome(
        renumber(result, positions),
        result.recorded,
        result.now,
        result.paired,
        run.fed,
        run.submitted,
        len(run.out),
        run.notes,
    )


@contextlib.contextmanager
def _frozen_heap() -> Iterator[bool]:
    """The trace, the households and each desk's registry out of the cyclic garbage
    collector's sight while the replay runs (``gc.freeze``).

    They are long-lived and large (a 30,000-message trace is a few hundred thousand objects):
    every full collection walked them all, about half the time of an offline replay of that
    trace (measured: docs/performance.md). In a forked worker it also keeps the collector from
    writing to (so copying) the pages it shares with its parent. Only when nothing else froze
    objects (``gc.unfreeze`` at the end would release theirs too); garbage made meanwhile is
    collected after. Yields whether it froze (so more may be frozen until it ends).

    Meanwhile the young generation's threshold is at least a serving node's
    (:data:`~eessi.gc_tuning.DEFAULT_THRESHOLD`, D290; restored at the end): with Python's 700 a
    replay of the bench's 6,000 messages ran 326 collections, 4 % of its CPU, and they found 16
    objects of cyclic garbage in all (D341)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], DEFAULT_THRESHOLD), *before[1:])
    try:
        if gc.get_freeze_count():
            yield False
            return
        gc.freeze()
        try:
            yield True
        finally:
            gc.unfreeze()
    finally:
        gc.set_threshold(*before)


def _in_processes(
    sides: Sequence[str], work: Callable[[str], _SideOutcome]
) -> dict[str, _SideOutcome]:
    """``work(side)`` for each side in its own forked process (the trace is inherited, not
    copied through a pipe); what comes back is the compared outcome only."""
    context = multiprocessing.get_context("fork")
    pending: list[tuple[str, BaseProcess, Connection]] = []
    for side in sides:
        receive, send = context.Pipe(duplex=False)

        def child(side: str = side, send: Connection = send) -> None:
            try:
                send.send(("ok", work(side)))
            except BaseException as exc:  # reported to the parent, not lost
                send.send(("error", f"{type(exc).__name__}: {exc}"))
            finally:
                send.close()

        process = context.Process(target=child, name=f"replay {side}", daemon=True)
        process.start()
        send.close()
        pending.append((side, process, receive))
    out: dict[str, _SideOutcome] = {}
    failures: list[str] = []
    for side, worker, receive in pending:
        try:
            kind, value = receive.recv()
        except EOFError:
            kind, value = "error", f"the worker process ended (exit code {worker.exitcode})"
        finally:
            receive.close()
            worker.join()
        if kind == "ok":
            out[side] = value
        else:
            failures.append(f"{side}: {value}")
    if failures:
        raise EessiError(
            "offline replay failed in a worker process: " + "; ".join(failures),
            code="trace.replay-worker",
            hint="run with processes=1 to see the full error",
        )
    return out


def replay_offline(
    trace: Trace,
    *,
    sides: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    processes: int = 1,
) -> OfflineResult:
    """Replay the documents of ``trace`` through the desks only (see the module docstring).

    ``processes`` > 1 replays the sides in that many forked processes at once (where ``fork``
    exists): the sides are independent, so the result is the same, in about the time of the
    slowest side instead of the sum."""
    run_config = dict(trace.header.config if config is None else config)
    directory = trace.header.load_directory()
    chosen = list(sides) if sides is not None else _observers(trace)
    ignore = tuple(ignore)
    people = households(run_config)  # parsed once for every side (and every worker)

    parallel = (
        processes > 1 and len(chosen) > 1 and "fork" in multiprocessing.get_all_start_methods()
    )
    outcomes: dict[str, _SideOutcome] = {}
    # The desks end with the run: their documents stay decoded (D271).
    with kept_decoded(), _frozen_heap() as frozen:

        def work(side: str) -> _SideOutcome:
            return _replay_side(trace, side, directory, run_config, people, ignore, frozen)

        if parallel:
            for i in range(0, len(chosen), processes):
                outcomes.update(_in_processes(chosen[i : i + processes], work))
        else:
            outcomes = {side: work(side) for side in chosen}
    done = [outcomes[side] for side in chosen]
    divergences = [d for o in done for d in o.divergences]
    divergences.sort(key=lambda d: (d.index is None, d.index or 0, d.other_index or 0))
    return OfflineResult(
        DiffResult(
            tuple(divergences),
            sum(o.recorded for o in done),
            sum(o.now for o in done),
            sum(o.paired for o in done),
        ),
        tuple(chosen),
        sum(o.fed for o in done),
        sum(o.submitted for o in done),
        sum(o.produced for o in done),
        tuple(n for o in done for n in o.notes),
    )


def _observers(trace: Trace) -> list[str]:
    seen: list[str] = []
    for m in trace.messages:
        if m.observer not in seen:
            seen.append(m.observer)
    return seen
