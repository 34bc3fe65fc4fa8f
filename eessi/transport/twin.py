"""The in-memory twin of the transport: institutions of one process hand messages over directly.

A :class:`TwinHub` is one little network: its :meth:`~TwinHub.factory` is a
:data:`~eessi.transport.seam.TransportFactory`, so every node built with it gets a
:class:`TwinTransport` registered in the hub while it is started. Nothing listens; no port is
chosen, so nothing races for one. What the receiving node does is the same code as over HTTP
(its inbox, journal, desk, worker): only the bytes' journey is skipped.

What it keeps of a real transport, because the node's behaviour depends on it:

* **signals**: the receiver's ``on_message`` outcome becomes a
  :class:`~eessi.transport.envelope.Receipt` or :class:`~eessi.transport.envelope.ErrorSignal`
  made with the *receiver's* clock and signal IDs (as its HTTP endpoint would); a duplicate
  MessageId gets its receipt again (the receiver's journal decides, as over HTTP);
* **the receiver's own checks**: sender not in its directory (``EBMS:0101``), message larger
  than its ``max_body`` (``EBMS:0006``... the same codes as the HTTP endpoint), Timestamp outside
  its window, SED version it does not accept (``EBMS:0010``); each reported to its
  ``on_refused`` before the error signal;
* **failures**: a receiver that is stopped (or was never started, or crashed) is a connection
  failure and the sender retries per its policy; ``on_message`` that raises is ``EBMS:0004``
  503 (retried); an answer slower than the policy's ``attempt_timeout`` is a timeout (retried),
  while the receiver goes on handling it (as a server does after the client gave up); an
  interceptor's ``reset`` (:attr:`~eessi.transport.server.Inbound.abort`) is a reset
  connection; a refusal with a 5xx, 408, 425 or 429 code is retried, any other is final.
* **status updates** and retries with back-off, as :class:`~eessi.transport.client.Sender`.

What it leaves out: framing, the HMAC (nothing crosses a process boundary) and the per-address
limits (deadlines, connection caps, refusal rates: there is no address).

**Facing systems outside the process.** ``TwinHub(outside=factory)`` gives each node a second
transport built by ``factory`` (eDelivery AS4: :func:`eessi.as4.node_transport.as4_transport`;
``TwinHub(http=True)``: the legacy :class:`~eessi.transport.http.HttpTransport`): it listens on
the node's endpoint URL (for an external system under test) and carries what is sent to an
institution that is not a member of the hub, whose journaled envelope it builds (the bytes
posted); members still talk in memory. A member that is stopped is not reached over HTTP: it is
down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from eessi.errors import ConfigError
from eessi.transport import codes
from eessi.transport.client import (
    Refused,
    Retry,
    RetryPolicy,
    SendResult,
    SendStatus,
    StatusHook,
    deliver,
    refused_or_retry,
    report_status,
    retryable,
)
from eessi.transport.codes import EbmsCode
from eessi.transport.envelope import ErrorSignal, Receipt, UserMessage, encode
from eessi.transport.http import HttpTransport
from eessi.transport.seam import OutboundMessage, TransportSetup, user_message
from eessi.transport.server import Disposition, Inbound, Outcome, Refusal

__all__ = ["TwinHub", "TwinTransport"]

log = logging.getLogger("eessi.transport.twin")

#: HTTP statuses after which the sender tries again (besides 5xx), as the HTTP client does.


@dataclass(slots=True)
class _Exchange:
    """One attempt in flight: whether the receiver dropped it (``reset``)."""

    aborted: bool = False


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the receiver answered: a signal with the HTTP status it would have had."""

    signal: Receipt | ErrorSignal
    http_status: int


@dataclass(slots=True)
class TwinHub:
    """The institutions of one process that talk in memory (see the module docstring).

    ``outside`` builds each node's transport facing systems outside the process (``http``:
    the legacy HTTP transport)."""

    http: bool = False
    outside: Callable[[TransportSetup], HttpTransport] | None = None
    #: Started transports by IR ID.
    serving: dict[str, TwinTransport] = field(default_factory=dict)
    #: IR IDs of every transport this hub built (started or not).
    members: set[str] = field(default_factory=set)

    def factory(self, setup: TransportSetup) -> TwinTransport:
        """A :data:`~eessi.transport.seam.TransportFactory`: the twin of ``setup.entry``."""
        self.members.add(setup.entry.id)
        face = (
            self.outside(setup)
            if self.outside is not None
            else HttpTransport(setup)
            if self.http
            else None
        )
        return TwinTransport(self, setup, http=face)

    __call__ = factory


