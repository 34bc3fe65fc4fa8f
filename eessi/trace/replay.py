"""Replay a trace: rebuild the institutions, feed them what they received, compare what they send.

For each replayed institution (a *side*; default: every institution whose journal is in the
trace), in one process:

1. a fresh institution is built from the trace's **own** directory and configuration
   (:func:`eessi.trace.runconfig.build_institution`: households, rule parameters, seeded IDs)
   with a fresh journal in a temporary directory and a :class:`~eessi.clock.VirtualClock`; it
   speaks eDelivery AS4 (:mod:`eessi.as4`, as ``eessi up`` does), signed and encrypted with a
   test PKI made for the replay (``security=False``: AS4 without security);
2. its peers are stand-ins: one real AS4 endpoint (:class:`eessi.as4.transport.As4Endpoint`,
   :mod:`eessi.trace.as4peers`) per other institution, with that institution's keys, which
   receipts every message, so the replayed institution sends through its real outbox and AS4
   sender and gets real signed receipts;
3. its recorded timeline is fed in order: every submitted input of its input log is submitted
   again, and every inbound message it recorded is **posted to its endpoint over loopback
   HTTP** as an AS4 user message of the recorded sender (built anew: signed with the sender's
   key, encrypted for the replayed institution): the same code path as live traffic
   (unpackaging, decryption, signature, P-Mode, validation, journal, desk, transactional
   outbox). Before each item the virtual clock jumps to the recorded time (``speed`` > 0 also
   waits the recorded gap divided by ``speed``), and the next item waits until the institution
   is idle, so processing order is the recorded one;
4. what it sent (its new journal's outbound records) is compared with what the trace recorded
   it sent (:func:`eessi.trace.diff.compare`).

Same trace, same code: same IDs (seeded), same times (virtual), same documents, so two replays
produce the same documents (the wire bytes differ: signatures and encryption draw fresh
randomness). Divergences name the recorded message (its position in the trace), the field
XPath, and the recorded and current values.

``transport="twin"`` runs the same replay without HTTP: the replayed institution and its
stand-in peers are members of one in-memory network (:mod:`eessi.transport.twin`), the peers
receipt what they get and send what the trace says they sent, through the replayed node's own
inbox (no wire format, no signature checks, no port).

:func:`replay_against` plays the peers of one side against a **live** system over AS4 with
that system's P-Modes and PKI (:func:`eessi.trace.as4peers.target_network`).

Limits: a delay that the node schedules in real time (a mock behaviour's delayed send, a retry
back-off) is waited for in real time; an inbound message the recording never processed (still
``received``) is fed at its arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import As4Network
from eessi.clock import VirtualClock
from eessi.core.fund import FundPolicy
from eessi.directory import Directory
from eessi.errors import ConfigError, EessiError
from eessi.ids import SeededIds
from eessi.journal import open_journal
from eessi.journal.base import Direction, MessageRecord, MessageStatus
from eessi.mock.controller import MockController
from eessi.mock.profiles import Profile
from eessi.mock.rules_log import rule_from_log
from eessi.node.inputs import input_from_json
from eessi.node.institution import Institution, delivered_record
from eessi.node.network import free_ports, journal_file_name, loopback_directory, twin_directory
from eessi.sed.catalogue import SUPPORTED_VERSIONS
from eessi.trace.as4peers import Poster, StandIns, bucs_of, fresh_network
from eessi.trace.diff import DiffResult, Divergence, compare
from eessi.trace.export import INPUT_LOG, merge
from eessi.trace.fields import DEFAULT_IGNORE
from eessi.trace.format import Trace, TraceError, TraceHeader, TraceInput, TraceMessage
from eessi.trace.record import idle_all
from eessi.trace.runconfig import build_institution, fund_policy, households, seed_of, start_of
from eessi.trace.runlog import mock_config
from eessi.transport import RetryPolicy
from eessi.transport.limits import InboundLimits
from eessi.transport.seam import (
    Inbound,
    OutboundMessage,
    Outcome,
    Refusal,
    Transport,
    TransportSetup,
)
from eessi.transport.twin import TwinHub

__all__ = [
    "RecordedIds",
    "ReplayResult",
    "ReplayTransport",
    "inbound_statuses",
    "renumber",
    "replay_against",
    "replay_trace",
    "timeline",
]

#: What carries a replay's messages: eDelivery AS4 on loopback, or the in-memory twin.
ReplayTransport = Literal["as4", "twin"]

#: Called after each fed item with (side, items done, items in all).
ProgressHook = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did and found."""

    comparison: DiffResult
    #: The replayed institutions.
    sides: tuple[str, ...]
    #: The replay's own trace (the replayed institutions' journals).
    output: Trace
    #: Inbound messages posted, inputs submitted.
    fed: int = 0
    submitted: int = 0
    #: Inputs the desk refused now (it accepted them when recorded), as text.
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Against a live target: the messages fed that it already had (same MessageId, e.g. from
    #: an earlier replay), which it receipted as duplicates and did not process again.
    duplicates: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.comparison.ok and not self.notes

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.comparison.to_dict(),
            "ok": self.ok,
            "sides": list(self.sides),
            "fed_messages": self.fed,
            "submitted_inputs": self.submitted,
            "notes": list(self.notes),
            "dropped_duplicates": list(self.duplicates),
        }


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True, slots=True)
class _Feed:
    at: datetime
    record: MessageRecord | None = None
    entry: TraceInput | None = None
    #: A mock fund's rule change (``~mock-rules``: kind and data).
    change: Mapping[str, Any] | None = None


