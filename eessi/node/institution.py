"""One institution of the network: the glue between transport, journal and the pure core.

Theory of operation
-------------------
::

    POST /as4 ─► InboundEndpoint (size, framing, envelope, To, signature, digest, version)
              ─► _on_message: SED validated (one parse) ─► journal.accept_inbound (durable)
              ─► receipt                  (a duplicate MessageId gets its receipt again, no more)
              ─► processing queue ─► one worker: desk.handle(...) for a batch of inputs
              ─► ONE journal transaction per batch: input log, case events, case snapshots,
                 outbound SEDs (transactional outbox), inbound marked processed
              ─► outbox: send workers post each SED, journaling sending → acknowledged /
                 retrying (back-off with jitter, persisted next_attempt_at) → failed

**One writer of desk state.** Every input (a document, a submitted request, the time passing)
goes through one queue and one worker task, so the desk (a sans-I/O object) is never used by two
tasks at once. The worker takes whatever is queued (up to ``NodeOptions.batch``) and commits the
batch in one transaction: one fsync for many inputs.

**Restart.** The desk's state is rebuilt from the journal's last checkpoint of it (written every
``NodeOptions.checkpoint_every`` inputs and at ``stop()``, see :mod:`eessi.node.checkpoint`),
then by replaying the input log (pseudo case ``~inputs``) after the checkpoint's position (the
whole log without a usable one): each entry records the input (or the inbound message it came
from), the time the desk saw, and the IDs the desk drew, so the replay is exact (see
docs/decisions.md, D7 and D50). Then
interrupted sends are resumed (``resume_interrupted_sends``), pending outbound messages are
scheduled, and inbound messages accepted but not processed are processed; only then does the
endpoint open. A ``kill -9`` at any point therefore loses nothing acknowledged (accept commits
before the receipt), processes nothing twice (marking processed commits with the effects) and
sends what was queued (the receiver drops duplicates by MessageId).

**Out of order.** A document for a case the desk does not know yet, or answering a document it
has not seen, is *parked*: it stays ``received`` in the journal and is retried whenever an input
changes its case (and after a restart). Any other illegal document is ``rejected`` with the
core's reason.

**Message IDs.** The envelope's MessageId is the document's instance ID (a new version of a
document, which keeps its ID, travels as ``<id>~<revision>``); RefToMessageId is the ID of the
document answered. The BUC is the case's (or, for a case not known yet, the one the SED starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import logging
import os
import random
import signal
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from eessi.clock import Clock, SystemClock
from eessi.core.buc_table import Direction as CaseDirection
from eessi.core.desk import reference_of
from eessi.core.fund import FundDesk
from eessi.core.messages import DocumentReceived, Outgoing, Step, TimePassed
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import ConfigError, DomainError, EessiError, JournalError, SedError
from eessi.ids import IdGenerator, RandomIds, SeededIds, institution_seed
from eessi.journal.base import (
    CaseEvent,
    Direction,
    Journal,
    MessageRecord,
    MessageStatus,
    StatusChange,
)
from eessi.node.checkpoint import DeskCheckpoints
from eessi.node.desk_factory import Desk, DeskFactory
from eessi.node.hooks import (
    DeliveryListener,
    InboundAction,
    InboundInterceptor,
    NoOpInbound,
    NoOpOutbound,
    OutboundPolicy,
    OutboundSed,
)
from eessi.node.inputs import (
    CloseCase,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    SubmitInput,
    apply_input,
    input_from_json,
    input_to_json,
)
from eessi.node.records import (
    DESK_LOG,
    INPUT_LOG,
    REFUSED_LOG,
    case_state,
    event_case,
    event_json,
)
from eessi.sed.catalogue import BUCS, CURRENT_VERSION, SEDS, SUPPORTED_VERSIONS
from eessi.sed.documents import X050, Document, ExceptionCode, SedReference, from_element
from eessi.sed.model import VERY_LONG
from eessi.sed.validate import validate_or_raise
from eessi.transport import codes
from eessi.transport.client import Failure, RetryPolicy, Sender
from eessi.transport.envelope import ACTION, SERVICE, UserMessage, encode
from eessi.transport.limits import ConnectionGuard, GuardedSite, InboundLimits, server_kwargs
from eessi.transport.server import DEFAULT_MAX_BODY, Inbound, InboundEndpoint, Outcome, Refusal

__all__ = [
    "CRASH_ENV",
    "DEFAULT_PARKED_EXPIRY",
    "Institution",
    "NodeOptions",
    "StepClock",
    "StepIds",
    "default_signal_ids",
    "delivered_record",
]

log = logging.getLogger("eessi.node")

#: Environment variable naming a point where the process kills itself (tests of kill -9):
#: ``after-accept``, ``before-commit``, ``after-commit``, optionally ``:<SED type>``
#: (``after-commit:S071``).
CRASH_ENV: Final = "EESSI_CRASH_AT"
CRASH_POINTS: Final = ("after-accept", "before-commit", "after-commit")

#: Default of :attr:`NodeOptions.parked_expiry`: one day. A document overtaken in transit by its
#: answer is retried by its sender's access point for hours at most.
DEFAULT_PARKED_EXPIRY: Final = 86_400.0

#: The HTTP request being handled (the inbound interceptor gets it; set per request task).
_REQUEST: contextvars.ContextVar[web.Request | None] = contextvars.ContextVar(
    "eessi_node_request", default=None
)


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """How a node behaves besides its desk (limits, retries, batching, timers)."""

    #: Largest HTTP body accepted (envelope + SED): larger answers 413.
    max_body: int = DEFAULT_MAX_BODY
    #: SED versions accepted (default: the directory entry's).
    accept_versions: tuple[str, ...] | None = None
    #: Retry budget and back-off of outbound messages (``max_attempts`` counts the first).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Concurrent send workers (one shared HTTP session).
    send_workers: int = 16
    #: Inputs handled (and committed) together at most.
    batch: int = 64
    #: Seconds between automatic ``tick()`` calls (reminders); ``None``: only when called.
    tick_interval: float | None = None
    #: Seconds without an answer after which a message is journaled waiting_for_receipt.
    waiting_after: float = 1.0
    #: Also serve on the directory's admin URL when it differs from the endpoint's.
    bind_admin: bool = True
    #: Debug: kill the process (SIGKILL) at this point (see :data:`CRASH_ENV`).
    crash_at: str | None = None
    #: Seconds a parked document (its case, or the document it answers, unknown) waits before
    #: it expires: journaled ``expired``, its sender answered with an X050 in the case
    #: (docs/node.md, "Parked documents"); ``None``: parked documents never expire.
    parked_expiry: float | None = DEFAULT_PARKED_EXPIRY
    # -- inbound limits, per peer address (docs/node.md "Inbound limits"; D35-D39) -------------
    #: Seconds a connection may take to send a request's headers (from its opening or the
    #: previous answer); an idle keep-alive connection closes after as long.
    header_timeout: float = 15.0
    #: Seconds a request's body may take to arrive once its headers are in (else 408).
    body_timeout: float = 30.0
    #: Open inbound connections from one peer address at most (more: 503, closed).
    max_connections_per_peer: int = 128
    #: Refusals answered per second to one peer address, on average (token bucket refill).
    refusal_rate: float = 1.0
    #: Refusals answered to one peer address in a burst (bucket size); past it: 429, unrecorded.
    refusal_burst: int = 20
    #: Seconds a message's Timestamp may be ahead of this node's clock (``None``: no limit).
    max_clock_skew: float | None = 300.0
    #: Seconds a message's Timestamp may be behind this node's clock (``None``: no limit).
    max_message_age: float | None = 86400.0
    #: Inputs between two checkpoints of the desk state (a restart replays only the inputs
    #: since the last one); one is also written at ``stop()``. ``None``: only at ``stop()``;
    #: ``0``: never (every restart replays the whole input log).
    checkpoint_every: int | None = 1000

    @property
    def inbound_limits(self) -> InboundLimits:
        """The inbound limits as the transport takes them."""
        return InboundLimits(
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            max_connections_per_peer=self.max_connections_per_peer,
            refusal_rate=self.refusal_rate,
            refusal_burst=self.refusal_burst,
            max_clock_skew=self.max_clock_skew,
            max_message_age=self.max_message_age,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> NodeOptions:
        """Options with ``crash_at`` taken from :data:`CRASH_ENV` when set; a value that names
        no crash point raises :class:`ConfigError` (a typo would never crash)."""
        crash = os.environ.get(CRASH_ENV) or None
        if crash is not None:
            _check_crash_at(crash)
        return cls(crash_at=crash, **kwargs)


def _check_crash_at(spec: str) -> None:
    point, colon, sed = spec.partition(":")
    if point in CRASH_POINTS and (not colon or sed in SEDS):
        return
    raise ConfigError(
        f"{CRASH_ENV}={spec!r} names no crash point",
        code="config.crash-at",
        where=CRASH_ENV,
        hint=f"use one of {', '.join(CRASH_POINTS)}, optionally with a SED type"
        f" ({CRASH_POINTS[-1]}:S071), or unset {CRASH_ENV}",
        details={"value": spec, "allowed": list(CRASH_POINTS)},
    )


def default_signal_ids(ir_id: str, *, seeded: IdGenerator | None) -> IdGenerator:
    """The transport's ID generator (receipts, error signals) when none is given: random for a
    live node (``seeded`` is ``None``), else seeded from the institution ID, so a seeded node's
    signal IDs are reproducible without touching its desk's sequence: the ``"signals"`` stream
    of :func:`eessi.ids.institution_seed` with run seed 0 (the builders that know the run's seed,
    :func:`eessi.node.network.open_institution`, pass its stream instead)."""
    if seeded is None:
        return RandomIds()
    return SeededIds(institution_seed(0, ir_id, "signals"))


class StepClock:
    """The desk's clock: fixed to the time of the input being handled (recorded, replayed)."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else self.base.now()


