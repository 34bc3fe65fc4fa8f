"""The HMAC envelope's inbound endpoint (``POST /as4``): :class:`InboundEndpoint`, the checks
in :mod:`eessi.transport.server`'s order. Imported when that transport is used (D232); the
values it hands over (:class:`~eessi.transport.server.Inbound`, ``Outcome``, ``Refusal``) live
in :mod:`eessi.transport.server`, shared with eDelivery AS4."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from aiohttp import web

from eessi.clock import Clock, SystemClock
from eessi.errors import EnvelopeError, TransportError
from eessi.ids import IdGenerator, RandomIds
from eessi.transport import codes
from eessi.transport.auth import SIGNATURE_HEADER, CredentialLookup, sign, verify
from eessi.transport.codes import EbmsCode
from eessi.transport.envelope import ErrorSignal, Receipt, UserMessage, payload_digest
from eessi.transport.envelope_xml import decode_user_message, encode
from eessi.transport.framing import Parts, unframe
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
    _SIGNAL_TYPE,
    _SUMMARY_HEADERS,
    DEFAULT_MAX_BODY,
    DEFAULT_PATH,
    Disposition,
    Inbound,
    OnMessage,
    OnRefused,
    Refusal,
    log,
)

__all__ = ["InboundEndpoint"]


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
