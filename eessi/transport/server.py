"""The inbound side: one aiohttp endpoint (``POST /as4``) per institution.

The endpoint only moves and checks bytes; what a message *means* is the node's business. It
runs the checks in a fixed order, each with its own ebMS code and HTTP status (see
:mod:`eessi.transport.codes`):

0. the peer address has spent its refusals (:class:`~eessi.transport.limits.RefusalLimiter`)
   → 429 with ``Retry-After``, before the body is read, nothing recorded;
1. body larger than ``max_body`` → 413 (from Content-Length before reading, else while reading);
   body not complete within ``limits.body_timeout`` → 408;
2. framing or envelope malformed, or invalid against ``envelope.xsd`` → 400 ``EBMS:0009``;
3. ``To`` is not this institution → 404 ``EBMS:0003`` (ValueInconsistent);
4. ``From`` unknown, signature missing or wrong → 401/403 ``EBMS:0101``;
5. the Timestamp is outside the window around this receiver's clock → 422 ``EBMS:0003``;
6. the payload does not match ``PartInfo`` (digest, size, Content-ID) → 400 ``EBMS:0003``;
7. SED version not accepted → 422 ``EBMS:0010`` naming the accepted versions;
8. ``on_message`` (the node: journal, validate the SED, ...) returns an :class:`Outcome`.

Refusals of steps 1-4 and 5 happen before the message is known to be genuine and current
(:attr:`Refusal.authenticated` is false): a receiver records only a bounded summary of them
(:meth:`Refusal.summary`), never the body. Every refusal of steps 1-7 spends one token of the
peer address's bucket.

A receipt is sent only **after** ``on_message`` returns, i.e. after the durable journal write;
``ACCEPTED`` and ``DUPLICATE`` both get one (duplicate elimination is the callback's job: it
knows which message IDs it has). Refusals of steps 1-6 are reported to ``on_refused`` (so the
node can journal them as refused) before the error is answered. If a callback raises, the
answer is 503 ``EBMS:0004`` and the sender retries later: nothing was stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final

from aiohttp import web

from eessi.clock import Clock, SystemClock
from eessi.errors import EnvelopeError, TransportError
from eessi.ids import IdGenerator, RandomIds
from eessi.transport import codes
from eessi.transport.auth import SIGNATURE_HEADER, CredentialLookup, sign, verify
from eessi.transport.codes import EbmsCode
from eessi.transport.envelope import (
    ErrorSignal,
    Receipt,
    UserMessage,
    decode_user_message,
    encode,
    payload_digest,
)
from eessi.transport.framing import Parts, unframe
from eessi.transport.limits import (
    BodyTimeout,
    InboundLimits,
    RefusalLimiter,
    late_body,
    rate_limited,
    read_body,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PATH",
    "Disposition",
    "Inbound",
    "InboundEndpoint",
    "OnMessage",
    "OnRefused",
    "Outcome",
    "Refusal",
]

log = logging.getLogger("eessi.transport.server")

#: Default limit for one message (envelope + SED): 1 MiB.
DEFAULT_MAX_BODY: Final = 1024 * 1024
#: Where the endpoint is mounted unless told otherwise.
DEFAULT_PATH: Final = "/as4"
_SIGNAL_TYPE: Final = "application/xml"
#: Request headers a refusal summary keeps (each cut to ``_MAX_HEADER_CHARS``).
_SUMMARY_HEADERS: Final = (
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "User-Agent",
    SIGNATURE_HEADER,
)
_MAX_HEADER_CHARS: Final = 200


class Disposition(Enum):
    """What the node did with an inbound message."""

    #: Journaled for the first time: answer with a receipt.
    ACCEPTED = "accepted"
    #: Already journaled under this MessageId: answer with a receipt again, process nothing.
    DUPLICATE = "duplicate"
    #: Refused (journaled as refused): answer with an error signal.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The node's answer to :class:`Inbound`; build it with the class methods."""

    disposition: Disposition
    #: For refusals: the ebMS code to answer with (default ``EBMS:0004 Other``, HTTP 422).
    code: EbmsCode | None = None
    #: For refusals: readable reason (what, where, what to do).
    reason: str | None = None
    #: For refusals: where in the document (XPath, line), if known.
    detail: str | None = None

    @classmethod
    def accepted(cls) -> Outcome:
        return _ACCEPTED

    @classmethod
    def duplicate(cls) -> Outcome:
        return _DUPLICATE

    @classmethod
    def refused(
        cls, reason: str, *, code: EbmsCode = codes.OTHER, detail: str | None = None
    ) -> Outcome:
        return cls(Disposition.REFUSED, code=code, reason=reason, detail=detail)


