"""The HMAC envelope's inbound endpoint (``POST /as4``): :class:`InboundEndpoint`, the checks
in :mod:`eessi.transport.server`'s order. Imported when that transport is used (D232); the
values it hands over (:class:`~eessi.transport.server.Inbound`, ``Outcome``, ``Refusal``) live
in :mod:`eessi.transport.server`, shared with eDelivery AS4, and what both endpoints do around
their checks (limits, callbacks, refusal bookkeeping) in :mod:`eessi.transport.endpoint`."""

from __future__ import annotations

from typing import Unpack

from aiohttp import web

from eessi.errors import EnvelopeError
from eessi.transport import codes
from eessi.transport.auth import SIGNATURE_HEADER, CredentialLookup, sign, verify
from eessi.transport.codes import EbmsCode
from eessi.transport.endpoint import BaseEndpoint, Claim, EndpointOptions, Received, Rejection
from eessi.transport.envelope import ErrorSignal, Receipt, UserMessage, payload_digest
from eessi.transport.envelope_xml import decode_user_message, encode
from eessi.transport.framing import Parts, unframe
from eessi.transport.server import (
    _SIGNAL_TYPE,
    OnMessage,
    Outcome,
    log,
)

__all__ = ["InboundEndpoint"]


class _Reject(Rejection):
    """Internal: stop checking and answer with an error signal (``code``; its HTTP status
    unless told otherwise)."""

    def __init__(
        self,
        code: EbmsCode,
        reason: str,
        *,
        detail: str | None = None,
        http_status: int | None = None,
        authenticated: bool = False,
    ) -> None:
        super().__init__(
            code,
            reason,
            detail=detail,
            status=http_status if http_status is not None else code.http_status,
            authenticated=authenticated,
        )


class InboundEndpoint(BaseEndpoint[EbmsCode, ErrorSignal, None]):
    """One institution's inbound AS4-like endpoint.

    ``credentials`` gives the shared secret of a party by IR ID (the directory); this
    institution's own secret (``credentials(local_id)``) signs the signals it answers with.
    ``accept_versions`` are the SED versions this institution accepts. ``limits`` bound what
    one peer address may cost (body deadline, refusals per second, timestamp window; see
    :class:`~eessi.transport.limits.InboundLimits`).
    """

    log = log
    accepts = "user messages"
    size_note = " (envelope and SED together)"
    summary_headers = (*BaseEndpoint.summary_headers, SIGNATURE_HEADER)

    def __init__(
        self,
        on_message: OnMessage,
        credentials: CredentialLookup,
        local_id: str,
        **options: Unpack[EndpointOptions],
    ) -> None:
        super().__init__(on_message, local_id, other=codes.OTHER, **options)
        self.credentials = credentials

    # -- the checks --------------------------------------------------------------------------

    def _receive(self, request: web.Request, body: bytes) -> Received[None]:
        parts: Parts | None = None
        try:
            parts = unframe(request.headers.get("Content-Type", ""), body)
            message = decode_user_message(parts.envelope)
        except EnvelopeError as exc:
            rejection = _Reject(
                codes.INVALID_HEADER,
                f"{exc.message}; {exc.hint}" if exc.hint else exc.message,
                detail=exc.where,
            )
            if parts is not None:
                rejection.claim = Claim(envelope=parts.envelope, payload=parts.payload)
            raise rejection from exc
        try:
            self._check(message, body, parts.payload, parts.payload_id, request)
        except _Reject as rejection:
            rejection.claim = Claim(message.message_id, message, parts.envelope, parts.payload)
            raise
        return Received(message, parts.payload, parts.envelope, None)

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

    def _claim(self, rejection: Rejection, request: web.Request, body: bytes | None) -> Claim:
        return rejection.claim if rejection.claim is not None else Claim()

    # -- the answers -------------------------------------------------------------------------

    def _refused(self, outcome: Outcome) -> tuple[EbmsCode, int]:
        code = outcome.code or codes.OTHER
        return code, code.http_status

    def _receipt(self, received: Received[None]) -> web.Response:
        receipt = Receipt(
            message_id=self._ids.uuid(),
            timestamp=self._clock.now(),
            ref_to_message_id=received.message.message_id,
        )
        return self._respond(receipt, 200)

    def _recorded(self, signal: ErrorSignal) -> ErrorSignal:
        return signal

    def _signal(
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

    def _respond(self, signal: ErrorSignal | Receipt, status: int) -> web.Response:
        body = encode(signal)
        headers = {"Content-Type": _SIGNAL_TYPE + "; charset=utf-8"}
        own = self.credentials(self.local_id)
        if own is not None:
            headers[SIGNATURE_HEADER] = sign(body, own)
        return web.Response(body=body, status=status, headers=headers)