def timeline(trace: Trace, side: str) -> list[_Feed]:
    """What ``side`` was told, in the recorded order: its input log (submitted inputs, and the
    inbound messages in the order it processed them), with the inbound messages it never
    processed (rejected, refused, parked) merged in at their arrival times."""
    inbound = [
        m.record
        for m in trace.messages
        if m.observer == side and m.record.direction is Direction.IN
    ]
    by_id = {r.message_id: r for r in inbound}
    log = sorted((i for i in trace.inputs if i.observer == side), key=lambda i: i.seq)
    used: set[str] = set()
    ordered: list[_Feed] = []
    for entry in log:
        if entry.data.get("kind") == "document":
            record = by_id.get(entry.message_id or "")
            if record is not None and record.message_id not in used:
                used.add(record.message_id)
                ordered.append(_Feed(entry.at, record=record))
        else:
            ordered.append(_Feed(entry.at, entry=entry))
    rest = [r for r in inbound if r.message_id not in used]
    out: list[_Feed] = []
    i = 0
    for feed in ordered:
        while i < len(rest) and _arrival(rest[i]) < feed.at:
            out.append(_Feed(_arrival(rest[i]), record=rest[i]))
            i += 1
        out.append(feed)
    out += [_Feed(_arrival(r), record=r) for r in rest[i:]]
    return out


def _arrival(record: MessageRecord) -> datetime:
    return record.received_at if record.received_at is not None else record.created_at


# --------------------------------------------------------------------------- IDs


_FRESH_OFFSET = 7_919_000_003


class RecordedIds:
    """The replayed desk gets the IDs its recorded steps drew; everything else seeded IDs.

    A received document names the case and document IDs the recorded institution made up, so a
    replay must make up the same ones, whatever the timing: the node's ID generator also serves
    the transport (receipt IDs, drawn when a message arrives), and how those draws interleave
    with the desk's depends on timing. The node records the IDs each desk step drew in its input
    log (its own restart replays them the same way); a step is recognised by the fresh list the
    node's :class:`~eessi.node.institution.StepIds` opens for it (``drawn``). Each desk step
    takes the next recorded list; a step that draws more than was recorded (the replay
    diverges) gets seeded IDs for the rest.
    """

    def __init__(self, recorded: Iterable[Sequence[str]], seed: int) -> None:
        # Steps that drew nothing never ask: only the lists of steps that drew are queued.
        self._steps = deque(deque(ids) for ids in recorded if ids)
        self._current: deque[str] = deque()
        # Another stream than the recording's (same seed), so a fresh ID never repeats one.
        self._fresh = SeededIds(seed + _FRESH_OFFSET)
        self._desk_ids: Any = None
        self._step: object = None

    def attach(self, desk_ids: Any) -> None:
        """Told by the desk factory: the generator the node hands the desk."""
        self._desk_ids = desk_ids

    def _recorded(self) -> str | None:
        drawn = getattr(self._desk_ids, "drawn", None)
        if drawn is None:  # not inside a desk step: a transport ID
            return None
        if drawn is not self._step:
            self._step = drawn
            self._current = self._steps.popleft() if self._steps else deque()
        return self._current.popleft() if self._current else None

    def uuid(self) -> str:
        value = self._recorded()
        return value if value is not None else self._fresh.uuid()

    def case_id(self, country: str) -> str:
        value = self._recorded()
        return value if value is not None else self._fresh.case_id(country)


