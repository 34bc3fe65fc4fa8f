"""eDelivery AS4 over aiohttp: the inbound endpoint and the outbound sender of one institution.

It speaks the vocabulary of :mod:`eessi.transport` (``Inbound``, ``Outcome``, ``Refusal``,
``SendResult``, ``StatusUpdate``, ``RetryPolicy``) so the node uses it as it uses any transport;
the AS4 work itself is :mod:`eessi.as4.exchange` (no I/O there).

**Inbound** (:class:`As4Endpoint`, ``POST <path>``), in this order:

0. the peer address has spent its refusals → 429 with ``Retry-After``, body unread, nothing
   recorded (:class:`~eessi.transport.limits.RefusalLimiter`);
1. body over ``max_body`` → 413, not complete within the body deadline → 408 (before any
   parser, as for every transport: :mod:`eessi.transport.limits`);
2. :func:`~eessi.as4.exchange.receive_user_message`: MIME unpackage (EBMS:0007), SOAP and
   ``eb:Messaging`` (EBMS:0009/0008), P-Mode (EBMS:0010), decryption (EBMS:0102), signature
   and certificate (EBMS:0101/0103), mapping and payload (EBMS:0003/0011/0010/0303);
3. the Timestamp outside the window around the receiver's clock → EBMS:0003;
4. a SED version this institution does not accept → EBMS:0010;
5. ``on_message`` (the node: journal, validate; duplicate detection by MessageId is its
   journal's, for ever, see D91) → ``ACCEPTED`` or ``DUPLICATE``: a receipt (signed with
   non-repudiation information when the P-Mode says so); ``REFUSED``: an error signal.

A message answered with a receipt leaves its transported key in :attr:`As4Endpoint.known_keys`
(the last 4,096): a copy of it posted again (a resend whose receipt was lost, a replay) is
checked as every message is, its signature and signer first, but its key is not unwrapped
again (D450): it costs no RSA private-key operation, and is answered as before (step 5: the
journal finds the duplicate, a receipt again).

Refusals of steps 1-3 and 4 go to ``on_refused`` first; :attr:`Refusal.authenticated` is true
only once the P-Mode's security passed (the sender is who it claims). Error signals are signed
when this institution has keys (WSS4J-based access points and the ``as4`` package read only
signed signals), unsigned when it runs without security (D92). An ``on_message``
that raises is answered 503 EBMS:0004: nothing was kept, the sender retries.

The journal gets the message **as it arrived**: ``Inbound.envelope`` is the whole MIME
package with its Content-Type (:func:`eessi.as4.wire.to_entity`), ``Inbound.payload`` the SED
in clear (decrypted, decompressed), which is what the desk reads (D90).

**Outbound** (:class:`As4Sender`): :meth:`As4Sender.build` makes the message once (signed,
encrypted for the receiver, packaged) and returns its wire bytes for the journal;
:meth:`As4Sender.send` posts exactly those bytes, reads the answer with
:func:`~eessi.as4.exchange.read_signal` (a receipt is checked against the digests sent), and
retries with the P-Mode's reception awareness (or a given :class:`RetryPolicy`). A resend is
the same bytes under the same MessageId: the receiver's duplicate detection drops it and
answers with a receipt again. No receipt in the budget is ``EBMS:0301 MissingReceipt``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Unpack

import aiohttp
from aiohttp import web
from cryptography import x509

from eessi.as4.codes import CODES, EbmsError, ebms_error, ebms_error_of
from eessi.as4.ebms_build import error_detail, error_envelope, serialize
from eessi.as4.ebms_parse import MAX_ENVELOPE_BYTES, parse_envelope
from eessi.as4.exchange import (
    Incoming,
    Outgoing,
    build_sed_message,
    read_signal,
    receipt_for,
    receive_user_message,
)
from eessi.as4.mapping import Addressing
from eessi.as4.mime import SOAP_CONTENT_TYPE, Packaged, package, unpackage
from eessi.as4.model import ErrorSignal as As4ErrorSignal
from eessi.as4.model import Receipt as As4Receipt
from eessi.as4.model import UserMessage as As4UserMessage
from eessi.as4.pki import Pki
from eessi.as4.pmode import PMode, PModeSet
from eessi.as4.security import Credentials, Trust
from eessi.as4.security.decrypt import KnownKeys
from eessi.as4.security.sign import sign
from eessi.as4.wire import sent_from_wire, to_entity
from eessi.clock import Clock, SystemClock
from eessi.errors import ConfigError, EessiError
from eessi.sed.catalogue import parse_namespace
from eessi.transport.client import (
    Failure,
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
from eessi.transport.endpoint import BaseEndpoint, Claim, EndpointOptions, Received, Rejection
from eessi.transport.envelope import ErrorSignal, Receipt, UserMessage, payload_digest
from eessi.transport.poster import ConnectFailure, Poster, PostFailure, SessionPoster
from eessi.transport.server import DEFAULT_MAX_BODY, DEFAULT_PATH, OnMessage, Outcome

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PATH",
    "As4Endpoint",
    "As4Keys",
    "As4Sender",
    "build_message",
    "build_outgoing",
    "http_status",
    "metadata_of",
    "remember",
    "sed_version_of",
]

log = logging.getLogger("eessi.as4.transport")

_SIGNAL_TYPE: Final = SOAP_CONTENT_TYPE + "; charset=utf-8"
_SENT_CACHE: Final = 4096


def http_status(code: str) -> int:
    """The HTTP status an error signal travels with: 4xx means "resending this as is cannot
    help" (the sender does not retry), 503 "later". Unpackaging errors (a broken package or
    header) are 400, security ones 403, content and processing ones 422."""
    row = CODES.get(code)
    if code in ("EBMS:0101", "EBMS:0102", "EBMS:0103"):
        return 403
    if row is not None and row.category == "Unpackaging":
        return 400
    return 422


@dataclass(frozen=True, slots=True)
class As4Keys:
    """One institution's security material: its own key, the network's CA, and the
    certificates of the others (to encrypt for them). All ``None``/empty: no security."""

    credentials: Credentials | None = None
    trust: Trust | None = None
    certificates: Mapping[str, x509.Certificate] = field(default_factory=dict)

    @classmethod
    def from_pki(cls, pki: Pki, ir_id: str) -> As4Keys:
        return cls(pki.credentials(ir_id), pki.trust, dict(pki.certificates))

    def certificate(self, ir_id: str) -> x509.Certificate | None:
        return self.certificates.get(ir_id)


_SED_NAMESPACE: Final = re.compile(
    rb'xmlns(?::[\w.-]+)?=["\'](http://ec\.europa\.eu/eessi/ns/[^"\']+)["\']'
)


def sed_version_of(part_property: str | None, sed: bytes) -> str | None:
    """The SED's version: the ``SedVersion`` part property, else the version its namespace
    names (``.../ns/4_4/S072``): a Domibus submission need not add our part property."""
    if part_property:
        return part_property
    for match in _SED_NAMESPACE.finditer(sed[:4096]):
        parsed = parse_namespace(match.group(1).decode("ascii", "replace"))
        if parsed is not None:
            return parsed[1]
    return None


def metadata_of(message: As4UserMessage, sed: bytes, sed_version: str | None) -> UserMessage:
    """The node's view of an AS4 user message (the transport vocabulary's ``UserMessage``):
    From/To as IR IDs, the case, the SED type (the Action) and version, the BUC (the
    Service), and the digest and size of the SED in clear."""
    return UserMessage(
        message_id=message.message_id,
        timestamp=message.timestamp,
        from_party=message.from_party.id,
        to_party=message.to_party.id,
        conversation_id=message.conversation_id,
        sed_type=message.action,
        sed_version=sed_version_of(sed_version, sed) or "",
        payload_digest=payload_digest(sed),
        payload_size=len(sed),
        ref_to_message_id=message.ref_to_message_id,
        service=message.service,
        action=message.action,
        payload_id=(message.parts[0].content_id or "") if message.parts else "",
    )


class _Refuse(Rejection):
    """Internal: stop and answer with an error signal."""

    def __init__(
        self,
        error: EbmsError,
        reason: str,
        *,
        detail: str | None = None,
        status: int | None = None,
        authenticated: bool = False,
        incoming: Incoming | None = None,
    ) -> None:
        super().__init__(
            error,
            reason,
            detail=detail,
            status=status if status is not None else http_status(error.code),
            authenticated=authenticated,
        )
        #: The message, when it passed every AS4 check and was refused after (a version).
        self.incoming = incoming


class As4Endpoint(BaseEndpoint[EbmsError, As4ErrorSignal, Incoming]):
    """One institution's inbound eDelivery AS4 endpoint (see the module docstring).

    ``local_id``: this institution's IR ID (messages for another are refused, EBMS:0003).
    ``clock``: the node's clock (receipt timestamps, the Timestamp window, ``received_at``);
    ``wall_clock``: the real time certificates are checked against (a scenario's virtual
    clock may stand months away from the certificates' validity). ``known_keys``: where the
    keys of receipted messages are kept (default: the last 4,096; see the module docstring).
    """

    log = log
    accepts = "AS4 user messages"

    def __init__(
        self,
        on_message: OnMessage,
        local_id: str,
        *,
        pmodes: PModeSet,
        keys: As4Keys | None = None,
        wall_clock: Clock | None = None,
        known_keys: KnownKeys | None = None,
        **options: Unpack[EndpointOptions],
    ) -> None:
        super().__init__(on_message, local_id, other=ebms_error("EBMS:0004"), **options)
        self.pmodes = pmodes
        self.keys = keys if keys is not None else As4Keys()
        self._wall: Clock = wall_clock if wall_clock is not None else SystemClock()
        #: The transported keys of the last messages answered with a receipt: a copy of one
        #: (a resend, a replay) costs no RSA private-key operation (D450).
        self.known_keys = known_keys if known_keys is not None else KnownKeys()

    # -- the checks --------------------------------------------------------------------------

    def _receive(self, request: web.Request, body: bytes) -> Received[Incoming]:
        content_type = request.headers.get("Content-Type", "")
        try:
            incoming = receive_user_message(
                content_type,
                body,
                pmodes=self.pmodes,
                receiver=self.local_id,
                credentials=self.keys.credentials,
                trust=self.keys.trust,
                now=self._wall.now(),
                known=self.known_keys,
            )
        except ConfigError as exc:  # no keys here for a secured P-Mode: our fault, not theirs
            log.error("%s: %s", self.local_id, exc)
            raise _Refuse(
                ebms_error("EBMS:0004"),
                f"{self.local_id} cannot process secured messages now: {exc.message}",
                status=503,
            ) from exc
        except EessiError as exc:
            raise _Refuse(
                ebms_error_of(exc),
                str(exc),
                detail=exc.where,
                authenticated=bool(exc.details.get("authenticated")),
            ) from exc
        delivered = incoming.delivered
        stale = self.limits.check_timestamp(delivered.message.timestamp, self._clock.now())
        if stale is not None:
            raise _Refuse(
                ebms_error("EBMS:0003"),
                stale,
                detail="eb:UserMessage/eb:MessageInfo/eb:Timestamp",
                authenticated=True,
                incoming=incoming,
            )
        version = sed_version_of(delivered.sed_version, delivered.payload)
        if version not in self.accept_versions:
            accepted = ", ".join(self.accept_versions)
            raise _Refuse(
                ebms_error("EBMS:0010"),
                f"{self.local_id} does not accept {delivered.sed_type} version {version};"
                f" supported versions: {accepted} (the part property SedVersion)",
                detail=f"supported versions: {accepted}",
                authenticated=True,
                incoming=incoming,
            )
        message = metadata_of(delivered.message, delivered.payload, delivered.sed_version)
        envelope = to_entity(Packaged(content_type, body))
        return Received(message, delivered.payload, envelope, incoming)

    def _claim(self, rejection: Rejection, request: web.Request, body: bytes | None) -> Claim:
        """What the refused message claims to be (its header, if it can be read at all); the
        whole package as it arrived, and the SED in clear once every AS4 check passed."""
        if body is None:
            return Claim()
        content_type = request.headers.get("Content-Type", "")
        claimed = _claimed(content_type, body)
        ref = claimed.message_id if claimed is not None else None
        if self.on_refused is None:  # only the reference is needed
            return Claim(ref)
        incoming = rejection.incoming if isinstance(rejection, _Refuse) else None
        message: UserMessage | None = None
        if incoming is not None:
            d = incoming.delivered
            message = metadata_of(d.message, d.payload, d.sed_version)
            payload: bytes | None = d.payload
        else:
            if claimed is not None:
                message = _claimed_metadata(claimed)
            payload = None
        return Claim(ref, message, to_entity(Packaged(content_type, body)), payload)

    # -- the answers -------------------------------------------------------------------------

    def _refused(self, outcome: Outcome) -> tuple[EbmsError, int]:
        code = outcome.code
        row = CODES.get(code.code, ebms_error("EBMS:0004")) if code else ebms_error("EBMS:0004")
        return row, code.http_status if code is not None else http_status(row.code)

    def _receipt(self, received: Received[Incoming]) -> web.Response:
        key = received.wire.key
        if key is not None:  # the journal has it now (accepted, or had it: a duplicate)
            self.known_keys.add(*key)
        receipt = receipt_for(
            received.wire,
            message_id=self._ids.uuid(),
            timestamp=self._clock.now(),
            credentials=self.keys.credentials,
        )
        return web.Response(
            body=receipt.body, status=200, headers={"Content-Type": receipt.content_type}
        )

    def _recorded(self, signal: As4ErrorSignal) -> ErrorSignal:
        return _legacy_error(signal)

    def _signal(
        self, error: EbmsError, reason: str, ref: str | None, detail: str | None
    ) -> As4ErrorSignal:
        return As4ErrorSignal(
            self._ids.uuid(),
            self._clock.now(),
            (
                error_detail(
                    error, ref_to_message_in_error=ref, description=reason[:2000], detail=detail
                ),
            ),
            ref,
        )

    def _respond(self, signal: As4ErrorSignal, status: int) -> web.Response:
        return _signal_response(signal, status, self.keys.credentials)


def _signal_response(
    signal: As4ErrorSignal, status: int, credentials: Credentials | None
) -> web.Response:
    """The error signal, signed when this institution has keys (D92): access points built on
    WSS4J, and the ``as4`` package, read only signed signals; unsigned without security."""
    envelope = error_envelope(signal)
    if credentials is not None:
        sign(envelope, (), credentials)
    packaged = package(serialize(envelope), [])
    return web.Response(body=packaged.body, status=status, headers={"Content-Type": _SIGNAL_TYPE})


def _claimed(content_type: str, body: bytes) -> As4UserMessage | None:
    """What a refused message claims to be, if its header can be read at all."""
    try:
        message = parse_envelope(unpackage(content_type, body).envelope).message
    except EessiError:
        return None
    return message if isinstance(message, As4UserMessage) else None


def _claimed_metadata(message: As4UserMessage) -> UserMessage:
    version = message.parts[0].property("SedVersion") if message.parts else None
    return UserMessage(
        message_id=message.message_id,
        timestamp=message.timestamp,
        from_party=message.from_party.id,
        to_party=message.to_party.id,
        conversation_id=message.conversation_id,
        sed_type=message.action,
        sed_version=version or "",
        payload_digest="",
        payload_size=0,
        ref_to_message_id=message.ref_to_message_id,
        service=message.service,
        action=message.action,
    )


def _legacy_error(signal: As4ErrorSignal) -> ErrorSignal:
    """The transport vocabulary's ``ErrorSignal`` for an AS4 error signal (its first error)."""
    first = signal.errors[0] if signal.errors else None
    return ErrorSignal(
        message_id=signal.message_id,
        timestamp=signal.timestamp,
        code=first.code if first else "EBMS:0004",
        short_description=first.short_description if first else "Other",
        description=(first.description or first.short_description) if first else "",
        ref_to_message_id=signal.ref_to_message_id,
        severity=first.severity if first else "failure",
        detail=first.detail if first else None,
    )


# -- outbound ---------------------------------------------------------------------------------


def build_outgoing(
    pmodes: PModeSet,
    keys: As4Keys,
    addressing: Addressing,
    sed: bytes,
    *,
    message_id: str,
    timestamp: datetime,
    ref_to_message_id: str | None = None,
) -> Outgoing:
    """The user message carrying ``sed``, secured as its P-Mode says (signed with ``keys``'s
    own key, encrypted for the receiver's certificate)."""
    pmode = pmodes.find(addressing.buc, addressing.sed)
    recipient = keys.certificate(addressing.receiver) if pmode.security.encrypts else None
    if pmode.security.encrypts and recipient is None:
        raise ConfigError(
            f"no certificate of {addressing.receiver} to encrypt for (P-Mode {pmode.id!r})",
            code="pki.unknown",
            hint="run `eessi pki init DIR --directory FILE` for this directory again",
        )
    return build_sed_message(
        addressing,
        pmode,
        sed,
        message_id=message_id,
        timestamp=timestamp,
        content_id=_content_id(message_id),
        ref_to_message_id=ref_to_message_id,
        credentials=keys.credentials,
        recipient=recipient,
    )


def remember(built: dict[str, Outgoing], out: Outgoing) -> None:
    """Keep ``out`` in ``built`` for its send (D495: until a receipt or a refusal ends it; at
    most the last :data:`_SENT_CACHE` entries, a bound for the messages built and never sent)."""
    if len(built) >= _SENT_CACHE:
        built.pop(next(iter(built)))
    built[out.message.message_id] = out


def build_message(
    pmodes: PModeSet,
    keys: As4Keys,
    addressing: Addressing,
    sed: bytes,
    *,
    message_id: str,
    timestamp: datetime,
    ref_to_message_id: str | None = None,
    built: dict[str, Outgoing] | None = None,
) -> bytes:
    """The message carrying ``sed`` as the journal keeps it (:func:`eessi.as4.wire.to_entity`,
    D90): what :meth:`As4Sender.send` posts, unchanged, at every attempt. ``built``: where
    the message is also kept for its send (:func:`remember`), so the send need not parse it."""
    out = build_outgoing(
        pmodes,
        keys,
        addressing,
        sed,
        message_id=message_id,
        timestamp=timestamp,
        ref_to_message_id=ref_to_message_id,
    )
    if built is not None:
        remember(built, out)
    return to_entity(out.packaged)


class As4Sender:
    """Builds and sends one institution's AS4 user messages over a shared client session, or
    a :class:`~eessi.transport.poster.KeepAlivePoster` (what a node serving alone uses, D380).

    ``policy`` ``None``: retries as each message's P-Mode says (reception awareness: its
    ``retries`` after ``retry_interval`` seconds, times ``backoff`` each time); a policy
    overrides it (the node passes ``max_attempts=1`` and keeps its own journaled schedule).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | Poster,
        local_id: str,
        *,
        pmodes: PModeSet,
        keys: As4Keys | None = None,
        rng: random.Random | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_status: StatusHook | None = None,
        wall_clock: Clock | None = None,
        attempt_timeout: float = 10.0,
        built: dict[str, Outgoing] | None = None,
    ) -> None:
        self.session = session
        self.local_id = local_id
        self.pmodes = pmodes
        self.keys = keys if keys is not None else As4Keys()
        self.policy = policy
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._on_status = on_status
        self._wall: Clock = wall_clock if wall_clock is not None else SystemClock()
        #: Seconds an attempt may take (connect, post, answer).
        self._within = policy.attempt_timeout if policy is not None else attempt_timeout
        self._poster: Poster = (
            SessionPoster(session) if isinstance(session, aiohttp.ClientSession) else session
        )
        #: The messages built whose send is still to come or to be retried, by MessageId
        #: (``built``: shared with whoever built them, so :meth:`send` need not read back the
        #: bytes it is given); a receipt or a refusal drops the entry (D495).
        self._sent: dict[str, Outgoing] = built if built is not None else {}

    def build(
        self,
        addressing: Addressing,
        sed: bytes,
        *,
        message_id: str,
        timestamp: datetime,
        ref_to_message_id: str | None = None,
    ) -> bytes:
        """:func:`build_message` with this sender's P-Modes and keys; the result is kept, so
        :meth:`send` need not read it back."""
        return build_message(
            self.pmodes,
            self.keys,
            addressing,
            sed,
            message_id=message_id,
            timestamp=timestamp,
            ref_to_message_id=ref_to_message_id,
            built=self._sent,
        )

    def _remember(self, out: Outgoing) -> None:
        remember(self._sent, out)

    def _outgoing(self, message_id: str | None, entity: bytes) -> Outgoing:
        """What to post for ``entity``: the message as built when it is kept for this
        MessageId with these very bytes (taken out: :meth:`send` puts it back only while its
        outcome is pending), else read back from the bytes (a message built before a
        restart, or dropped by the bound). Either way the bytes posted are ``entity``'s."""
        cached = self._sent.pop(message_id, None) if message_id is not None else None
        if cached is not None and to_entity(cached.packaged) == entity:
            return cached
        return sent_from_wire(entity, self.pmodes)

    def _schedule(self, pmode: PMode) -> tuple[int, Callable[[int], float]]:
        if self.policy is not None:
            policy = self.policy
            return policy.max_attempts, lambda n: policy.delay(n, self._rng)
        delays = pmode.reception_awareness.delays()
        return 1 + len(delays), lambda n: delays[n]

    async def send(self, url: str, entity: bytes, *, message_id: str | None = None) -> SendResult:
        """Post the journaled message ``entity`` to ``url`` until a valid receipt comes back,
        the peer refuses it, or the attempts are spent. Never raises for network failures."""
        sent = self._outgoing(message_id, entity)
        attempts_max, delay = self._schedule(sent.pmode)

        async def attempt(n: int) -> Receipt | Retry | Refused:
            result = await self._attempt(url, sent, n)
            if isinstance(result, As4Receipt):
                return Receipt(result.message_id, result.timestamp, result.ref_to_message_id)
            return result

        result = await deliver(
            sent.message.message_id,
            url,
            attempt,
            max_attempts=attempts_max,
            delay=delay,
            sleep=self._sleep,
            on_status=self._on_status,
            missing="EBMS:0301 MissingReceipt: ",
        )
        if result.failure is Failure.RETRIES_EXHAUSTED and self.policy is not None:
            # no receipt yet: whoever keeps the schedule (the node, D240) may send it again,
            # the same bytes; a receipt, a refusal or the P-Mode's last retry ends its sends,
            # and its entry (D495)
            self._remember(sent)
        return result

    async def _attempt(
        self, url: str, sent: Outgoing, attempt: int
    ) -> As4Receipt | Retry | Refused:
        headers = {"Content-Type": sent.packaged.content_type, "SOAPAction": '""'}
        try:
            answer = await self._poster.post(
                url, sent.packaged.body, headers, within=self._within, limit=MAX_ENVELOPE_BYTES
            )
        except TimeoutError:
            return Retry(f"no answer within {self._within:g} s")
        except ConnectFailure as exc:
            return Retry(f"EBMS:0005 ConnectionFailure: cannot connect to {url}: {exc.reason}")
        except PostFailure as exc:
            return Retry(f"EBMS:0005 ConnectionFailure: {exc}")
        await report_status(
            self._on_status, sent.message.message_id, SendStatus.WAITING_FOR_RECEIPT, attempt
        )
        return self._classify(answer.status, answer.content_type, answer.body, sent)

    def _classify(
        self, status: int, content_type: str, data: bytes, sent: Outgoing
    ) -> As4Receipt | Retry | Refused:
        to = sent.message.to_party.id
        try:
            signal = read_signal(
                content_type,
                data,
                sent=sent,
                trust=self.keys.trust,
                receiver=to,
                now=self._wall.now(),
            )
        except EessiError as exc:
            row = ebms_error_of(exc)
            if row.code == "EBMS:0302":  # a receipt, but not a valid one: not acknowledged
                return Retry(f"HTTP {status}, EBMS:0302 InvalidReceipt: {exc}", status)
            snippet = data[:200].decode("utf-8", "replace")
            if retryable(status) or 200 <= status < 300:
                return Retry(f"HTTP {status} with an unreadable answer ({exc.message})", status)
            return Refused(f"HTTP {status} without an error signal: {snippet!r}", status, None)
        if isinstance(signal, As4ErrorSignal):
            return refused_or_retry(status, to, _legacy_error(signal))
        if retryable(status):
            return Retry(f"HTTP {status} with a receipt", status)
        return signal


def _content_id(message_id: str) -> str:
    """The SED part's Content-ID: derived from the MessageId (unique per message)."""
    local = "".join(c if c.isalnum() or c in "-._" else "-" for c in message_id)[:120]
    return f"sed-{local}@eessi-sim"