_ACCEPTED: Final = Outcome(Disposition.ACCEPTED)
_DUPLICATE: Final = Outcome(Disposition.DUPLICATE)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A user message that passed every transport check, handed to ``on_message``."""

    message: UserMessage
    #: The SED, byte-exact.
    payload: bytes
    #: The envelope part, byte-exact.
    envelope: bytes
    received_at: datetime
    #: The remote address, for the journal and logs.
    peer: str | None
    #: Drops the exchange without an answer (the sender sees the connection fail and retries):
    #: what an inbound interceptor's ``reset`` does. ``None``: the transport cannot.
    abort: Callable[[], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message refused by the transport checks, handed to ``on_refused`` before answering."""

    #: The error signal the sender gets.
    error: ErrorSignal
    http_status: int
    received_at: datetime
    #: What could be read of the message (``None`` when the envelope is unreadable).
    message: UserMessage | None
    envelope: bytes | None
    payload: bytes | None
    peer: str | None
    #: Whether the message was authenticated (signature verified) and inside the timestamp
    #: window: only then do its envelope and payload deserve a place in the journal.
    authenticated: bool = False
    #: Bytes of body received (or announced by Content-Length when it was not read).
    body_size: int | None = None
    #: SHA-256 (hex) of the body received, if it was read.
    body_digest: str | None = None
    #: A few request headers (:data:`_SUMMARY_HEADERS`), each at most 200 characters.
    headers: tuple[tuple[str, str], ...] = ()

    def summary(self) -> dict[str, Any]:
        """A bounded, JSON-ready record of the refusal: never the body, every text cut."""
        m = self.message
        claimed = (
            None
            if m is None
            else {
                "message_id": m.message_id[:_MAX_HEADER_CHARS],
                "from": m.from_party,
                "to": m.to_party,
                "conversation_id": m.conversation_id[:_MAX_HEADER_CHARS],
                "timestamp": m.timestamp.isoformat(),
                "sed": f"{m.sed_type} {m.sed_version}",
            }
        )
        return {
            "error_id": self.error.message_id,
            "code": self.error.code,
            "http_status": self.http_status,
            "reason": self.error.description[:1000],
            "where": (self.error.detail or "")[:_MAX_HEADER_CHARS] or None,
            "peer": self.peer,
            "body_size": self.body_size,
            "body_sha256": self.body_digest,
            "headers": dict(self.headers),
            "claimed": claimed,
        }


OnMessage = Callable[[Inbound], Awaitable[Outcome]]
OnRefused = Callable[[Refusal], Awaitable[None]]


class _Reject(TransportError):
    """Internal: stop checking and answer with an error signal (``ebms_code``)."""

    def __init__(
        self,
        code: EbmsCode,
        reason: str,
        *,
        detail: str | None = None,
        http_status: int | None = None,
        authenticated: bool = False,
    ) -> None:
        super().__init__(reason)
        self.ebms_code = code
        self.reason = reason
        self.detail = detail
        self.http_status = http_status if http_status is not None else code.http_status
        self.authenticated = authenticated