# --------------------------------------------------------------------------- stand-in peers


#: Stand-in peers run on the replay's virtual clock: like a node on one, no timestamp window.
_NO_WINDOW = InboundLimits(max_clock_skew=None, max_message_age=None)


class _Peers:
    """The stand-in peers of one side: one AS4 endpoint per other institution, on one loopback
    server (or, on the twin, one member of the in-memory network each); they receipt
    everything."""

    def __init__(
        self,
        directory: Directory,
        side: str,
        clock: VirtualClock,
        as4: As4Network | None,
        twin: TwinHub | None = None,
    ) -> None:
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self.received = 0
        self._runner: web.AppRunner | None = None
        #: On the in-memory twin: one member per peer in ``twin`` instead of the HTTP server.
        self.twin: dict[str, Transport] = {}
        if twin is not None:
            for entry in directory:
                if entry.id != side:
                    self.twin[entry.id] = twin(
                        TransportSetup(
                            entry=entry,
                            directory=directory,
                            on_message=self._accept,
                            on_refused=_nothing,
                            clock=clock,
                            signal_ids=SeededIds(0),
                            rng=random.Random(0),
                            max_body=16 * 1024 * 1024,
                            accept_versions=tuple(entry.versions or SUPPORTED_VERSIONS),
                            limits=_NO_WINDOW,
                        )
                    )
            return
        assert as4 is not None
        # virtual clock: no timestamp window, as a node on one (D38)
        stand_ins = StandIns(
            as4, self._accept, clock=clock, ids=lambda: SeededIds(0), limits=_NO_WINDOW
        )
        for entry in directory:
            if entry.id != side:
                stand_ins.add(self.app, directory, entry.id, _peer_path(entry.id))

    async def _accept(self, inbound: Inbound) -> Outcome:
        del inbound
        self.received += 1
        return Outcome.accepted()

    async def send(self, record: MessageRecord, run: _SideRun) -> None:
        """On the twin: the recorded sender sends the recorded message (as :func:`_post`)."""
        peer = self.twin.get(record.sender)
        if peer is None:
            run.notes.append(
                f"inbound {record.sed_type} {record.message_id}: its sender {record.sender} is"
                " not in the trace's directory; not fed"
            )
            return
        message = OutboundMessage(
            message_id=record.message_id,
            timestamp=record.created_at,
            sender=record.sender,
            receiver=record.receiver,
            conversation_id=record.conversation_id,
            buc="",  # the stand-ins and the twin do not read it
            sed_type=record.sed_type,
            sed_version=record.sed_version,
            payload=record.payload,
            ref_to_message_id=record.ref_to_message_id,
        )
        await peer.send(message, policy=_POST_POLICY)
        run.fed += 1

    async def start(self, port: int) -> None:
        if self.twin:
            for peer in self.twin.values():
                await peer.start()
            return
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        for peer in self.twin.values():
            await peer.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _nothing(refusal: Refusal) -> None:
    del refusal


def _peer_path(ir_id: str) -> str:
    return "/peer/" + ir_id.replace(":", "-") + "/as4"


# --------------------------------------------------------------------------- one side


@dataclass(slots=True)
class _SideRun:
    records: list[MessageRecord]
    inputs: list[TraceInput]
    fed: int
    submitted: int
    notes: list[str]