class StepIds:
    """The desk's ID generator: records the IDs drawn for an input, or replays them."""

    def __init__(self, base: IdGenerator) -> None:
        self.base = base
        self.drawn: list[str] | None = None
        self.replay: deque[str] | None = None

    def _next(self, fresh: Callable[[], str]) -> str:
        if self.replay is not None:
            if not self.replay:
                raise JournalError(
                    "replaying the input log: the desk asked for more IDs than were recorded",
                    code="journal.replay-diverged",
                    hint="the households, directory or code changed since the journal was"
                    " written; start with a new journal",
                )
            return self.replay.popleft()
        value = fresh()
        if self.drawn is not None:
            self.drawn.append(value)
        return value

    def uuid(self) -> str:
        return self._next(self.base.uuid)

    def case_id(self, country: str) -> str:
        return self._next(lambda: self.base.case_id(country))


@dataclass(slots=True)
class _Item:
    """One input waiting for the desk."""

    #: ``expire``: nothing for the desk; the batch expires the parked documents that are due.
    kind: Literal["inbound", "submit", "expire"]
    record: MessageRecord | None = None
    #: The validated SED tree (``None`` after a restart: parsed again from the journal).
    root: Any = None
    input: SubmitInput | None = None
    future: asyncio.Future[Step] | None = None
    #: Filled with the IDs of the outbound messages the step journaled (``submit(messages=)``).
    messages: list[str] | None = None


@dataclass(slots=True)
class _Done:
    """One input handled, waiting for its transaction."""

    at: datetime
    step: Step
    #: The input log entry (``None``: nothing to replay, e.g. a rejected document).
    log_entry: dict[str, Any] | None
    events: list[tuple[str, str, dict[str, Any]]]
    outbound: list[tuple[MessageRecord, OutboundSed]]
    cases: set[str]
    inbound_id: str | None = None
    error: str | None = None
    future: asyncio.Future[Step] | None = None
    messages: list[str] | None = None
    #: A parked document given up (``inbound_id``): journaled ``expired``, not ``rejected``.
    expired: bool = False


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def delivered_record(
    inbound: Inbound,
    *,
    direction: Direction = Direction.IN,
    status: MessageStatus = MessageStatus.RECEIVED,
) -> MessageRecord:
    """The journal record of a message that reached an AS4 endpoint: envelope metadata,
    envelope and payload bytes as they arrived. The node journals it inbound as ``received``;
    a stand-in peer (trace replay) keeps it as what the replayed side sent."""
    m = inbound.message
    at = inbound.received_at
    return MessageRecord(
        message_id=m.message_id,
        direction=direction,
        sender=m.from_party,
        receiver=m.to_party,
        conversation_id=m.conversation_id,
        ref_to_message_id=m.ref_to_message_id,
        sed_type=m.sed_type,
        sed_version=m.sed_version,
        service=m.service,
        action=m.action,
        created_at=m.timestamp,
        envelope=inbound.envelope,
        payload=inbound.payload,
        status=status,
        received_at=at if direction is Direction.IN else None,
        sent_at=at if direction is Direction.OUT else None,
    )


