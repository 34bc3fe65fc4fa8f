"""What every inbound endpoint does around its wire's own checks (D350).

The HMAC envelope's :class:`~eessi.transport.hmac_endpoint.InboundEndpoint` and eDelivery
AS4's :class:`~eessi.as4.transport.As4Endpoint` both answer ``POST <path>`` in the order
:mod:`eessi.transport.server` documents; :class:`BaseEndpoint` is the part of it that does not
depend on the wire:

* the refusal bucket of the peer address (429 with ``Retry-After``, body unread, nothing
  recorded), the body read with its size limit and deadline (413, 408:
  :func:`~eessi.transport.limits.read_body`), any method but POST (405, ``Allow: POST``);
* handing the checked message to ``on_message`` (503 when it raises: nothing was kept) and
  answering its :class:`~eessi.transport.server.Outcome`;
* a refusal's bookkeeping: the bucket spent, the counters, the bounded
  :class:`~eessi.transport.server.Refusal` for ``on_refused`` (503 when it raises), the
  connection closed after a 408 or 413.

A wire brings its checks (:meth:`BaseEndpoint._receive`, raising a :class:`Rejection`), what a
refused message is known to be (:meth:`BaseEndpoint._claim`), its error codes and signals,
its receipt and its texts; codes, statuses and messages stay each wire's own.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypedDict, TypeVar, Unpack

from aiohttp import web

from eessi.clock import Clock, SystemClock
from eessi.errors import TransportError
from eessi.ids import IdGenerator, RandomIds
from eessi.transport.envelope import ErrorSignal, UserMessage
from eessi.transport.limits import (
    BodyTimeout,
    InboundLimits,
    RefusalLimiter,
    late_body,
    rate_limited,
    read_body,
)
from eessi.transport.server import (
    _MAX_HEADER_CHARS,
    DEFAULT_MAX_BODY,
    DEFAULT_PATH,
    Disposition,
    Inbound,
    OnMessage,
    OnRefused,
    Outcome,
    Refusal,
)

__all__ = ["BaseEndpoint", "Claim", "EndpointOptions", "Received", "Rejection"]

#: A wire's error code (:class:`~eessi.transport.codes.EbmsCode`, AS4's ``EbmsError``).
C = TypeVar("C")
#: A wire's error signal.
S = TypeVar("S")
#: What a wire's checks keep for the receipt.
R = TypeVar("R")


class EndpointOptions(TypedDict, total=False):
    """What every endpoint takes besides its wire's own arguments (all optional)."""

    #: Largest body accepted, in bytes (default 1 MiB; more is a 413).
    max_body: int
    #: The SED versions this institution accepts (default ``("4.4",)``).
    accept_versions: Iterable[str]
    #: Told of every refusal before it is answered.
    on_refused: OnRefused | None
    #: The node's clock (``received_at``, signal timestamps, the Timestamp window).
    clock: Clock | None
    #: The MessageIds of the signals answered.
    ids: IdGenerator | None
    #: Where the endpoint is mounted (default ``/as4``).
    path: str
    #: What one peer address may cost (:class:`~eessi.transport.limits.InboundLimits`).
    limits: InboundLimits | None


@dataclass(frozen=True, slots=True)
class Claim:
    """What a refused message is known to be: the MessageId its error signal refers to, and
    what :class:`~eessi.transport.server.Refusal` records of it (``None``: not known)."""

    ref: str | None = None
    message: UserMessage | None = None
    envelope: bytes | None = None
    payload: bytes | None = None


class Rejection(TransportError):
    """Internal: stop checking and answer with an error signal of ``code`` and ``status``.

    ``code`` is the wire's (each endpoint raises and catches only its own; the class is not
    generic so that the exception tree stays one parent per class, tests/test_errors.py).
    ``claim``, when the wire sets it, is what the message was found to be before it was
    refused (see :meth:`BaseEndpoint._claim`)."""

    def __init__(
        self,
        code: Any,
        reason: str,
        *,
        detail: str | None = None,
        status: int,
        authenticated: bool = False,
    ) -> None:
        super().__init__(reason)
        self.ebms_code = code
        self.reason = reason
        self.detail = detail
        self.status = status
        self.authenticated = authenticated
        self.claim: Claim | None = None