async def _replay_side(
    trace: Trace,
    side: str,
    config: Mapping[str, Any],
    workdir: Path,
    speed: float,
    progress: ProgressHook | None,
    as4: As4Network | None,
) -> _SideRun:
    """Replay ``side`` over AS4 with ``as4``'s P-Modes and keys, or (``None``) on the twin."""
    original = trace.header.load_directory()
    feeds = timeline(trace, side)
    start = (
        feeds[0].at if feeds else (start_of(config) or datetime.fromisoformat(trace.header.created))
    )
    clock = VirtualClock(start)
    twin = TwinHub() if as4 is None else None
    if twin is not None:
        peer_port = own_port = 0
        directory = twin_directory(original, [e.id for e in original])
    else:
        peer_port, own_port = free_ports(2)  # held together: never the same port twice
        endpoints = {e.id: f"http://127.0.0.1:{peer_port}{_peer_path(e.id)}" for e in original}
        endpoints[side] = f"http://127.0.0.1:{own_port}/as4"
        directory = loopback_directory(original, (), endpoints=endpoints)
    peers = _Peers(directory, side, clock, as4, twin)
    journal = await open_journal(workdir / journal_file_name(side), synchronous="NORMAL")
    log = sorted((i for i in trace.inputs if i.observer == side), key=lambda i: i.seq)
    ids = RecordedIds((list(i.data.get("ids", ())) for i in log), seed_of(config, directory, side))
    inst = build_institution(
        directory.get(side), directory, config, journal, clock, ids=ids, on_desk=ids.attach,
        transport=twin if as4 is None else as4_transport(as4),
    )  # fmt: skip
    mock = _mock_of(config, side, inst)
    if mock is not None:
        feeds = _with_changes(feeds, mock_config(config, side) or {})
    session = aiohttp.ClientSession()
    poster = Poster(as4, session, _POST_POLICY, bucs_of(trace)) if as4 is not None else None
    run = _SideRun([], [], 0, 0, [])
    try:
        await peers.start(peer_port)
        await inst.start(host="127.0.0.1", port=own_port)
        url = inst.endpoint_url or ""  # "" on the twin: the peers send in memory
        submitted: list[tuple[TraceInput, asyncio.Task[Any]]] = []
        for done, feed in enumerate(feeds, start=1):
            if feed.at > clock.now():
                # Everything of the recorded moment is handled before the clock moves on.
                await idle_all([inst])
                if speed > 0:
                    await asyncio.sleep((feed.at - clock.now()).total_seconds() / speed)
                clock.set(feed.at)
                inst.release_due()  # what a mock held until then goes, as the move released it
            if feed.change is not None:
                await idle_all([inst])
                assert mock is not None
                _apply_change(mock, side, feed.change, run)
            elif feed.record is not None:
                # What was fed before this message is journaled first, as when recorded: the
                # POST journals the message at once, the node commits an input (or the answer
                # to an earlier message) when its worker gets to it, and which comes first
                # must not depend on timing.
                await idle_all([inst])
                if poster is None:
                    await peers.send(feed.record, run)
                else:
                    await _post(feed.record, url, poster, run)
            elif feed.entry is not None:
                task = await _submit(inst, feed.entry, run)
                if task is not None:
                    submitted.append((feed.entry, task))
            if progress is not None:
                progress(side, done, len(feeds))
        await idle_all([inst])
        last = _last_moment(trace, side)
        if last is not None and last > clock.now():  # a last move of the clock released
            clock.set(last)  # held messages and nothing else: no input of it was logged
            inst.release_due()
            await idle_all([inst])
        for entry, task in submitted:
            await _submitted(entry, task, run)
        run.records = await inst.journal.messages()
        run.inputs = [
            TraceInput(side, ev.seq, ev.at, dict(ev.data), ev.message_id)
            for ev in await inst.journal.case_events(INPUT_LOG)
        ]
    finally:
        await inst.stop()
        await inst.journal.close()
        await peers.stop()
        await session.close()
    return run


