"""One institution of the network: the glue between transport, journal and the pure core.

Theory of operation
-------------------
::

    POST /as4 ─► InboundEndpoint (size, framing, envelope, To, signature, digest, version)
              ─► inbox.on_message: SED validated (one parse) ─► journal.accept_inbound
              ─► receipt                  (a duplicate MessageId gets its receipt again, no more)
              ─► worker queue ─► one worker task: desk.handle(...) for a batch of inputs
              ─► ONE journal transaction per batch: input log, case events, case snapshots,
                 outbound SEDs (transactional outbox), inbound marked processed
              ─► outbox: send workers post each SED, journaling sending → acknowledged /
                 retrying (back-off with jitter, persisted next_attempt_at) → failed

The parts live in their own modules: :mod:`eessi.node.inbox` (accept, park, unpark, expire),
:mod:`eessi.node.worker` (batches, commit), :mod:`eessi.node.outbox` (build, schedule, deliver,
retry), :mod:`eessi.node.restore` (restart, checkpoints); :mod:`eessi.node.options` and
:mod:`eessi.node.steps` hold what they share. :class:`Institution` wires them and runs the
lifecycle (start, stop, reset, submit, tick, idle).

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
import importlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from eessi.clock import Clock, SystemClock
from eessi.core.fund import FundDesk
from eessi.core.messages import Step, TimePassed
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import DomainError, EessiError
from eessi.ids import IdGenerator, RandomIds
from eessi.journal.base import Direction, Journal, MessageStatus
from eessi.node.checkpoint import DeskCheckpoints
from eessi.node.desk_factory import Desk, DeskFactory
from eessi.node.hooks import (
    DeliveryListener,
    InboundInterceptor,
    NoOpInbound,
    NoOpOutbound,
    OutboundPolicy,
)
from eessi.node.inbox import Inbox, delivered_record
from eessi.node.inputs import (
    CloseCase,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    SubmitInput,
)
from eessi.node.message_ids import AnsweredMessages
from eessi.node.options import CRASH_ENV, DEFAULT_PARKED_EXPIRY, NodeOptions
from eessi.node.outbox import Outbox
from eessi.node.restore import checkpoint, restore
from eessi.node.steps import Answer, Item, StepClock, StepIds, default_signal_ids
from eessi.node.worker import Worker
from eessi.sed.catalogue import SUPPORTED_VERSIONS
from eessi.transport.http import http_transport
from eessi.transport.limits import InboundLimits
from eessi.transport.seam import Transport, TransportFactory, TransportSetup
from eessi.web import add_dashboard

if TYPE_CHECKING:
    from eessi.transport.hmac_endpoint import InboundEndpoint

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


class Institution:
    """One running institution (see the module docstring).

    Build it with a directory entry, its journal and a desk factory
    (:func:`eessi.node.desk_factory.desk_factory`); ``await start()``; ``await stop()``.
    Its parts, each in its module: :attr:`inbox` (accept, park, unpark, expire),
    :attr:`worker` (batches, commit), :attr:`outbox` (schedule, deliver, retry) and
    :mod:`~eessi.node.restore` (restart from the journal, checkpoints).
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
        transport: TransportFactory | None = None,
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
        #: Where the jitter's RNG started (a reset, :meth:`restart_empty`, goes back there).
        self._rng_start = self.rng.getstate()
        self.outbound_policy: OutboundPolicy = outbound_policy or NoOpOutbound()
        self.inbound_interceptor: InboundInterceptor = inbound_interceptor or NoOpInbound()
        #: Told of each inbound user message once handled (see :mod:`eessi.node.hooks`).
        self.delivery_listeners: list[DeliveryListener] = []
        #: Awaited at each start, once the desk is restored from the journal and before anything
        #: is processed or sent (a mock fund restores its journaled rules here).
        self.start_hooks: list[Callable[[], Awaitable[None]]] = []
        self.accept_versions = self.options.accept_versions or entry.versions or SUPPORTED_VERSIONS
        self.step_clock = StepClock(self.clock)
        self.step_ids = StepIds(self._ids)
        self.make_desk = make_desk
        self.desk: Desk = make_desk(self.step_clock, self.step_ids, None)
        self.checkpoints = DeskCheckpoints(journal, entry.id)
        self.inbox = Inbox(self)
        self.worker = Worker(self)
        self.outbox = Outbox(self)
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
        self._host = host or urlsplit(entry.endpoint).hostname or "127.0.0.1"
        #: The admin API's application: served on the endpoint's port by a transport that
        #: listens on HTTP (add routes before ``start()``).
        self.app = web.Application(client_max_size=max(self.options.max_body + 1, 1024**2))
        self._mount_admin()
        #: What carries this node's messages (:mod:`eessi.transport.seam`): HTTP by default.
        self.transport: Transport = (transport or http_transport)(
            TransportSetup(
                entry=entry,
                directory=directory,
                on_message=self.inbox.on_message,
                on_refused=self.inbox.on_refused,
                clock=self.clock,
                signal_ids=self._signal_ids,
                rng=self.rng,
                max_body=self.options.max_body,
                accept_versions=tuple(self.accept_versions),
                limits=self._inbound_limits(),
                connections=self.options.send_workers,
                app=self.app,
                host=host,
                session=session,
                bind_admin=self.options.bind_admin,
                reuse_port=self.options.reuse_port,
            )
        )
        self.url: str | None = None
        self.endpoint_url: str | None = None
        #: Whether the transport is serving (kept across :meth:`restart_empty`).
        self._serving = False
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        #: Between ``start()`` and ``stop()`` (the inbox arms expiry timers only then).
        self.started = False
        #: True once the journal is restored and the endpoint is open; false again while
        #: stopping or restoring after a reset (``GET /api/health/ready``).
        self.ready = False
        #: False while this process is a standby of a shared institution: it accepts inbound
        #: messages (journaled) but runs no desk, sends nothing (:mod:`eessi.node.partitions`).
        self.active = True
        #: Inbound messages are queued for the desk from the journal by the owner's pickup
        #: (:mod:`eessi.node.partitions`), not where they were accepted.
        self.inbound_from_journal = False
        #: The MessageId of each received document whose MessageId is not its own ID (a
        #: Domibus ``<uuid>@<host>``): a reply's RefToMessageId names it (D165).
        self.answered = AnsweredMessages()
        #: Where :meth:`submit` sends inputs instead of this node's desk: the desks of the
        #: institution's partitions (:mod:`eessi.node.partitions`).
        self.submit_to: Callable[[SubmitInput, list[str] | None], Awaitable[Step]] | None = None

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
            add_dashboard(self.app, self, host=self._host)  # /ui/ (eessi.web)
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
            for items in self.inbox.parked.values()
            for item in items
            if item.record is not None
        ]

    async def start(
        self, *, host: str | None = None, port: int | None = None, standby: bool = False
    ) -> None:
        """Restore from the journal, then serve on ``host:port`` (default: the entry's endpoint;
        port 0 picks a free one, see :attr:`url`). ``standby``: only serve (accept and journal
        inbound messages) until :meth:`activate` (:mod:`eessi.node.partitions`)."""
        if self.started:
            return
        self.started = True
        try:
            if standby:
                self.active = False
                await self._serve(host, port)
            else:
                await self._start(host, port)
        except BaseException:
            # A refused start (a port in use, a diverged journal...) leaves nothing running:
            # no task, timer, listening socket or HTTP session outlives it (the journal is
            # the caller's to close).
            await self.stop()
            raise

    async def activate(self) -> None:
        """A standby becomes the owner: restore the desk from the journal, resume what it
        holds (sends, unprocessed inbound), and run the worker, the senders and the timers."""
        if self.active:
            return
        await self._activate()
        self.active = True

    async def _start(self, host: str | None, port: int | None) -> None:
        await self._activate()
        await self._serve(host, port)

    async def _activate(self) -> None:
        await restore(self)
        for hook in self.start_hooks:
            await hook()
        now = self.clock.now()
        resumed = await self.journal.resume_interrupted_sends(at=now)
        if resumed:
            log.info("%s: %d interrupted send(s) resumed", self.id, len(resumed))
        self._tasks.append(asyncio.create_task(self.worker.loop(), name=f"{self.id} process"))
        for i in range(max(1, self.options.send_workers)):
            self._tasks.append(asyncio.create_task(self.outbox.loop(), name=f"{self.id} send {i}"))
        pending = await self.journal.messages(
            direction=Direction.OUT, status=[MessageStatus.QUEUED, MessageStatus.RETRYING]
        )
        for rec in pending:
            self.add_busy(1)
            self.outbox.schedule(
                rec, rec.next_attempt_at, retry=rec.status is MessageStatus.RETRYING
            )
        if not self.inbound_from_journal:  # else the owner's pickup queues them
            for rec in await self.journal.unprocessed_inbound():
                self.worker.enqueue(Item("inbound", rec))
        if self.options.tick_interval:
            self._tasks.append(asyncio.create_task(self._tick_loop(), name=f"{self.id} tick"))

    async def _serve(self, host: str | None, port: int | None) -> None:
        if not self._serving:  # not a reset (:meth:`restart_empty`): open the endpoint now
            await self.transport.start(host=host, port=port)
            self._serving = True
            self.url = self.transport.url
            self.endpoint_url = self.transport.endpoint_url
        self.ready = True

    async def stop(self) -> None:
        """Stop serving and cancel every background task (pending work stays in the journal)."""
        self.ready = False
        if self._serving:
            await self.transport.stop()
            self._serving = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.checkpoints.pending and self.options.checkpoint_every != 0:
            # The worker is stopped: the desk holds exactly what was committed.
            await checkpoint(self)
        self.outbox.clear()
        self.worker.clear()
        self.inbox.clear()
        self.add_busy(-self._busy)
        self.started = False

    async def restart_empty(self, journal: Journal) -> None:
        """Start again from nothing on ``journal`` (an empty one), still serving: every task,
        timer, queue and held message dropped as :meth:`stop` does, the desk rebuilt from its
        factory (the households), and every seeded generator back to where it started (the
        desk's IDs, the transport's receipt and error-signal IDs, the retry jitter), so what
        follows is exactly a fresh run of the same seed. The reset (``POST /api/reset``); the
        caller closes the old journal."""
        serving, self._serving = self._serving, False
        try:
            await self.stop()
        finally:
            self._serving = serving
        self.journal = journal
        self.checkpoints = DeskCheckpoints(journal, self.entry.id)
        # Rewound in place: the transport holds the same signal generator and RNG.
        for generator in (self._ids, self._signal_ids):
            rewind = getattr(generator, "rewind", None)
            if rewind is not None:
                rewind()
        self.rng.setstate(self._rng_start)
        self.step_ids = StepIds(self._ids)
        self.desk = self.make_desk(self.step_clock, self.step_ids, None)
        self.stats = dict.fromkeys(self.stats, 0)
        self.started = True
        await self._start(None, None)

    async def __aenter__(self) -> Institution:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def submit(
        self, value: SubmitInput, *, messages: list[str] | None = None, answer: Answer | None = None
    ) -> Step:
        """Hand the desk an input (a request, a provided document, a fund's action...).

        Returns the desk's :class:`Step` once it and the SEDs it sends are journaled. Raises the
        core's :class:`~eessi.errors.DomainError` (nothing changed) if the input is refused.
        ``messages``, if given, gets the IDs of the outbound messages the step journaled (as the
        outbound policy named them), so a caller need not search the journal for them.
        ``answer``, if given, is called in the transaction that commits the step (a partition's
        owner stores a queued request's answer with its effect, D280); not called if the step
        commits nothing (a refusal, the time passing with nothing due).
        """
        self._check_submit(value)
        if self.submit_to is not None:  # a process of a partitioned institution
            return await self.submit_to(value, messages)
        if not self.active:
            raise EessiError(
                f"this process of {self.id} is a standby: another process owns the cases",
                code="node.standby",
                where=self.id,
                hint="send it to the process that owns the cases (it logged 'owns the cases';"
                " see docs/deployment.md)",
            )
        future: asyncio.Future[Step] = asyncio.get_running_loop().create_future()
        self.worker.enqueue(
            Item("submit", input=value, future=future, messages=messages, answer=answer)
        )
        return await future

    async def tick(self, *, messages: list[str] | None = None) -> Step:
        """Tell the desk the time is now (reminders for overdue replies).

        On a virtual clock it first releases the outbound messages held until a time the clock
        has now passed (a delayed SED, a retry whose back-off is over): they go to the send
        queue (:meth:`idle` waits for them)."""
        self.outbox.release_due()
        return await self.submit(TimePassed(self.clock.now()), messages=messages)

    @property
    def virtual_time(self) -> bool:
        """Whether the node's clock is not the wall clock (then waits are released by
        :meth:`tick`, see ``Outbox.schedule``)."""
        return not isinstance(self.clock, SystemClock)

    @property
    def held(self) -> list[str]:
        """Message IDs of outbound messages waiting for the virtual clock to pass their time."""
        return list(self.outbox.held)

    def release_due(self) -> int:
        """Send now every held message whose time the clock has passed; how many."""
        return self.outbox.release_due()

    async def idle(self) -> None:
        """Wait until nothing is in flight: every input handled (or parked), every outbound
        message acknowledged or failed. Bound it with ``asyncio.timeout``.

        A message held on a virtual clock until a later time (a delayed SED) is not in flight:
        nothing releases it but :meth:`tick` after the clock moves. A retry waits for its
        back-off in real time as well, so it stays in flight (see ``Outbox.schedule``)."""
        while self._busy > 0:
            await self._idle.wait()

    @property
    def busy(self) -> int:
        """Inputs and outbound messages in flight."""
        return self._busy

    def add_busy(self, n: int) -> None:
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
            to = value.to or self.cns_id()
            peer = self.directory.find(to)
            if peer is None or not peer.eessi:
                raise DomainError(
                    f"the receiver {to} is not an EESSI institution of the directory",
                    where=self.directory.source,
                    hint=f"known institutions: {', '.join(self.directory.ids)}",
                    code="node.unknown-receiver",
                )

    def cns_id(self) -> str:
        cns = self.directory.of_kind("cns")
        return cns[0].id if cns else "LU:CNS00001"

    def _inbound_limits(self) -> InboundLimits:
        """The options' limits; on a virtual clock without the timestamp window: scenario time
        is not the senders' time (an external system stamps real time, a retry can be days old
        in scenario time), see D38."""
        limits = self.options.inbound_limits
        if self.virtual_time:
            limits = replace(limits, max_clock_skew=None, max_message_age=None)
        return limits

    @property
    def endpoint(self) -> InboundEndpoint | None:
        """The HTTP transport's inbound endpoint (its counters), ``None`` on another one."""
        from eessi.transport.hmac_endpoint import InboundEndpoint  # when asked (D232)

        endpoint = getattr(self.transport, "endpoint", None)
        return endpoint if isinstance(endpoint, InboundEndpoint) else None

    async def retry_failed(self, *, case: str | None = None) -> list[str]:
        """Hand the inbound messages whose processing failed (``processing_failed``) to the
        desk again, only those of ``case`` if given; returns their IDs. Remove the cause first
        (a mock fund's reset does this after dropping its rules)."""
        return await self.worker.retry_failed(case=case)

    async def _tick_loop(self) -> None:
        interval = self.options.tick_interval
        assert interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except EessiError as exc:
                log.warning("%s: tick failed: %s", self.id, exc)