@dataclass(frozen=True, slots=True)
class Received(Generic[R]):
    """A message that passed the wire's checks: what ``on_message`` gets, and ``wire``, what
    the wire makes its receipt from."""

    message: UserMessage
    payload: bytes
    envelope: bytes
    wire: R


class BaseEndpoint(ABC, Generic[C, S, R]):
    """One institution's inbound endpoint, without its wire (module docstring).

    ``other`` is the wire's ``EBMS:0004 Other`` code: wrong method, rate limited, too large,
    too slow, and a callback that failed are all answered with it (each with its own status).
    """

    #: Where :meth:`handle` logs a callback that raised.
    log: ClassVar[logging.Logger]
    #: What the endpoint takes, for the answer to a wrong method ("... post <it> ...").
    accepts: ClassVar[str]
    #: Said of ``max_body`` in a 413's reason, after "per message".
    size_note: ClassVar[str] = ""
    #: Request headers a refusal summary keeps (each cut to 200 characters; the HMAC
    #: envelope's endpoint adds its signature header).
    summary_headers: ClassVar[tuple[str, ...]] = (
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "User-Agent",
    )

    def __init__(
        self, on_message: OnMessage, local_id: str, *, other: C, **options: Unpack[EndpointOptions]
    ) -> None:
        clock, ids, limits = options.get("clock"), options.get("ids"), options.get("limits")
        self.on_message = on_message
        self.on_refused = options.get("on_refused")
        self.local_id = local_id
        self.max_body = options.get("max_body", DEFAULT_MAX_BODY)
        self.accept_versions = tuple(options.get("accept_versions", ("4.4",)))
        self.path = options.get("path", DEFAULT_PATH)
        self._other = other
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._ids: IdGenerator = ids if ids is not None else RandomIds()
        self.limits = limits if limits is not None else InboundLimits()
        self.refusals = RefusalLimiter(self.limits.refusal_rate, self.limits.refusal_burst)
        #: What the limits did: refusals answered, of them before authentication, requests
        #: answered 429 (rate limited, not recorded), bodies too slow (408).
        self.counters: dict[str, int] = dict.fromkeys(
            ("refused", "refused_unauthenticated", "rate_limited", "body_timeouts"), 0
        )

    # -- the wire's part -----------------------------------------------------------------------

    @abstractmethod
    def _receive(self, request: web.Request, body: bytes) -> Received[R]:
        """The wire's checks of ``body``: the message for ``on_message``, or a
        :class:`Rejection`."""

    @abstractmethod
    def _claim(self, rejection: Rejection, request: web.Request, body: bytes | None) -> Claim:
        """What the message refused with ``rejection`` is known to be."""

    @abstractmethod
    def _signal(self, code: C, reason: str, ref: str | None, detail: str | None) -> S:
        """The wire's error signal (a fresh MessageId, the receiver's clock)."""

    @abstractmethod
    def _respond(self, signal: S, status: int) -> web.Response:
        """The HTTP answer carrying ``signal``."""

    @abstractmethod
    def _recorded(self, signal: S) -> ErrorSignal:
        """``signal`` as :class:`~eessi.transport.server.Refusal` records it."""

    @abstractmethod
    def _refused(self, outcome: Outcome) -> tuple[C, int]:
        """The code and HTTP status answering ``on_message``'s refusal."""

    @abstractmethod
    def _receipt(self, received: Received[R]) -> web.Response:
        """The receipt for a message ``on_message`` accepted (or had already)."""

    # -- wiring ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """A stand-alone application serving ``POST <path>``."""
        app = web.Application(client_max_size=self.max_body + 1)
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        """Mount ``POST <path>`` into an existing application (e.g. the node's admin API).

        The size limit is enforced here, independently of the app's ``client_max_size``.
        """
        app.router.add_post(self.path, self.handle)
        app.router.add_route("*", self.path, self._wrong_method)

    async def _wrong_method(self, request: web.Request) -> web.Response:
        """Anything but POST gets a readable error signal too (405, with ``Allow: POST``)."""
        response = self._answer(
            self._other,
            f"{request.method} is not accepted here; post {self.accepts} (multipart/related)"
            f" to {self.path}",
            None,
            "HTTP method",
            405,
        )
        response.headers["Allow"] = "POST"
        return response

    # -- the handler -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """Check one posted user message in the documented order; answer a signal."""
        received_at = self._clock.now()
        peer = request.remote
        wait = self.refusals.wait(peer or "?")
        if wait > 0:
            return self._rate_limited(peer, wait)
        body: bytes | None = None
        try:
            body = await self._read(request)
            received = self._receive(request, body)
        except Rejection as rejection:
            return await self._refuse(rejection, received_at, peer, request, body)
        message = received.message
        connection = request.transport
        inbound = Inbound(
            message,
            received.payload,
            received.envelope,
            received_at,
            peer,
            abort=connection.abort if connection is not None else None,
        )
        try:
            outcome = await self.on_message(inbound)
        except Exception:
            self.log.exception("on_message failed for %s", message.message_id)
            return self._unavailable(
                "the receiver could not store the message; nothing was kept, send it again later",
                message.message_id,
            )
        if outcome.disposition is Disposition.REFUSED:
            code, status = self._refused(outcome)
            return self._answer(
                code,
                outcome.reason or "the receiver refused the message",
                message.message_id,
                outcome.detail,
                status,
            )
        return self._receipt(received)

    def _rate_limited(self, peer: str | None, wait: float) -> web.Response:
        """429 at once, body unread, nothing recorded: the peer has spent its refusals."""
        self.counters["rate_limited"] += 1
        seconds, reason = rate_limited(self.limits, peer, wait)
        response = self._answer(self._other, reason, None, "peer address", 429)
        response.headers["Retry-After"] = str(seconds)
        response.force_close()
        return response

    async def _read(self, request: web.Request) -> bytes:
        try:
            return await read_body(
                request,
                max_body=self.max_body,
                deadline=self.limits.body_timeout,
                too_large=self._too_large,
            )
        except BodyTimeout as exc:
            self.counters["body_timeouts"] += 1
            raise Rejection(
                self._other, late_body(self.limits, exc), detail="HTTP body", status=408
            ) from None

    def _too_large(self, length: int | None) -> Rejection:
        size = f"is {length} bytes" if length is not None else f"exceeds {self.max_body} bytes"
        return Rejection(
            self._other,
            f"the message body {size}; {self.local_id} accepts at most {self.max_body} bytes"
            f" per message{self.size_note}; send a smaller document",
            detail="HTTP body",
            status=413,
        )

    async def _refuse(
        self,
        rejection: Rejection,
        received_at: datetime,
        peer: str | None,
        request: web.Request,
        body: bytes | None,
    ) -> web.Response:
        self.refusals.spend(peer or "?")
        self.counters["refused"] += 1
        if not rejection.authenticated:
            self.counters["refused_unauthenticated"] += 1
        claim = self._claim(rejection, request, body)
        signal = self._signal(rejection.ebms_code, rejection.reason, claim.ref, rejection.detail)
        if self.on_refused is not None:
            refusal = Refusal(
                self._recorded(signal),
                rejection.status,
                received_at,
                claim.message,
                claim.envelope,
                claim.payload,
                peer,
                authenticated=rejection.authenticated,
                body_size=len(body) if body is not None else request.content_length,
                body_digest=hashlib.sha256(body).hexdigest() if body is not None else None,
                headers=tuple(
                    (name, value[:_MAX_HEADER_CHARS])
                    for name in self.summary_headers
                    if (value := request.headers.get(name)) is not None
                ),
            )
            try:
                await self.on_refused(refusal)
            except Exception:
                self.log.exception("on_refused failed for %s", claim.ref)
                return self._unavailable(
                    "the receiver could not record the refusal; send it again later", claim.ref
                )
        response = self._respond(signal, rejection.status)
        if rejection.status in (408, 413):  # the rest of the body is not worth reading
            response.force_close()
        return response

    def _answer(
        self, code: C, reason: str, ref: str | None, detail: str | None, status: int
    ) -> web.Response:
        return self._respond(self._signal(code, reason, ref, detail), status)

    def _unavailable(self, reason: str, ref: str | None) -> web.Response:
        """503: a callback failed, nothing was kept; the sender tries again later."""
        return self._answer(self._other, reason, ref, None, 503)