def _mock_of(config: Mapping[str, Any], side: str, inst: Institution) -> MockController | None:
    """For a side that was a mock fund: its behaviours as it started (rules, RNG seed, stall
    time) plugged into the replayed node; its rule changes are fed in the timeline."""
    mock = mock_config(config, side)
    if mock is None:
        return None
    try:
        rules = tuple(rule_from_log(r) for r in mock.get("rules") or ())
        seed = int(mock.get("seed") or 0)
        stall = float(mock.get("stall_seconds") or 30.0)
    except (EessiError, TypeError, ValueError, KeyError) as exc:
        raise TraceError(
            f"the mock rules of {side} cannot be read: {exc}",
            code="trace.bad-config",
            where=f"trace config, key 'mocks.{side}'",
            hint="export the trace again with this version of eessi-sim",
        ) from None
    profile = Profile(
        id=side,
        kind="eessi",
        name=side,
        country=side[:2],
        summary="as recorded",
        seed=seed,
        rules=rules,
        policy=fund_policy(config, side) or FundPolicy(),
    )
    controller = MockController({side: profile}, stall_seconds=stall)
    controller.attach(inst)
    return controller


def _with_changes(feeds: list[_Feed], mock: Mapping[str, Any]) -> list[_Feed]:
    """``feeds`` with the mock fund's rule changes merged in at their times (a change made at
    the same moment as an input goes first: a test sets its rules, then acts)."""
    changes = [
        _Feed(datetime.fromisoformat(str(c["at"])), change=c)
        for c in mock.get("changes") or ()
        if isinstance(c, Mapping) and "at" in c
    ]
    out: list[_Feed] = []
    i = 0
    for feed in feeds:
        while i < len(changes) and changes[i].at <= feed.at:
            out.append(changes[i])
            i += 1
        out.append(feed)
    return out + changes[i:]


def _apply_change(
    controller: MockController, side: str, change: Mapping[str, Any], run: _SideRun
) -> None:
    kind, data = change.get("kind"), change.get("data") or {}
    book = controller.book(side)
    try:
        if kind == "rule-added":
            book.add(rule_from_log(data["rule"]))
        elif kind == "rule-removed":
            book.remove(str(data["id"]))
        elif kind == "reset":
            case = data.get("case")
            controller.reset(side, case=None if case is None else str(case))
    except (EessiError, KeyError, TypeError) as exc:
        run.notes.append(f"mock rule change of {side} ({kind}) cannot be applied now: {exc}")


def _last_moment(trace: Trace, side: str) -> datetime | None:
    """The latest time ``side`` recorded anything at."""
    times = [_arrival(m.record) for m in trace.messages if m.observer == side]
    times += [m.record.created_at for m in trace.messages if m.observer == side]
    times += [i.at for i in trace.inputs if i.observer == side]
    return max(times, default=None)


#: Attempts per message the replay posts (a mock's "fail" rule refuses up to its ``times``).
_POST_ATTEMPTS = 8


#: How a recorded message is fed: a mock side may fail a delivery on purpose (its "fail"
#: rule); as the recorded sender did, try again (at once: the replay's time is the recorded one).
_POST_POLICY = RetryPolicy(
    max_attempts=_POST_ATTEMPTS, base_delay=0.01, max_delay=0.05, jitter=0.0, attempt_timeout=60.0
)


async def _post(
    record: MessageRecord, url: str, poster: Poster, run: _SideRun, *, restamp: bool = False
) -> None:
    """Post the recorded message to the replayed institution as an AS4 user message of its
    sender (signed and encrypted as the P-Mode says).

    ``restamp``: stamp the message with the current (real) time instead of the recorded one,
    for a live target, whose timestamp window (its own clock) would refuse recorded times; an
    offline replay keeps them, its virtual clock being set to the recorded arrival (D37)."""
    at = datetime.now(UTC) if restamp else record.created_at
    why = await poster.post(record, url, timestamp=at)
    if why is not None:
        run.notes.append(f"inbound {record.sed_type} {record.message_id}: {why}; not fed")
        return
    run.fed += 1