class InboundEndpoint:
    """One institution's inbound AS4-like endpoint.

    ``credentials`` gives the shared secret of a party by IR ID (the directory); this
    institution's own secret (``credentials(local_id)``) signs the signals it answers with.
    ``accept_versions`` are the SED versions this institution accepts. ``limits`` bound what
    one peer address may cost (body deadline, refusals per second, timestamp window; see
    :class:`~eessi.transport.limits.InboundLimits`).
    """

    def __init__(
        self,
        on_message: OnMessage,
        credentials: CredentialLookup,
        local_id: str,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        accept_versions: Iterable[str] = ("4.4",),
        on_refused: OnRefused | None = None,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        path: str = DEFAULT_PATH,
        limits: InboundLimits | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_refused = on_refused
        self.credentials = credentials
        self.local_id = local_id
        self.max_body = max_body
        self.accept_versions = tuple(accept_versions)
        self.path = path
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._ids: IdGenerator = ids if ids is not None else RandomIds()
        self.limits = limits if limits is not None else InboundLimits()
        self.refusals = RefusalLimiter(self.limits.refusal_rate, self.limits.refusal_burst)
        #: What the limits did: refusals answered, of them before authentication, requests
        #: answered 429 (rate limited, not recorded), bodies too slow (408).
        self.counters: dict[str, int] = dict.fromkeys(
            ("refused", "refused_unauthenticated", "rate_limited", "body_timeouts"), 0
        )

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
        response = self._signal_response(
            self._error(
                codes.OTHER,
                f"{request.method} is not accepted here; post user messages (multipart/related)"
                f" to {self.path}",
                None,
                "HTTP method",
            ),
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
        message: UserMessage | None = None
        parts: Parts | None = None
        body: bytes | None = None
        try:
            body = await self._read(request)
            try:
                parts = unframe(request.headers.get("Content-Type", ""), body)
                message = decode_user_message(parts.envelope)
            except EnvelopeError as exc:
                raise _Reject(
                    codes.INVALID_HEADER,
                    f"{exc.message}; {exc.hint}" if exc.hint else exc.message,
                    detail=exc.where,
                ) from exc
            self._check(message, body, parts.payload, parts.payload_id, request)
        except _Reject as rej:
            return await self._refuse(rej, received_at, message, parts, peer, request, body)

        connection = request.transport
        inbound = Inbound(
            message,
            parts.payload,
            parts.envelope,
            received_at,
            peer,
            abort=connection.abort if connection is not None else None,
        )
        try:
            outcome = await self.on_message(inbound)
        except Exception:
            log.exception("on_message failed for %s", message.message_id)
            return self._signal_response(
                self._error(
                    codes.UNAVAILABLE,
                    "the receiver could not store the message; nothing was kept, send it again"
                    " later",
                    message.message_id,
                    None,
                ),
                codes.UNAVAILABLE.http_status,
            )
        if outcome.disposition is Disposition.REFUSED:
            code = outcome.code or codes.OTHER
            return self._signal_response(
                self._error(
                    code,
                    outcome.reason or "the receiver refused the message",
                    message.message_id,
                    outcome.detail,
                ),
                code.http_status,
            )
        receipt = Receipt(
            message_id=self._ids.uuid(),
            timestamp=self._clock.now(),
            ref_to_message_id=message.message_id,
        )
        return self._signal_response(receipt, 200)

    def _rate_limited(self, peer: str | None, wait: float) -> web.Response:
        """429 at once, body unread, nothing recorded: the peer has spent its refusals."""
        self.counters["rate_limited"] += 1
        seconds, reason = rate_limited(self.limits, peer, wait)
        response = self._signal_response(
            self._error(
                codes.OTHER,
                reason,
                None,
                "peer address",
            ),
            429,
        )
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
            raise _Reject(
                codes.OTHER,
                late_body(self.limits, exc),
                detail="HTTP body",
                http_status=408,
            ) from None

    def _too_large(self, length: int | None) -> _Reject:
        size = f"is {length} bytes" if length is not None else f"exceeds {self.max_body} bytes"
        return _Reject(
            codes.TOO_LARGE,
            f"the message body {size}; {self.local_id} accepts at most {self.max_body} bytes"
            " per message (envelope and SED together); send a smaller document",
            detail="HTTP body",
        )

    def _check(
        self,
        message: UserMessage,
        body: bytes,
        payload: bytes,
        payload_id: str,
        request: web.Request,
    ) -> None:
        if message.to_party != self.local_id:
            raise _Reject(
                codes.VALUE_INCONSISTENT,
                f"the message is addressed to {message.to_party} but this endpoint is"
                f" {self.local_id}; look up the receiver's endpoint in the directory",
                detail="/Messaging/UserMessage/PartyInfo/To/PartyId",
                http_status=404,
            )
        credential = self.credentials(message.from_party)
        if credential is None:
            raise _Reject(
                codes.FAILED_AUTHENTICATION,
                f"the sender {message.from_party} is not in this institution's directory;"
                " only listed institutions may send",
                detail="/Messaging/UserMessage/PartyInfo/From/PartyId",
            )
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise _Reject(
                codes.FAILED_AUTHENTICATION,
                f"the message has no {SIGNATURE_HEADER} header; sign the body with"
                " HMAC-SHA256 under the sender's directory credential",
                detail=f"{SIGNATURE_HEADER} header",
                http_status=401,
            )
        if not verify(body, credential, signature):
            raise _Reject(
                codes.FAILED_AUTHENTICATION,
                f"the signature does not verify under the credential of {message.from_party}:"
                " the sender is not who it claims to be, or the body was altered",
                detail=f"{SIGNATURE_HEADER} header",
            )
        stale = self.limits.check_timestamp(message.timestamp, self._clock.now())
        if stale is not None:
            raise _Reject(
                codes.VALUE_INCONSISTENT,
                stale,
                detail="/Messaging/UserMessage/MessageInfo/Timestamp",
            )
        if payload_id != message.payload_id:
            raise _Reject(
                codes.VALUE_INCONSISTENT,
                f"the envelope names the SED part cid:{message.payload_id} but the body holds"
                f" <{payload_id}>",
                detail="/Messaging/UserMessage/PayloadInfo/PartInfo/@href",
                http_status=400,
                authenticated=True,
            )
        if (
            len(payload) != message.payload_size
            or payload_digest(payload) != message.payload_digest
        ):
            raise _Reject(
                codes.VALUE_INCONSISTENT,
                f"the SED part ({len(payload)} bytes) does not match the digest and size in the"
                " envelope; the SED was altered or truncated",
                detail="/Messaging/UserMessage/PayloadInfo/PartInfo/Digest",
                http_status=400,
                authenticated=True,
            )
        if message.sed_version not in self.accept_versions:
            accepted = ", ".join(self.accept_versions)
            raise _Reject(
                codes.PROCESSING_MODE_MISMATCH,
                f"{self.local_id} does not accept {message.sed_type} version"
                f" {message.sed_version}; supported versions: {accepted}",
                detail=f"supported versions: {accepted}",
                authenticated=True,
            )

    async def _refuse(
        self,
        rej: _Reject,
        received_at: datetime,
        message: UserMessage | None,
        parts: Parts | None,
        peer: str | None,
        request: web.Request,
        body: bytes | None,
    ) -> web.Response:
        self.refusals.spend(peer or "?")
        self.counters["refused"] += 1
        if not rej.authenticated:
            self.counters["refused_unauthenticated"] += 1
        error = self._error(
            rej.ebms_code, rej.reason, message.message_id if message else None, rej.detail
        )
        if self.on_refused is not None:
            refusal = Refusal(
                error,
                rej.http_status,
                received_at,
                message,
                parts.envelope if parts else None,
                parts.payload if parts else None,
                peer,
                authenticated=rej.authenticated,
                body_size=len(body) if body is not None else request.content_length,
                body_digest=hashlib.sha256(body).hexdigest() if body is not None else None,
                headers=tuple(
                    (name, value[:_MAX_HEADER_CHARS])
                    for name in _SUMMARY_HEADERS
                    if (value := request.headers.get(name)) is not None
                ),
            )
            try:
                await self.on_refused(refusal)
            except Exception:
                log.exception("on_refused failed for %s", error.ref_to_message_id)
                return self._signal_response(
                    self._error(
                        codes.UNAVAILABLE,
                        "the receiver could not record the refusal; send it again later",
                        error.ref_to_message_id,
                        None,
                    ),
                    codes.UNAVAILABLE.http_status,
                )
        resp = self._signal_response(error, rej.http_status)
        if rej.http_status in (408, 413):  # the rest of the body is not worth reading
            resp.force_close()
        return resp

    def _error(
        self, code: EbmsCode, reason: str, ref: str | None, detail: str | None
    ) -> ErrorSignal:
        return ErrorSignal(
            message_id=self._ids.uuid(),
            timestamp=self._clock.now(),
            code=code.code,
            short_description=code.short_description,
            description=reason,
            ref_to_message_id=ref,
            detail=detail,
        )

    def _signal_response(self, signal: Receipt | ErrorSignal, status: int) -> web.Response:
        body = encode(signal)
        headers = {"Content-Type": _SIGNAL_TYPE + "; charset=utf-8"}
        own = self.credentials(self.local_id)
        if own is not None:
            headers[SIGNATURE_HEADER] = sign(body, own)
        return web.Response(body=body, status=status, headers=headers)