class TwinTransport:
    """One institution's transport in a :class:`TwinHub` (see the module docstring)."""

    def __init__(
        self,
        hub: TwinHub,
        setup: TransportSetup,
        *,
        http: HttpTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.hub = hub
        self.setup = setup
        self.http = http
        self.policy = policy if policy is not None else RetryPolicy()
        self.url: str | None = None
        self.endpoint_url: str | None = None
        #: Receiving tasks in flight here (cancelled at :meth:`stop`, as a server's handlers).
        self._handling: set[asyncio.Task[_Answer | None]] = set()
        #: Counters: messages handed in, and of them refused by the twin's own checks.
        self.counters: dict[str, int] = dict.fromkeys(("received", "refused"), 0)

    @property
    def id(self) -> str:
        return self.setup.entry.id

    @property
    def endpoint(self) -> object | None:
        """The HTTP endpoint facing outside systems, if any (its limit counters)."""
        return self.http.endpoint if self.http is not None else None

    # -- inbound -------------------------------------------------------------------------------

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        other = self.hub.serving.get(self.id)
        if other is not None and other is not self:
            raise ConfigError(
                f"{self.id} already runs in this in-memory network",
                code="node.cannot-listen",
                hint="stop the other node of that institution first",
            )
        if self.http is not None:
            await self.http.start(host=host, port=port)
            self.url, self.endpoint_url = self.http.url, self.http.endpoint_url
        self.hub.serving[self.id] = self

    async def stop(self) -> None:
        if self.hub.serving.get(self.id) is self:
            del self.hub.serving[self.id]
        handling = list(self._handling)
        for task in handling:
            task.cancel()
        for task in handling:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.http is not None:
            await self.http.stop()
        self.url = self.endpoint_url = None

    def _error(
        self, code: EbmsCode, reason: str, ref: str | None, detail: str | None
    ) -> ErrorSignal:
        return ErrorSignal(
            message_id=self.setup.signal_ids.uuid(),
            timestamp=self.setup.clock.now(),
            code=code.code,
            short_description=code.short_description,
            description=reason,
            ref_to_message_id=ref,
            detail=detail,
        )

    def _check(self, message: UserMessage, size: int) -> tuple[EbmsCode, str, str, bool] | None:
        """The receiver's own checks, in the HTTP endpoint's order: (code, reason, where,
        authenticated) of the first that fails."""
        setup = self.setup
        if size > setup.max_body:
            return (
                codes.TOO_LARGE,
                f"the message is {size} bytes; {self.id} accepts at most {setup.max_body}"
                " bytes per message (envelope and SED together); send a smaller document",
                "message size",
                False,
            )
        if setup.directory.credential(message.from_party) is None:
            return (
                codes.FAILED_AUTHENTICATION,
                f"the sender {message.from_party} is not in this institution's directory;"
                " only listed institutions may send",
                "/Messaging/UserMessage/PartyInfo/From/PartyId",
                False,
            )
        stale = setup.limits.check_timestamp(message.timestamp, setup.clock.now())
        if stale is not None:
            return (
                codes.VALUE_INCONSISTENT,
                stale,
                "/Messaging/UserMessage/MessageInfo/Timestamp",
                False,
            )
        if message.sed_version not in setup.accept_versions:
            accepted = ", ".join(setup.accept_versions)
            return (
                codes.PROCESSING_MODE_MISMATCH,
                f"{self.id} does not accept {message.sed_type} version"
                f" {message.sed_version}; supported versions: {accepted}",
                f"supported versions: {accepted}",
                True,
            )
        return None

    async def _receive(
        self, message: UserMessage, envelope: bytes, payload: bytes, peer: str, exchange: _Exchange
    ) -> _Answer | None:
        """Handle one handed-in message as the HTTP endpoint would; ``None``: dropped."""
        setup = self.setup
        received_at = setup.clock.now()
        self.counters["received"] += 1
        failed = self._check(message, len(envelope) + len(payload))
        if failed is not None:
            code, reason, where, authenticated = failed
            self.counters["refused"] += 1
            error = self._error(code, reason, message.message_id, where)
            status = code.http_status
            refusal = Refusal(
                error,
                status,
                received_at,
                message,
                envelope,
                payload,
                peer,
                authenticated=authenticated,
                body_size=len(envelope) + len(payload),
            )
            try:
                await setup.on_refused(refusal)
            except Exception:
                log.exception("on_refused failed for %s", message.message_id)
                return self._unavailable(message, "could not record the refusal")
            return _Answer(error, status)

        def abort() -> None:
            exchange.aborted = True

        inbound = Inbound(message, payload, envelope, received_at, peer, abort=abort)
        try:
            outcome: Outcome = await setup.on_message(inbound)
        except Exception:
            log.exception("on_message failed for %s", message.message_id)
            return self._unavailable(message, "could not store the message")
        if exchange.aborted:
            return None
        if outcome.disposition is Disposition.REFUSED:
            code = outcome.code or codes.OTHER
            error = self._error(
                code,
                outcome.reason or "the receiver refused the message",
                message.message_id,
                outcome.detail,
            )
            return _Answer(error, code.http_status)
        receipt = Receipt(
            message_id=setup.signal_ids.uuid(),
            timestamp=setup.clock.now(),
            ref_to_message_id=message.message_id,
        )
        return _Answer(receipt, 200)

    def _unavailable(self, message: UserMessage, what: str) -> _Answer:
        error = self._error(
            codes.UNAVAILABLE,
            f"the receiver {what}; nothing was kept, send it again later",
            message.message_id,
            None,
        )
        return _Answer(error, codes.UNAVAILABLE.http_status)

    def hand_in(
        self, message: UserMessage, envelope: bytes, payload: bytes, peer: str
    ) -> tuple[asyncio.Task[_Answer | None], _Exchange]:
        """Start handling a message from ``peer`` (a task of this receiver: it goes on when the
        sender stops waiting, and ends at this receiver's :meth:`stop`)."""
        exchange = _Exchange()
        task = asyncio.create_task(
            self._receive(message, envelope, payload, peer, exchange),
            name=f"{self.id} twin receive {message.message_id}",
        )
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)
        return task, exchange

    # -- outbound ------------------------------------------------------------------------------

    def envelope(self, message: OutboundMessage) -> bytes:
        if self.http is not None and message.receiver not in self.hub.members:
            return self.http.envelope(message)  # what the outside face will post
        return encode(user_message(message))

    async def send(
        self,
        message: OutboundMessage,
        *,
        policy: RetryPolicy | None = None,
        on_status: StatusHook | None = None,
    ) -> SendResult:
        policy = policy or self.policy
        if self.http is not None and message.receiver not in self.hub.members:
            return await self.http.send(message, policy=policy, on_status=on_status)
        um = user_message(message)
        envelope = encode(um)
        mid = message.message_id

        async def attempt(n: int) -> Receipt | Retry | Refused:
            result = await self._attempt(um, envelope, message.payload, policy)
            if isinstance(result, Retry):
                return result
            await report_status(on_status, mid, SendStatus.WAITING_FOR_RECEIPT, n)
            return _classify(result, message.receiver, mid)

        return await deliver(
            mid,
            f"{message.receiver} (in memory)",
            attempt,
            max_attempts=policy.max_attempts,
            delay=lambda n: policy.delay(n, self.setup.rng),
            sleep=asyncio.sleep,
            on_status=on_status,
        )

    async def _attempt(
        self, message: UserMessage, envelope: bytes, payload: bytes, policy: RetryPolicy
    ) -> _Answer | Retry:
        receiver = self.hub.serving.get(message.to_party)
        if receiver is None:
            return Retry(f"cannot connect to {message.to_party}: it is not running")
        task, exchange = receiver.hand_in(message, envelope, payload, f"twin:{self.id}")
        try:
            async with asyncio.timeout(policy.attempt_timeout):
                answer = await asyncio.shield(task)
        except TimeoutError:
            return Retry(f"no answer within {policy.attempt_timeout:g} s")
        except asyncio.CancelledError:
            if task.cancelled() and not _current_cancelling():
                return Retry(f"{message.to_party} stopped while handling the message")
            raise
        if answer is None or exchange.aborted:
            return Retry(f"{message.to_party} reset the connection")
        return answer


def _classify(answer: _Answer, receiver: str, message_id: str) -> Receipt | Retry | Refused:
    """What the receiver's answer means for the sender, as for the HTTP senders: 5xx, 408,
    425 and 429 may succeed later; a receipt must acknowledge this message."""
    signal, status = answer.signal, answer.http_status
    if isinstance(signal, ErrorSignal):
        return refused_or_retry(status, receiver, signal)
    if retryable(status):
        return Retry(f"HTTP {status} with a receipt", status)
    if signal.ref_to_message_id != message_id:
        return Retry(
            f"the receipt acknowledges {signal.ref_to_message_id}, not {message_id}", status
        )
    return signal


def _current_cancelling() -> bool:
    """Whether the running task itself is being cancelled (not only what it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