async def _submit(inst: Institution, entry: TraceInput, run: _SideRun) -> asyncio.Task[Any] | None:
    """Queue a recorded input behind everything fed before it (the node's queue keeps the
    order); its outcome is collected by :func:`_submitted` once the institution is idle."""
    raw = entry.data.get("input")
    try:
        if not isinstance(raw, dict):
            raise ValueError("the entry has no input object")
        value = input_from_json(raw)
    except (EessiError, TypeError, KeyError, ValueError) as exc:
        run.notes.append(f"input {entry.seq} of {entry.observer} cannot be read: {exc}")
        return None
    task = asyncio.create_task(inst.submit(value))
    await asyncio.sleep(0)  # let it reach the node's queue before the next item is fed
    return task


async def _submitted(entry: TraceInput, task: asyncio.Task[Any], run: _SideRun) -> None:
    try:
        await task
    except EessiError as exc:
        name = entry.data.get("input", {}).get("type", "input")
        run.notes.append(f"input {entry.seq} of {entry.observer} ({name}) refused now: {exc}")
        return
    run.submitted += 1


# --------------------------------------------------------------------------- the replay


def _sides(trace: Trace, wanted: Sequence[str] | None) -> list[str]:
    observers: list[str] = []
    for m in trace.messages:
        if m.observer not in observers:
            observers.append(m.observer)
    for i in trace.inputs:
        if i.observer not in observers:
            observers.append(i.observer)
    if wanted is None:
        return observers
    directory_ids = {t.get("id") for t in trace.header.directory.get("institution", [])}
    for side in wanted:
        if side not in directory_ids:
            raise TraceError(
                f"{side} is not in the trace's directory",
                code="trace.unknown-side",
                where=trace.path,
                hint=f"replay one of: {', '.join(observers) or '(none)'}",
            )
    return list(wanted)


def inbound_statuses(
    trace: Trace, side: str, replayed: Sequence[MessageRecord]
) -> list[Divergence]:
    """What ``side`` did with each message it received, recorded against now: a document
    processed in the recording but parked (``received``) or rejected now is a divergence
    even when nothing is sent because of it."""
    now = {r.message_id: r for r in replayed if r.direction is Direction.IN}
    out: list[Divergence] = []
    for index, m in enumerate(trace.messages, start=1):
        r = m.record
        if m.observer != side or r.direction is not Direction.IN:
            continue
        current = now.get(r.message_id)
        status = current.status.value if current is not None else None
        if status != r.status.value:
            why = current.last_error if current is not None else None
            out.append(
                Divergence(
                    "field",
                    r.sed_type,
                    r.sender,
                    r.receiver,
                    0,
                    0,
                    index,
                    None,
                    "journal:status (received by " + side + ")",
                    r.status.value,
                    status if not why else f"{status}: {why}",
                )
            )
    return out


def renumber(result: DiffResult, positions: Sequence[int]) -> list[Divergence]:
    """Divergences with recorded indices as positions in the whole trace."""
    out = []
    for d in result.divergences:
        index = positions[d.index - 1] if d.index is not None else None
        out.append(
            Divergence(
                d.kind,
                d.sed_type,
                d.sender,
                d.receiver,
                d.case,
                d.occurrence,
                index,
                d.other_index,
                d.field,
                d.recorded,
                d.now,
            )
        )
    return out