class Institution:
    """One running institution (see the module docstring).

    Build it with a directory entry, its journal and a desk factory
    (:func:`eessi.node.desk_factory.desk_factory`); ``await start()``; ``await stop()``.
    """

    def __init__(
        self,
        entry: InstitutionEntry,
        directory: Directory,
        journal: Journal,
        make_desk: DeskFactory,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        signal_ids: IdGenerator | None = None,
        rng: random.Random | None = None,
        options: NodeOptions | None = None,
        outbound_policy: OutboundPolicy | None = None,
        inbound_interceptor: InboundInterceptor | None = None,
        session: aiohttp.ClientSession | None = None,
        host: str | None = None,
    ) -> None:
        self.entry = entry
        self.directory = directory
        self.journal = journal
        self.options = options or NodeOptions()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._ids: IdGenerator = ids if ids is not None else RandomIds()
        # Receipts and error signals draw from their own generator: how many arrive between two
        # desk steps depends on timing, so sharing the desk's would make its IDs depend on it.
        self._signal_ids: IdGenerator = (
            signal_ids if signal_ids is not None else default_signal_ids(entry.id, seeded=ids)
        )
        self.rng = rng if rng is not None else random.Random()
        self.outbound_policy: OutboundPolicy = outbound_policy or NoOpOutbound()
        self.inbound_interceptor: InboundInterceptor = inbound_interceptor or NoOpInbound()
        #: Told of each inbound user message once handled (see :mod:`eessi.node.hooks`).
        self.delivery_listeners: list[DeliveryListener] = []
        #: Awaited at each start, once the desk is restored from the journal and before anything
        #: is processed or sent (a mock fund restores its journaled rules here).
        self.start_hooks: list[Callable[[], Awaitable[None]]] = []
        self.accept_versions = self.options.accept_versions or entry.versions or SUPPORTED_VERSIONS
        self._step_clock = StepClock(self.clock)
        self._step_ids = StepIds(self._ids)
        self._make_desk = make_desk
        self.desk: Desk = make_desk(self._step_clock, self._step_ids, None)
        self._checkpoints = DeskCheckpoints(journal, entry.id)
        #: Counters for the admin API and benchmarks.
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "received",
                "duplicates",
                "refused",
                "processed",
                "rejected",
                "parked",
                "submitted",
                "sent",
                "acknowledged",
                "retried",
                "failed",
                "replayed",
                "expired",
            ),
            0,
        )
        split = urlsplit(entry.endpoint)
        self._host = host or split.hostname or "127.0.0.1"
        self._port = split.port or 80
        self._path = split.path or "/as4"
        self.url: str | None = None
        self.endpoint_url: str | None = None
        self.endpoint = InboundEndpoint(
            self._on_message,
            directory.credential,
            entry.id,
            max_body=self.options.max_body,
            accept_versions=self.accept_versions,
            on_refused=self._on_refused,
            clock=self.clock,
            ids=self._signal_ids,
            path=self._path,
            limits=self._inbound_limits(),
        )
        self._guard = ConnectionGuard(self.options.max_connections_per_peer)
        self.app = web.Application(client_max_size=max(self.options.max_body + 1, 1024**2))
        self.app.router.add_post(self._path, self._as4)
        self._mount_admin()
        self._session = session
        self._own_session = session is None
        self._sender: Sender | None = None
        self._runner: web.AppRunner | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._sendq: asyncio.Queue[MessageRecord] = asyncio.Queue()
        self._parked: dict[str, list[_Item]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: Wall clock only: fires when the earliest parked document is due to expire.
        self._expiry_timer: asyncio.TimerHandle | None = None
        #: On a virtual clock: message ID -> (due, record, counted in ``busy``), released by
        #: :meth:`tick` once the clock has passed ``due`` (see :meth:`_schedule`).
        self._held: dict[str, tuple[datetime, MessageRecord, bool]] = {}
        self._copies: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        #: True once the journal is restored and the endpoint is open; false again while
        #: stopping or restoring after a reset (``GET /api/health/ready``).
        self.ready = False

    # -- wiring --------------------------------------------------------------------------------

    def _mount_admin(self) -> None:
        try:
            admin = importlib.import_module("eessi.node.admin")
        except ModuleNotFoundError as exc:
            if exc.name != "eessi.node.admin":
                raise
            admin = None
        add = getattr(admin, "add_admin_routes", None) if admin is not None else None
        if add is not None:
            add(self.app, self, host=self._host)
        else:
            self.app.router.add_get("/api/health", self._health)

    async def _health(self, request: web.Request) -> web.Response:
        failed = await self.journal.messages(
            direction=Direction.IN, status=MessageStatus.PROCESSING_FAILED
        )
        return web.json_response(
            {
                "status": "degraded" if failed else "ok",
                "institution": self.entry.id,
                "busy": self._busy,
                "processing_failed": {m.message_id: m.last_error for m in failed},
            }
        )

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def parked(self) -> list[str]:
        """Message IDs of documents kept until their case (or answered document) is known."""
        return [
            item.record.message_id
            for items in self._parked.values()
            for item in items
            if item.record is not None
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        """Restore from the journal, then serve on ``host:port`` (default: the entry's endpoint;
        port 0 picks a free one, see :attr:`url`)."""
        if self._started:
            return
        self._started = True
        try:
            await self._start(host, port)
        except BaseException:
            # A refused start (a port in use, a diverged journal...) leaves nothing running:
            # no task, timer, listening socket or HTTP session outlives it (the journal is
            # the caller's to close).
            await self.stop()
            raise

    async def _start(self, host: str | None, port: int | None) -> None:
        await self._restore()
        for hook in self.start_hooks:
            await hook()
        now = self.clock.now()
        resumed = await self.journal.resume_interrupted_sends(at=now)
        if resumed:
            log.info("%s: %d interrupted send(s) resumed", self.id, len(resumed))
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(self.options.send_workers, 8))
            )
        retry = self.options.retry
        self._sender = Sender(
            self._session,
            credential=self.entry.credential,
            rng=self.rng,
            policy=replace(retry, max_attempts=1),
            peer_credentials=self.directory.credential,
        )
        self._tasks.append(asyncio.create_task(self._process_loop(), name=f"{self.id} process"))
        for i in range(max(1, self.options.send_workers)):
            self._tasks.append(asyncio.create_task(self._send_loop(), name=f"{self.id} send {i}"))
        pending = await self.journal.messages(
            direction=Direction.OUT, status=[MessageStatus.QUEUED, MessageStatus.RETRYING]
        )
        for rec in pending:
            self._add_busy(1)
            self._schedule(rec, rec.next_attempt_at, retry=rec.status is MessageStatus.RETRYING)
        for rec in await self.journal.unprocessed_inbound():
            self._enqueue(_Item("inbound", rec))
        if self.options.tick_interval:
            self._tasks.append(asyncio.create_task(self._tick_loop(), name=f"{self.id} tick"))
        if self._runner is not None:  # a reset (:meth:`restart_empty`): still serving
            self.ready = True
            return
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            **server_kwargs(self.endpoint.limits),
        )
        await self._runner.setup()
        bind_host = host if host is not None else self._host
        bind_port = port if port is not None else self._port
        await self._listen(bind_host, bind_port, "endpoint")
        actual = self._bound_port(bind_port)
        self.url = f"http://{bind_host}:{actual}"
        self.endpoint_url = self.url + self._path
        if self.options.bind_admin and port is None and self.entry.admin:
            admin = urlsplit(self.entry.admin)
            if admin.port and (admin.hostname, admin.port) != (bind_host, actual):
                await self._listen(admin.hostname or bind_host, admin.port, "admin URL")
        self.ready = True

    async def _listen(self, host: str, port: int, what: str) -> None:
        assert self._runner is not None
        try:
            await GuardedSite(self._runner, host, port, guard=self._guard).start()
        except OSError as exc:
            raise ConfigError(
                f"{self.id} cannot listen on {host}:{port} (its {what}): {exc.strerror or exc}",
                where=self.directory.source,
                hint="another process uses that port: stop it, or change the port in the"
                " directory (or give --port)",
                code="node.cannot-listen",
            ) from exc

    def _bound_port(self, requested: int) -> int:
        assert self._runner is not None
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return requested

    async def stop(self) -> None:
        """Stop serving and cancel every background task (pending work stays in the journal)."""
        self.ready = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._checkpoints.pending and self.options.checkpoint_every != 0:
            # The worker is stopped: the desk holds exactly what was committed.
            await self._checkpoint()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._held.clear()  # queued/retrying in the journal: scheduled again at the next start
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.future is not None and not item.future.done():
                item.future.cancel()
        while not self._sendq.empty():  # still queued/retrying in the journal: resumed later
            self._sendq.get_nowait()
        self._parked.clear()  # still "received" in the journal: parked again at the next start
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        self._copies.clear()
        self._add_busy(-self._busy)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._started = False

    async def restart_empty(
        self, journal: Journal, *, ids: IdGenerator | None = None, rng: random.Random | None = None
    ) -> None:
        """Start again from nothing on ``journal`` (an empty one), still serving: every task,
        timer, queue and held message dropped as :meth:`stop` does, the desk rebuilt from its
        factory (the households), ``ids`` and ``rng`` (fresh ones of the same seed) drawn from
        anew. The network reset (``POST /api/reset``); the caller closes the old journal."""
        runner, self._runner = self._runner, None
        try:
            await self.stop()
        finally:
            self._runner = runner
        self.journal = journal
        self._checkpoints = DeskCheckpoints(journal, self.entry.id)
        if ids is not None:
            self._ids = ids
            self._step_ids = StepIds(ids)
        if rng is not None:
            self.rng = rng
        self.desk = self._make_desk(self._step_clock, self._step_ids, None)
        self.stats = dict.fromkeys(self.stats, 0)
        self._started = True
        await self._start(self._host, self._port)

    async def __aenter__(self) -> Institution:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- operations ----------------------------------------------------------------------------

    async def submit(self, value: SubmitInput, *, messages: list[str] | None = None) -> Step:
        """Hand the desk an input (a request, a provided document, a fund's action...).

        Returns the desk's :class:`Step` once it and the SEDs it sends are journaled. Raises the
        core's :class:`~eessi.errors.DomainError` (nothing changed) if the input is refused.
        ``messages``, if given, gets the IDs of the outbound messages the step journaled (as the
        outbound policy named them), so a caller need not search the journal for them.
        """
        self._check_submit(value)
        future: asyncio.Future[Step] = asyncio.get_running_loop().create_future()
        self._enqueue(_Item("submit", input=value, future=future, messages=messages))
        return await future

    async def tick(self, *, messages: list[str] | None = None) -> Step:
        """Tell the desk the time is now (reminders for overdue replies).

        On a virtual clock it first releases the outbound messages held until a time the clock
        has now passed (a delayed SED, a retry whose back-off is over): they go to the send
        queue (:meth:`idle` waits for them)."""
        self.release_due()
        return await self.submit(TimePassed(self.clock.now()), messages=messages)

    @property
    def virtual_time(self) -> bool:
        """Whether the node's clock is not the wall clock (then waits are released by
        :meth:`tick`, see :meth:`_schedule`)."""
        return not isinstance(self.clock, SystemClock)

    @property
    def held(self) -> list[str]:
        """Message IDs of outbound messages waiting for the virtual clock to pass their time."""
        return list(self._held)

    def release_due(self) -> int:
        """Send now every held message whose time the clock has passed; how many."""
        now = self.clock.now()
        due = [mid for mid, (when, _r, _c) in self._held.items() if when <= now]
        for mid in due:
            _when, record, counted = self._held.pop(mid)
            timer = self._timers.pop(mid, None)
            if timer is not None:
                timer.cancel()
            if not counted:
                self._add_busy(1)
            self._sendq.put_nowait(record)
        return len(due)

    async def idle(self) -> None:
        """Wait until nothing is in flight: every input handled (or parked), every outbound
        message acknowledged or failed. Bound it with ``asyncio.timeout``.

        A message held on a virtual clock until a later time (a delayed SED) is not in flight:
        nothing releases it but :meth:`tick` after the clock moves. A retry waits for its
        back-off in real time as well, so it stays in flight (see :meth:`_schedule`)."""
        while self._busy > 0:
            await self._idle.wait()

    @property
    def busy(self) -> int:
        """Inputs and outbound messages in flight."""
        return self._busy

    def _add_busy(self, n: int) -> None:
        self._busy += n
        if self._busy <= 0:
            self._busy = 0
            self._idle.set()
        else:
            self._idle.clear()

    def _check_submit(self, value: SubmitInput) -> None:
        fund_only = (
            RequestEntitlement,
            RegisterEntitlement,
            InvalidateDocument,
            RejectDocument,
            RequestClarification,
            CloseCase,
        )
        is_fund = isinstance(self.desk, FundDesk)
        if isinstance(value, fund_only) and not is_fund:
            raise DomainError(
                f"{type(value).__name__} is a foreign fund's action; {self.id} is the CNS",
                where=self.id,
                hint="submit it to a foreign fund's node",
                code="node.wrong-desk",
            )
        if is_fund and not isinstance(value, (*fund_only, TimePassed)):
            raise DomainError(
                f"{type(value).__name__} is the CNS's input; {self.id} is a foreign fund",
                where=self.id,
                hint="submit it to the CNS's node",
                code="node.wrong-desk",
            )
        if isinstance(value, RequestEntitlement):
            to = value.to or self._cns_id()
            peer = self.directory.find(to)
            if peer is None or not peer.eessi:
                raise DomainError(
                    f"the receiver {to} is not an EESSI institution of the directory",
                    where=self.directory.source,
                    hint=f"known institutions: {', '.join(self.directory.ids)}",
                    code="node.unknown-receiver",
                )

    def _cns_id(self) -> str:
        cns = self.directory.of_kind("cns")
        return cns[0].id if cns else "LU:CNS00001"

    def _enqueue(self, item: _Item) -> None:
        self._add_busy(1)
        self._queue.put_nowait(item)

    # -- inbound -------------------------------------------------------------------------------

    def _inbound_limits(self) -> InboundLimits:
        """The options' limits; on a virtual clock without the timestamp window: scenario time
        is not the senders' time (an external system stamps real time, a retry can be days old
        in scenario time), see D38."""
        limits = self.options.inbound_limits
        if self.virtual_time:
            limits = replace(limits, max_clock_skew=None, max_message_age=None)
        return limits

    async def _as4(self, request: web.Request) -> web.StreamResponse:
        token = _REQUEST.set(request)
        try:
            return await self.endpoint.handle(request)
        finally:
            _REQUEST.reset(token)

    async def _intercept(self, message: UserMessage) -> Outcome | None:
        """Ask the inbound interceptor about an authenticated message (``None``: handle it)."""
        request = _REQUEST.get()
        if request is None:  # not through this node's HTTP route: nothing to intercept
            return None
        action: InboundAction | None = self.inbound_interceptor.inbound(message, request)
        if action is None:
            return None
        if action.seconds > 0:
            await asyncio.sleep(action.seconds)
        if action.kind == "stall":
            return None
        if action.kind == "reset" and request.transport is not None:
            request.transport.abort()
        reason = action.reason or (
            f"{self.id}: simulated failure; nothing was kept, send it again later"
        )
        return Outcome.refused(reason, code=replace(codes.UNAVAILABLE, http_status=action.status))

    async def _refuse(self, inbound: Inbound, reason: str) -> None:
        self.stats["refused"] += 1
        await self.journal.refuse_inbound(delivered_record(inbound), reason)

    async def _on_message(self, inbound: Inbound) -> Outcome:
        outcome = await self._intercept(inbound.message)
        if outcome is not None:
            return outcome
        outcome = await self._receive(inbound)
        for listener in self.delivery_listeners:
            listener(inbound.message, outcome)
        return outcome

    async def _receive(self, inbound: Inbound) -> Outcome:
        """Validate the SED, journal the message (durable) and queue it for the desk."""
        m = inbound.message
        try:
            valid = validate_or_raise(
                inbound.payload,
                accept_versions=self.accept_versions,
                max_bytes=self.options.max_body,
                where=f"message {m.message_id}",
            )
        except SedError as exc:
            reason = str(exc)
            await self._refuse(inbound, reason)
            code = (
                codes.PROCESSING_MODE_MISMATCH
                if exc.code == "sed.unsupported-version"
                else codes.OTHER
            )
            detail = exc.details.get("xpath") or exc.where
            return Outcome.refused(reason, code=code, detail=detail)
        if valid.sed != m.sed_type or valid.version != m.sed_version:
            reason = (
                f"the envelope announces {m.sed_type} {m.sed_version} but the SED part is"
                f" {valid.sed} {valid.version}; make SedType and SedVersion match the document"
            )
            await self._refuse(inbound, reason)
            return Outcome.refused(
                reason,
                code=codes.VALUE_INCONSISTENT,
                detail="/Messaging/UserMessage/PayloadInfo/PartInfo",
            )
        record = delivered_record(inbound)
        try:
            fresh = await self.journal.accept_inbound(record)
        except JournalError as exc:
            if exc.code != "journal.id-conflict":
                raise
            await self._refuse(inbound, exc.message)
            return Outcome.refused(f"{exc.message}; {exc.hint}", code=codes.VALUE_INCONSISTENT)
        if not fresh:
            self.stats["duplicates"] += 1
            return Outcome.duplicate()
        self.stats["received"] += 1
        self._crash_point("after-accept", m.sed_type)
        self._enqueue(_Item("inbound", record, valid.root))
        return Outcome.accepted()

    async def _on_refused(self, refusal: Refusal) -> None:
        self.stats["refused"] += 1
        if not refusal.authenticated:
            # Before authentication the sender is unknown: a bounded summary (headers, size,
            # digest, reason; never the body) under a pseudo case, never a message of a case.
            async with self.journal.transaction() as tx:
                await tx.append_event(
                    REFUSED_LOG, "refused", refusal.summary(), at=refusal.received_at
                )
            return
        m = refusal.message
        error = refusal.error
        reason = f"{error.code} {error.short_description}: {error.description}"
        if m is not None:
            record = MessageRecord(
                message_id=m.message_id,
                direction=Direction.IN,
                sender=m.from_party,
                receiver=m.to_party,
                conversation_id=m.conversation_id,
                ref_to_message_id=m.ref_to_message_id,
                sed_type=m.sed_type,
                sed_version=m.sed_version,
                service=m.service,
                action=m.action,
                created_at=m.timestamp,
                envelope=refusal.envelope or b"",
                payload=refusal.payload or b"",
                status=MessageStatus.RECEIVED,
                received_at=refusal.received_at,
            )
        else:  # unreadable or oversized: journal what we know, under the error signal's ID
            record = MessageRecord(
                message_id=f"unreadable:{error.message_id}",
                direction=Direction.IN,
                sender=refusal.peer or "unknown",
                receiver=self.id,
                conversation_id="",
                ref_to_message_id=None,
                sed_type="",
                sed_version="",
                service="",
                action="",
                created_at=refusal.received_at,
                envelope=refusal.envelope or b"",
                payload=refusal.payload or b"",
                status=MessageStatus.RECEIVED,
                received_at=refusal.received_at,
            )
        await self.journal.refuse_inbound(record, reason)

    def _crash_point(self, point: str, sed_type: str | None) -> None:
        spec = self.options.crash_at
        if not spec:
            return
        name, _, sed = spec.partition(":")
        if name == point and (not sed or sed == sed_type):
            log.warning("%s: %s=%s: killing the process", self.id, CRASH_ENV, spec)
            os.kill(os.getpid(), signal.SIGKILL)

    # -- processing ----------------------------------------------------------------------------

    async def _process_loop(self) -> None:
        while True:
            item = await self._queue.get()
            batch = [item]
            while len(batch) < self.options.batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._process_isolated(batch)
            except Exception:  # never let the worker die: the journal keeps what is pending
                log.exception("%s: marking a failed input failed", self.id)
            finally:
                self._arm_expiry()
                self._add_busy(-len(batch))

    async def _process_isolated(self, batch: list[_Item]) -> None:
        """Process ``batch``; if it fails, each input again alone, so that one input the worker
        cannot process (a bug, a mock fund's rule that cannot apply) does not take the others
        down with it. An input that fails alone is marked failed (:meth:`_failed`)."""
        try:
            await self._process(batch)
            return
        except Exception as exc:
            if len(batch) == 1:
                await self._failed(batch[0], exc)
                return
            log.warning(
                "%s: a batch of %d inputs failed (%s); processing each alone",
                self.id,
                len(batch),
                exc,
            )
        for item in batch:
            try:
                await self._process([item])
            except Exception as exc:
                await self._failed(item, exc)

    async def _failed(self, item: _Item, exc: Exception) -> None:
        """An input the worker failed on, alone: nothing of it was committed. Its caller gets
        the error; an inbound message is marked ``processing_failed`` with the reason (durable:
        health reports it, the case shows it, :meth:`retry_failed` hands it to the desk
        again), never left ``received`` with nothing to process it."""
        reason = f"processing failed in {self.id}: {type(exc).__name__}: {exc}"
        log.error("%s", reason, exc_info=exc)
        if item.future is not None and not item.future.done():
            item.future.set_exception(
                exc
                if isinstance(exc, JournalError)
                else EessiError(
                    f"the step could not be processed; nothing changed: {exc}",
                    code="node.step-failed",
                    where=self.id,
                    hint="see the node's log (a mock fund's rule that cannot apply is also in"
                    " its /api/mock/log)",
                )
            )
        record = item.record
        if record is None:
            return
        try:
            await self.journal.update_status(
                record.message_id,
                MessageStatus.PROCESSING_FAILED,
                at=self.clock.now(),
                error=reason,
            )
        except JournalError as mark:  # e.g. no longer "received": it was settled meanwhile
            log.error("%s: %s not marked processing_failed: %s", self.id, record.message_id, mark)

    async def retry_failed(self, *, case: str | None = None) -> list[str]:
        """Hand the inbound messages whose processing failed (``processing_failed``) to the
        desk again, only those of ``case`` if given; returns their IDs. Remove the cause first
        (a mock fund's reset does this after dropping its rules)."""
        failed = await self.journal.messages(
            case=case, direction=Direction.IN, status=MessageStatus.PROCESSING_FAILED
        )
        at = self.clock.now()
        for record in failed:
            await self.journal.update_status(
                record.message_id, MessageStatus.RECEIVED, at=at, error=None
            )
            self._enqueue(
                _Item("inbound", replace(record, status=MessageStatus.RECEIVED, last_error=None))
            )
        return [r.message_id for r in failed]

    async def _process(self, batch: list[_Item]) -> None:
        before = self.desk.snapshot()
        parked = {case: list(items) for case, items in self._parked.items()}
        done: list[_Done] = []
        try:
            for item in batch:
                self._handle(item, done)
            self._expire_parked(done)
            if not done:
                return
            self._crash_point("before-commit", self._first_inbound_type(batch))
            await self._commit(done)
        except BaseException:
            # Nothing was committed: put the desk (and the parked documents it unparked) back
            # as they were; the caller decides what becomes of the batch (_process_isolated).
            self.desk = self._make_desk(self._step_clock, self._step_ids, before)
            self._parked = parked
            raise
        self._crash_point("after-commit", self._first_inbound_type(batch))
        for d in done:
            if d.expired:
                self.stats["expired"] += 1
            elif d.inbound_id is not None:
                self.stats["rejected" if d.error else "processed"] += 1
            for record, osed in d.outbound:
                if osed.copies > 1:
                    self._copies[record.message_id] = osed.copies - 1
                self._add_busy(1)
                self._schedule(record, record.next_attempt_at, retry=False)
            if d.messages is not None:
                d.messages.extend(record.message_id for record, _ in d.outbound)
            if d.future is not None and not d.future.done():
                d.future.set_result(d.step)
        every = self.options.checkpoint_every
        if every and self._checkpoints.pending >= every:
            await self._checkpoint()

    @staticmethod
    def _first_inbound_type(batch: list[_Item]) -> str | None:
        for item in batch:
            if item.record is not None:
                return item.record.sed_type
        return None

    async def _commit(self, done: list[_Done]) -> None:
        touched: set[str] = set()
        last = done[-1].at
        cases = self.desk.snapshot().cases
        logged: list[CaseEvent] = []
        async with self.journal.transaction() as tx:
            for d in done:
                if d.log_entry is not None:
                    logged.append(
                        await tx.append_event(
                            INPUT_LOG, "input", d.log_entry, at=d.at, message_id=d.inbound_id
                        )
                    )
                by_case: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
                for case_id, kind, data in d.events:
                    by_case.setdefault(case_id, []).append((kind, data))
                for case_id, events in by_case.items():  # one call per case: bulk-able
                    await tx.append_events(case_id, events, at=d.at, message_id=d.inbound_id)
                for record, _ in d.outbound:
                    await tx.enqueue_outbound(record)
                if d.inbound_id is not None:
                    await tx.mark_processed(d.inbound_id, at=d.at, error=d.error, expired=d.expired)
                touched |= d.cases
            for case_id in sorted(touched):
                cf = cases.get(case_id)
                if cf is not None:
                    await tx.save_case(case_id, case_state(cf), at=last)
        if logged:  # committed: the desk now holds the inputs up to the last one
            self._checkpoints.logged(logged[-1].seq, logged[-1].at, len(logged))

    def _handle(self, item: _Item, done: list[_Done]) -> None:
        """Run one input through the desk; append what to journal to ``done`` (or park it)."""
        at = self.clock.now()
        if item.kind == "expire":  # the batch's _expire_parked does the work
            return
        if item.kind == "submit":
            assert item.input is not None
            value = item.input
            try:
                step, drawn = self._run(at, lambda: self._apply(value))
            except EessiError as exc:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
                return
            self.stats["submitted"] += 1
            if isinstance(value, TimePassed) and not step.events and not step.outgoing:
                if item.future is not None and not item.future.done():
                    item.future.set_result(step)
                return
            entry: dict[str, Any] = {"kind": "input", "input": input_to_json(value), "ids": drawn}
            done.append(self._done(at, step, entry, None, item.future, set()))
            done[-1].messages = item.messages
            self._unpark(done, self._step_cases(step))
            return
        record = item.record
        assert record is not None
        try:
            root = item.root
            if root is None:  # after a restart: parse the journaled bytes again
                root = validate_or_raise(record.payload).root
            msg = self._document(record, from_element(root))
        except (EessiError, ValueError) as exc:
            reason = f"the document cannot be read: {exc}"
            done.append(self._rejected(at, record, reason))
            return
        try:
            step, drawn = self._run(at, lambda: self.desk.handle(msg))
        except DomainError as exc:
            if self._parkable(msg, exc):
                self.stats["parked"] += 1
                log.info("%s: parked %s %s (%s)", self.id, record.sed_type, msg.document_id, exc)
                item.root = root
                self._parked.setdefault(msg.case_id, []).append(item)
                return
            done.append(self._rejected(at, record, str(exc)))
            return
        entry = {
            "kind": "document",
            "case": msg.case_id,
            "buc": msg.buc,
            "document_id": msg.document_id,
            "answers": msg.answers,
            "ids": drawn,
        }
        done.append(self._done(at, step, entry, record.message_id, None, {msg.case_id}))
        self._unpark(done, self._step_cases(step) | {msg.case_id})

    # -- parked documents expire ---------------------------------------------------------------

    def _expiry_due(self, record: MessageRecord) -> datetime | None:
        limit = self.options.parked_expiry
        if limit is None:
            return None
        return (record.received_at or record.created_at) + timedelta(seconds=limit)

    def _expire_parked(self, done: list[_Done]) -> None:
        """Give up the parked documents that waited longer than ``parked_expiry``: each becomes
        an ``expired`` entry of this batch's transaction, with the X050 that answers its sender
        (see :meth:`_expired`). Runs at the end of every batch: on a virtual clock a
        :meth:`tick` after the clock moved, on the wall clock the timer of :meth:`_arm_expiry`
        (or any input), and the first batch after a restart (documents parked again on start
        whose time passed while the node was down)."""
        if self.options.parked_expiry is None or not self._parked:
            return
        now = self.clock.now()
        for case_id in list(self._parked):
            keep: list[_Item] = []
            for item in self._parked[case_id]:
                record = item.record
                due = self._expiry_due(record) if record is not None else None
                if record is not None and due is not None and due <= now:
                    done.append(self._expired(now, record))
                else:
                    keep.append(item)
            if keep:
                self._parked[case_id] = keep
            else:
                del self._parked[case_id]

    def _expired(self, at: datetime, record: MessageRecord) -> _Done:
        """The journal entry of a parked document given up, and the X050 (business exception
        ``03``, case unknown) telling its sender, in the sender's case. The X050's document ID
        is derived from the expired message (a restart that expires it again writes the same
        one). An X050 that expires is not answered (no exception about an exception)."""
        limit = self.options.parked_expiry or 0.0
        document_id, _, revision = record.message_id.partition("~")
        answers = record.ref_to_message_id
        reason = (
            f"{record.sed_type} {record.message_id} waited {limit:g} s for its case"
            f" {record.conversation_id}"
            + (f" or the document it answers ({answers})" if answers else "")
            + f" to become known at {self.id}; it expired unprocessed"
        )
        log.warning("%s: expired %s %s: %s", self.id, record.sed_type, record.message_id, reason)
        event = (
            record.conversation_id or DESK_LOG,
            "document-expired",
            {"message_id": record.message_id, "sed": record.sed_type, "reason": reason},
        )
        outbound: list[tuple[MessageRecord, OutboundSed]] = []
        if record.sed_type != "X050":
            try:
                concerned: SedReference | None = SedReference(
                    sed_type=record.sed_type,
                    sed_id=document_id,
                    sed_version=int(revision) if revision.isdigit() else 1,
                )
            except (EessiError, ValueError):  # an ID that is not a UUID: not named in the SED
                concerned = None
            version = (
                record.sed_version if record.sed_version in SUPPORTED_VERSIONS else CURRENT_VERSION
            )
            x050 = X050(
                version=version,
                exception=ExceptionCode.CASE_UNKNOWN,
                description=reason[:VERY_LONG],
                technical_code="node.parked-expired",
                concerned=concerned,
            )
            name = f"eessi-sim:expired:{self.id}:{record.sender}:{record.message_id}"
            out = Outgoing(
                receiver=record.sender,
                case_id=record.conversation_id,
                buc=self._buc_of(record.conversation_id, record.sed_type),
                sed=x050,
                document_id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            )
            built = self._outbound(at, out)
            if built is not None:
                outbound.append(built)
        return _Done(
            at, Step(), None, [event], outbound, set(), record.message_id, reason, expired=True
        )

    def _arm_expiry(self) -> None:
        """On the wall clock, (re)arm one timer for the earliest parked document's expiry; it
        queues an ``expire`` input (on a virtual clock :meth:`tick` does it, D11)."""
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        if not self._parked or self.virtual_time or not self._started:
            return
        dues = [
            due
            for items in self._parked.values()
            for item in items
            if item.record is not None and (due := self._expiry_due(item.record)) is not None
        ]
        if not dues:
            return
        delay = max(0.0, (min(dues) - self.clock.now()).total_seconds())

        def fire() -> None:
            self._expiry_timer = None
            self._enqueue(_Item("expire"))

        self._expiry_timer = asyncio.get_running_loop().call_later(delay, fire)

    def _unpark(self, done: list[_Done], cases: Iterable[str]) -> None:
        for case_id in cases:
            waiting = self._parked.pop(case_id, None)
            if not waiting:
                continue
            for item in waiting:  # each may park again (it is then re-listed)
                self._handle(item, done)

    @staticmethod
    def _step_cases(step: Step) -> set[str]:
        cases = {o.case_id for o in step.outgoing}
        for ev in step.events:
            case_id = event_case(ev)
            if case_id is not None:
                cases.add(case_id)
        return cases

    def _rejected(self, at: datetime, record: MessageRecord, reason: str) -> _Done:
        log.warning("%s: rejected %s %s: %s", self.id, record.sed_type, record.message_id, reason)
        event = (
            record.conversation_id or DESK_LOG,
            "document-rejected",
            {"message_id": record.message_id, "sed": record.sed_type, "reason": reason},
        )
        return _Done(at, Step(), None, [event], [], set(), record.message_id, reason)

    def _run(self, at: datetime, act: Callable[[], Step]) -> tuple[Step, list[str]]:
        self._step_clock.fixed = at
        self._step_ids.drawn = []
        try:
            step = act()
            drawn = self._step_ids.drawn
        finally:
            self._step_ids.drawn = None
            self._step_clock.fixed = None
        return step, drawn

    def _apply(self, value: SubmitInput) -> Step:
        return apply_input(self.desk, value, cns_id=self._cns_id, where=self.id)

    def _document(self, record: MessageRecord, sed: Document) -> DocumentReceived:
        document_id = record.message_id.partition("~")[0]
        case_id = record.conversation_id
        return DocumentReceived(
            case_id,
            self._buc_of(case_id, sed.code),
            record.sender,
            document_id,
            sed,
            record.ref_to_message_id,
        )

    def _buc_of(self, case_id: str, code: str) -> str:
        cf = self.desk.snapshot().cases.get(case_id)
        if cf is not None:
            return cf.buc
        for buc in BUCS.values():
            if buc.starter == code:
                return buc.name
        kind = SEDS.get(code)
        return kind.bucs[0] if kind is not None and kind.bucs else "S_BUC_01"

    def _parkable(self, msg: DocumentReceived, exc: DomainError) -> bool:
        """Could this document become legal later? Only if the desk refused it because its case
        or the document it answers is not known yet (it may still be on its way). Any other
        refusal is final, and so is a document that opens a case and fails: it is rejected."""
        details = exc.details
        if details.get("case_id", msg.case_id) != msg.case_id:
            return False  # the refusal is about another case (e.g. the desk's own step)
        cf = self.desk.snapshot().cases.get(msg.case_id)
        if cf is None:
            return exc.code == "protocol.unknown-case"
        answers = msg.answers if msg.answers is not None else reference_of(msg.sed)
        if answers is None:
            return False
        history = cf.snapshot.history
        if any(ex.document.document_id == answers for ex in history):
            return False
        if any(
            ex.document.document_id == msg.document_id
            and (ex.document.code != msg.sed.code or ex.direction is not CaseDirection.RECEIVE)
            for ex in history
        ):
            return False  # its document ID already names another document: never legal
        if exc.code == "protocol.unknown-document":
            return True
        document = details.get("document")
        return (
            exc.code == "protocol.illegal-step"
            and details.get("direction") == CaseDirection.RECEIVE.value
            and isinstance(document, Mapping)
            and document.get("document_id") == msg.document_id
        )

    def _done(
        self,
        at: datetime,
        step: Step,
        entry: dict[str, Any],
        inbound_id: str | None,
        future: asyncio.Future[Step] | None,
        cases: set[str],
    ) -> _Done:
        events: list[tuple[str, str, dict[str, Any]]] = []
        default_case = next(iter(cases)) if len(cases) == 1 else DESK_LOG
        for ev in step.events:
            kind, data = event_json(ev)
            case_id = event_case(ev) or default_case
            events.append((case_id, kind, data))
            if case_id != DESK_LOG:
                cases.add(case_id)
        cases |= {o.case_id for o in step.outgoing}
        outbound = []
        for out in step.outgoing:
            built = self._outbound(at, out)
            if built is None:
                events.append(
                    (out.case_id, "send-dropped", {"sed": out.sed.code, "to": out.receiver})
                )
            else:
                outbound.append(built)
        return _Done(at, step, entry, events, outbound, cases, inbound_id, None, future)

    # -- outbound ------------------------------------------------------------------------------

    def _message_id(self, out: Outgoing) -> str:
        cf = self.desk.snapshot().cases.get(out.case_id)
        revision = 1
        if cf is not None:
            for ex in reversed(cf.snapshot.history):
                if ex.document.document_id == out.document_id:
                    revision = ex.revision
                    break
        return out.document_id if revision <= 1 else f"{out.document_id}~{revision}"

    def _version_for(self, receiver: str, sed: Document) -> str:
        """The newest version both sides support, if the document's own is not one of them."""
        peer = self.directory.find(receiver)
        if peer is None or not peer.versions:
            return sed.version
        kind = SEDS.get(sed.code)
        common = [
            v
            for v in peer.versions
            if v in self.accept_versions and (kind is None or v in kind.versions)
        ]
        if not common or sed.version in common:
            return sed.version
        return max(common, key=_version_key)

    def _outbound(self, at: datetime, out: Outgoing) -> tuple[MessageRecord, OutboundSed] | None:
        sed = out.sed
        version = self._version_for(out.receiver, sed)
        if version != sed.version:
            try:
                sed = replace(sed, version=version)
            except (EessiError, ValueError, TypeError):
                log.warning("%s: %s cannot be written in version %s", self.id, sed.code, version)
        osed: OutboundSed | None = OutboundSed(
            receiver=out.receiver,
            case_id=out.case_id,
            buc=out.buc,
            sed_type=sed.code,
            sed_version=sed.version,
            message_id=self._message_id(out),
            ref_to_message_id=out.answers,
            payload=sed.to_xml(),
        )
        assert osed is not None
        osed = self.outbound_policy.outbound(osed, out)
        if osed is None:
            return None
        message = UserMessage.for_payload(
            osed.payload,
            message_id=osed.message_id,
            timestamp=at,
            from_party=self.id,
            to_party=osed.receiver,
            conversation_id=osed.case_id,
            sed_type=osed.sed_type,
            sed_version=osed.sed_version,
            ref_to_message_id=osed.ref_to_message_id,
        )
        record = MessageRecord(
            message_id=osed.message_id,
            direction=Direction.OUT,
            sender=self.id,
            receiver=osed.receiver,
            conversation_id=osed.case_id,
            ref_to_message_id=osed.ref_to_message_id,
            sed_type=osed.sed_type,
            sed_version=osed.sed_version,
            service=SERVICE,
            action=ACTION,
            created_at=at,
            envelope=encode(message),
            payload=osed.payload,
            status=MessageStatus.QUEUED,
            next_attempt_at=at + timedelta(seconds=osed.delay) if osed.delay > 0 else None,
        )
        return record, osed

    def _schedule(self, record: MessageRecord, due: datetime | None, *, retry: bool) -> None:
        """Put ``record`` (counted in ``busy`` by the caller) on the send queue now, or when
        ``due`` comes.

        * Wall clock (:class:`SystemClock`): a real timer, for delays and retries alike.
        * Virtual clock: the message is *held* and :meth:`tick` releases it once the clock has
          passed ``due`` (a delay of a day waits for the scenario to move the clock a day; it
          is not in flight meanwhile, so :meth:`idle` returns). A **retry** also keeps its real
          timer and stays in flight: back-off is the transport's own machinery (a peer failing
          twice must be retried within a scenario step whose clock stands still), and a tick
          past ``next_attempt_at`` sends it at once. See docs/decisions.md (D11).
        """
        delay = 0.0 if due is None else (due - self.clock.now()).total_seconds()
        if delay <= 0:
            self._sendq.put_nowait(record)
            return
        mid = record.message_id
        if self.virtual_time:
            assert due is not None
            self._held[mid] = (due, record, retry)
            if not retry:
                self._add_busy(-1)
                return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(mid, None)
            self._held.pop(mid, None)
            self._sendq.put_nowait(record)

        self._timers[mid] = loop.call_later(delay, fire)

    async def _send_loop(self) -> None:
        while True:
            record = await self._sendq.get()
            try:
                final = await self._deliver(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: sending %s failed", self.id, record.message_id)
                final = True
            if final:
                self._add_busy(-1)

    @staticmethod
    def _user_message(record: MessageRecord) -> UserMessage:
        return UserMessage.for_payload(
            record.payload,
            message_id=record.message_id,
            timestamp=record.created_at,
            from_party=record.sender,
            to_party=record.receiver,
            conversation_id=record.conversation_id,
            sed_type=record.sed_type,
            sed_version=record.sed_version,
            ref_to_message_id=record.ref_to_message_id,
        )

    async def _deliver(self, record: MessageRecord) -> bool:
        """One attempt; returns whether the message reached a final status."""
        assert self._sender is not None
        mid = record.message_id
        peer = self.directory.find(record.receiver)
        if peer is None or not peer.eessi:
            why = (
                f"the receiver {record.receiver} is not in the directory"
                if peer is None
                else f"the receiver {record.receiver} is outside EESSI (eessi = false)"
            )
            await self._fail(record, f"{why}; nothing was sent")
            return True
        # update_status: the changed fields only (no blobs read back per status write, P2).
        sending = await self.journal.update_status(
            mid, MessageStatus.SENDING, at=self.clock.now(), error=None
        )
        self.stats["sent"] += 1
        # A receipt normally comes back within the same exchange; if it has not after
        # `waiting_after` seconds, the message is journaled as waiting_for_receipt (no cost on
        # the fast path: a timer, cancelled when the answer comes).
        waiting: list[asyncio.Task[StatusChange]] = []

        def mark_waiting() -> None:
            waiting.append(
                asyncio.create_task(
                    self.journal.update_status(
                        mid, MessageStatus.WAITING_FOR_RECEIPT, at=self.clock.now()
                    )
                )
            )

        timer = asyncio.get_running_loop().call_later(self.options.waiting_after, mark_waiting)
        try:
            result = await self._sender.send(
                peer.endpoint, self._user_message(record), record.payload
            )
        finally:
            timer.cancel()
            if waiting:
                await asyncio.gather(*waiting)
        now = self.clock.now()
        if result.ok:
            await self.journal.update_status(mid, MessageStatus.ACKNOWLEDGED, at=now)
            self.stats["acknowledged"] += 1
            extra = self._copies.pop(mid, 0)
            for _ in range(extra):  # simulated duplicates: same MessageId, same bytes
                await self._sender.send(peer.endpoint, self._user_message(record), record.payload)
            return True
        reason = result.reason or "no receipt"
        if result.failure is Failure.REFUSED_BY_PEER:
            await self._fail(record, reason)
            return True
        attempts = sending.attempts
        budget = self.options.retry.max_attempts
        if attempts >= budget:
            await self._fail(record, f"no receipt after {attempts} attempt(s): {reason}")
            return True
        delay = self.options.retry.delay(attempts - 1, self.rng)
        due = now + timedelta(seconds=delay)
        change = await self.journal.update_status(
            mid, MessageStatus.RETRYING, at=now, next_attempt_at=due, error=reason
        )
        retrying = replace(
            record,
            status=change.status,
            attempts=change.attempts,
            sent_at=change.sent_at,
            next_attempt_at=change.next_attempt_at,
            last_error=change.last_error,
            updated_at=change.updated_at,
        )
        self.stats["retried"] += 1
        log.info("%s: %s to %s: retry in %.2fs (%s)", self.id, mid, record.receiver, delay, reason)
        self._schedule(retrying, due, retry=True)
        return False

    async def _fail(self, record: MessageRecord, reason: str) -> None:
        self.stats["failed"] += 1
        log.warning(
            "%s: %s %s to %s FAILED: %s",
            self.id,
            record.sed_type,
            record.message_id,
            record.receiver,
            reason,
        )
        await self.journal.update_status(
            record.message_id, MessageStatus.FAILED, at=self.clock.now(), error=reason
        )

    # -- restart -------------------------------------------------------------------------------

    async def _restore(self) -> None:
        """Rebuild the desk's state: from the journal's checkpoint if there is a usable one,
        then by replaying the input log after it (all of it without one; see the module
        docstring and :mod:`eessi.node.checkpoint`).

        The replay starts from a fresh desk (or the checkpoint's state): the journal is the only
        source of state, so a ``start()`` after ``stop()`` on the same object does not feed the
        inputs twice."""
        self.desk = self._make_desk(self._step_clock, self._step_ids, None)
        restored = await self._checkpoints.restore(self.desk.snapshot())
        after = 0
        if restored is not None:
            self.desk = self._make_desk(self._step_clock, self._step_ids, restored)
            after = self._checkpoints.input_seq
            log.info("%s: desk restored from the checkpoint at input %d", self.id, after)
        entries = await self.journal.case_events_after(INPUT_LOG, after)
        if not entries:
            return
        inbound: dict[str, MessageRecord] = {}
        if after == 0:  # the whole log: one query for every processed message
            inbound = {
                r.message_id: r
                for r in await self.journal.messages(
                    direction=Direction.IN, status=MessageStatus.PROCESSED
                )
            }
        for ev in entries:
            data = ev.data
            record = None
            if data.get("kind") == "document":
                record = inbound.get(ev.message_id or "")
                if record is None and after and ev.message_id:
                    record = await self.journal.message(ev.message_id, Direction.IN)
                    if record is not None and record.status is not MessageStatus.PROCESSED:
                        record = None
            self._step_ids.replay = deque(data.get("ids", ()))
            self._step_clock.fixed = ev.at
            try:
                if data.get("kind") == "document":
                    if record is None:
                        raise JournalError(
                            f"the input log names message {ev.message_id}, which is not a"
                            " processed inbound message",
                            code="journal.replay-diverged",
                            where=f"input {ev.seq}",
                            hint="the journal is damaged; start with a new one",
                        )
                    sed = from_element(validate_or_raise(record.payload).root)
                    msg = DocumentReceived(
                        data["case"],
                        data["buc"],
                        record.sender,
                        data["document_id"],
                        sed,
                        data.get("answers"),
                    )
                    self.desk.handle(msg)
                else:
                    self._apply(input_from_json(data["input"]))
            except EessiError as exc:
                if isinstance(exc, JournalError):
                    raise
                raise JournalError(
                    f"replaying input {ev.seq} of the journal failed: {exc}",
                    code="journal.replay-diverged",
                    where=str(getattr(self.journal, "path", self.id)),
                    hint="the households, directory or code changed since the journal was"
                    " written; start with a new journal (or the original files)",
                ) from exc
            finally:
                self._step_ids.replay = None
                self._step_clock.fixed = None
            self.stats["replayed"] += 1
        self._checkpoints.logged(entries[-1].seq, entries[-1].at, len(entries))
        log.info("%s: desk restored from %d journaled inputs", self.id, len(entries))

    async def _checkpoint(self) -> None:
        """Checkpoint the desk's state (the inputs committed so far); a failure is logged and
        changes nothing (the previous checkpoint stays, the next one rewrites it all)."""
        try:
            written = await self._checkpoints.save(self.desk.snapshot())
        except Exception as exc:  # never fails the batch: it is committed, the log has it
            log.warning("%s: the checkpoint could not be written: %s", self.id, exc, exc_info=exc)
            return
        log.debug(
            "%s: checkpoint at input %d (%d entries written)",
            self.id,
            self._checkpoints.input_seq,
            written,
        )

    # -- timers --------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        interval = self.options.tick_interval
        assert interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except EessiError as exc:
                log.warning("%s: tick failed: %s", self.id, exc)