async def replay_trace(
    trace: Trace,
    *,
    sides: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    speed: float = 0.0,
    workdir: str | Path | None = None,
    progress: ProgressHook | None = None,
    transport: ReplayTransport = "as4",
    security: bool = True,
) -> ReplayResult:
    """Replay ``trace`` (see the module docstring); ``config`` replaces the trace's own
    configuration (e.g. to see what another rule parameter changes); ``transport="as4"``:
    eDelivery AS4 on loopback, signed and encrypted with a test PKI made for the replay
    (``security=False``: without); ``"twin"``: in memory, no HTTP."""
    if transport not in ("as4", "twin"):
        raise ConfigError(
            f"no replay transport named {transport!r}",
            code="trace.unknown-transport",
            hint="use 'as4' (eDelivery AS4 on loopback) or 'twin' (in memory)",
        )
    run_config = dict(trace.header.config if config is None else config)
    households(run_config)  # a broken configuration fails before anything starts
    chosen = _sides(trace, sides)
    ignore = tuple(ignore)
    runs: dict[str, _SideRun] = {}
    with contextlib.ExitStack() as stack:
        base = (
            Path(workdir)
            if workdir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eessi-replay-")))
        )
        as4 = (
            fresh_network(trace.header.load_directory(), base / "pki", security=security)
            if transport == "as4"
            else None
        )
        for side in chosen:
            side_dir = base / side.replace(":", "-")
            side_dir.mkdir(parents=True, exist_ok=True)
            runs[side] = await _replay_side(trace, side, run_config, side_dir, speed, progress, as4)
    divergences: list[Divergence] = []
    recorded_n = now_n = paired = 0
    for side in chosen:
        positions = [
            i
            for i, m in enumerate(trace.messages, start=1)
            if m.observer == side and m.record.direction is Direction.OUT
        ]
        recorded = [trace.messages[i - 1] for i in positions]
        now = [TraceMessage(side, r) for r in runs[side].records if r.direction is Direction.OUT]
        result = compare(recorded, now, ignore=ignore)
        divergences += renumber(result, positions)
        divergences += inbound_statuses(trace, side, runs[side].records)
        recorded_n += result.recorded
        now_n += result.now
        paired += result.paired
    divergences.sort(key=lambda d: (d.index is None, d.index or 0, d.other_index or 0))
    header = TraceHeader(
        directory=trace.header.directory,
        config=run_config,
        source={"replay_of": Path(trace.path).name if trace.path else None, "sides": chosen},
        created=trace.header.created,
        format=trace.header.format,
        tool=trace.header.tool,
    )
    output = Trace(
        header,
        tuple(merge([runs[s].records for s in chosen])),
        None,
        tuple(i for s in chosen for i in runs[s].inputs),
    )
    return ReplayResult(
        DiffResult(tuple(divergences), recorded_n, now_n, paired),
        tuple(chosen),
        output,
        sum(r.fed for r in runs.values()),
        sum(r.submitted for r in runs.values()),
        tuple(n for s in chosen for n in runs[s].notes),
    )


# --------------------------------------------------------------------------- a live target


class _Capture:
    """Stand-ins for the peers at their directory endpoints, speaking AS4 with the target's
    P-Modes and keys: receipt and keep what arrives."""

    def __init__(self, directory: Directory, side: str, as4: As4Network) -> None:
        from eessi.clock import SystemClock
        from eessi.ids import RandomIds

        self.records: list[MessageRecord] = []
        self.arrived = asyncio.Event()
        self._apps: dict[tuple[str, int], web.Application] = {}
        self._runners: list[web.AppRunner] = []
        # a target on a virtual clock (eessi up --virtual-clock, a test environment) stamps
        # its time, not ours: stand-ins apply no timestamp window
        stand_ins = StandIns(
            as4, self._accept, clock=SystemClock(), ids=RandomIds, limits=_NO_WINDOW
        )
        for entry in directory:
            if entry.id == side or not entry.eessi:
                continue
            parts = urlsplit(entry.endpoint)
            key = (parts.hostname or "127.0.0.1", parts.port or 80)
            app = self._apps.setdefault(key, web.Application(client_max_size=16 * 1024 * 1024))
            stand_ins.add(app, directory, entry.id, parts.path or "/as4")

    async def _accept(self, inbound: Inbound) -> Outcome:
        self.records.append(
            delivered_record(inbound, direction=Direction.OUT, status=MessageStatus.ACKNOWLEDGED)
        )
        self.arrived.set()
        return Outcome.accepted()

    async def start(self) -> None:
        for (host, port), app in self._apps.items():
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            self._runners.append(runner)
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                raise TraceError(
                    f"cannot listen on {host}:{port} to receive what the target sends: {exc}",
                    code="trace.target",
                    hint="stop whatever uses that port (an `eessi up`?), or give --directory"
                    " with other endpoints for the peers",
                ) from None

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()


async def replay_against(
    trace: Trace,
    *,
    side: str,
    url: str,
    directory: Directory,
    as4: As4Network,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    wait: float = 5.0,
    progress: ProgressHook | None = None,
) -> ReplayResult:
    """Post what ``side`` received in the trace to a live system at ``url`` (playing every
    peer over eDelivery AS4 with the target's P-Modes and keys, ``as4``:
    :func:`eessi.trace.as4peers.target_network`), receive what it sends at the peers'
    ``directory`` endpoints, and compare with what ``side`` sent in the trace.

    Submitted inputs cannot be given to an external system; they are listed in the notes. The
    comparison starts once the system has sent as many messages as recorded, or after ``wait``
    seconds of silence.
    """
    _sides(trace, [side])
    capture = _Capture(directory, side, as4)
    feeds = timeline(trace, side)
    notes: list[str] = []
    duplicates: list[str] = []
    fed = 0
    expected = sum(
        1 for m in trace.messages if m.observer == side and m.record.direction is Direction.OUT
    )
    session = aiohttp.ClientSession()
    poster = Poster(as4, session, _POST_POLICY, bucs_of(trace))
    run = _SideRun([], [], 0, 0, notes)
    try:
        await capture.start()
        admin = _admin_of(directory, side, url)
        for done, feed in enumerate(feeds, start=1):
            if feed.record is not None:
                if await _already_there(session, admin, feed.record.message_id):
                    duplicates.append(feed.record.message_id)
                await _post(feed.record, url, poster, run, restamp=True)
            elif feed.entry is not None:
                notes.append(
                    f"input {feed.entry.seq} of {side} was submitted in the recording; an"
                    " external system cannot be given it (not replayed)"
                )
            if progress is not None:
                progress(side, done, len(feeds))
        fed = run.fed
        while len(capture.records) < expected:
            capture.arrived.clear()
            try:
                await asyncio.wait_for(capture.arrived.wait(), timeout=wait)
            except TimeoutError:
                break
    finally:
        await capture.stop()
        await session.close()
    positions = [
        i
        for i, m in enumerate(trace.messages, start=1)
        if m.observer == side and m.record.direction is Direction.OUT
    ]
    recorded = [trace.messages[i - 1] for i in positions]
    now = [TraceMessage(side, r) for r in capture.records]
    result = compare(recorded, now, ignore=tuple(ignore))
    divergences = renumber(result, positions)
    if duplicates:
        # What the target did with them the first time is not done again: a message not sent
        # now is the duplicate's doing, not a divergence of the target's behaviour.
        missing = [d for d in divergences if d.kind == "missing"]
        divergences = [d for d in divergences if d.kind != "missing"]
        notes.append(
            f"the target already had {len(duplicates)} of the {fed} message(s) fed (same"
            " MessageId: an earlier replay or run reached it) and dropped them as duplicates"
            f" (receipted, not processed again); {len(missing)} recorded message(s) it did not"
            " send again are not reported as missing. Reset the target (POST /api/reset on"
            " eessi up, or a fresh journal) before replaying again"
        )
    header = TraceHeader(
        directory=trace.header.directory,
        config=trace.header.config,
        source={"replay_of": Path(trace.path).name if trace.path else None, "target": url},
        created=trace.header.created,
    )
    return ReplayResult(
        DiffResult(tuple(divergences), result.recorded, result.now, result.paired),
        (side,),
        Trace(header, tuple(now)),
        fed,
        0,
        tuple(notes),
        tuple(duplicates),
    )


def _admin_of(directory: Directory, side: str, url: str) -> str:
    """Where the target's admin API answers: its directory ``admin`` URL, else the endpoint's
    own host and port (``eessi up --port-base``, a directory without admin URLs)."""
    entry = directory.get(side)
    if entry.admin:
        return entry.admin.rstrip("/")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _already_there(session: aiohttp.ClientSession, admin: str, message_id: str) -> bool:
    """Whether the target's journal already holds this inbound message (an eessi-sim node's
    ``GET /api/messages/{id}``); False when the target has no such API (any other system)."""
    try:
        async with session.get(
            f"{admin}/api/messages/{quote(message_id, safe='')}",
            params={"direction": "in"},
            timeout=aiohttp.ClientTimeout(total=5),
        ) as resp:
            if resp.status != 200:
                return False
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return isinstance(body, dict) and body.get("message_id") == message_id
