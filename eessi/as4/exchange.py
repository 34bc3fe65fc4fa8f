"""One AS4 exchange, end to end, without I/O: what the transport seam will call.

Sender side: :func:`build_sed_message` (build, sign, encrypt, package a SED as its P-Mode
says) and :func:`read_signal` (parse the answer; a receipt is checked against what was sent).
Receiver side: :func:`receive_user_message` (unpackage, parse, decrypt, verify, check against
the P-Mode, decompress) and :func:`receipt_for` / :func:`error_for` (the signal to answer with).

Every refusal is a structured :class:`~eessi.errors.EessiError` whose ebMS code
:func:`eessi.as4.codes.ebms_error_of` gives; :func:`error_for` turns it into the error signal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from lxml import etree

from eessi.as4.codes import ebms_error_of
from eessi.as4.ebms_build import (
    error_detail,
    error_envelope,
    sed_user_message,
    serialize,
    user_message_envelope,
)
from eessi.as4.ebms_parse import Delivered, open_payloads, parse_envelope
from eessi.as4.mapping import Addressing
from eessi.as4.mime import Packaged, Unpackaged, package, unpackage
from eessi.as4.model import (
    EB_NS,
    SOAP_NS,
    Attachment,
    ErrorSignal,
    Receipt,
    SignedReference,
    UserMessage,
)
from eessi.as4.pmode import PMode, PModeSet
from eessi.as4.recognise import read_rendered_receipt, receive_rendered
from eessi.as4.render import render_receipt, render_user_message
from eessi.as4.security import (
    ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,
    EXC_C14N,
    SHA256,
    WSU_ID,
    Credentials,
    Trust,
    b64,
    c14n,
    security_error,
)
from eessi.as4.security.decrypt import KnownKeys, Unwrap, decrypt
from eessi.as4.security.encrypt import encrypt
from eessi.as4.security.receipt import check_receipt, signed_receipt
from eessi.as4.security.sign import references, sign
from eessi.as4.security.verify import verify_signed_info
from eessi.errors import ConfigError, EessiError, EnvelopeError

__all__ = [
    "Incoming",
    "Outgoing",
    "build_sed_message",
    "error_for",
    "read_signal",
    "receipt_for",
    "receive_user_message",
]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A packaged user message and what its receipt must acknowledge."""

    message: UserMessage
    pmode: PMode
    packaged: Packaged
    #: The references signed (or, without security, the digests of the same parts).
    references: tuple[SignedReference, ...]


@dataclass(frozen=True, slots=True)
class Incoming:
    """A received user message that passed every check, and its references for the receipt."""

    delivered: Delivered
    references: tuple[SignedReference, ...]
    #: The transported key, wrapped and unwrapped (``None``: not encrypted): what the
    #: receiver keeps once it receipted the message, so that a copy costs no unwrap (D450).
    key: tuple[bytes, bytes] | None = None


def build_sed_message(
    addressing: Addressing,
    pmode: PMode,
    sed: bytes,
    *,
    message_id: str,
    timestamp: datetime,
    content_id: str,
    ref_to_message_id: str | None = None,
    credentials: Credentials | None = None,
    recipient: x509.Certificate | None = None,
    random: bytes | None = None,
) -> Outgoing:
    """The AS4 message carrying ``sed``, secured as ``pmode`` says.

    ``credentials`` (the sender's key) are needed when the P-Mode signs, ``recipient`` (the
    receiver's certificate) when it encrypts; ``random`` makes the encryption reproducible.
    """
    um, attachment = sed_user_message(
        addressing,
        pmode,
        sed,
        message_id=message_id,
        timestamp=timestamp,
        content_id=content_id,
        ref_to_message_id=ref_to_message_id,
    )
    security = pmode.security
    if security.signs and credentials is None:
        raise _no_keys(pmode, "signs", "the sender's key")
    if security.encrypts and recipient is None:
        raise _no_keys(pmode, "encrypts", "the receiver's certificate")
    rendered = render_user_message(
        um,
        attachment,
        signer=credentials if security.signs else None,
        recipient=recipient if security.encrypts else None,
        random=random,
    )
    if rendered is not None:  # the template (D135); the lxml path below makes the same bytes
        envelope_bytes, sent_parts, refs = rendered
        return Outgoing(um, pmode, package(envelope_bytes, sent_parts), refs)
    envelope = user_message_envelope(um)
    if security.signs and credentials is not None:
        refs = sign(envelope, [attachment], credentials)
    else:
        refs = references(envelope, [attachment])
    parts = [attachment]
    if security.encrypts and recipient is not None:
        parts = encrypt(envelope, parts, recipient, random=random)
    return Outgoing(um, pmode, package(serialize(envelope), parts), refs)


def _no_keys(pmode: PMode, what: str, needed: str) -> ConfigError:
    return ConfigError(
        f"P-Mode {pmode.id!r} {what}, and {needed} was not given",
        code="pki.missing",
        hint='create keys with `eessi pki init DIR` and set pki = "DIR" in the P-Mode file, '
        "or set [security] enabled = false",
    )


def receive_user_message(
    content_type: str,
    body: bytes,
    *,
    pmodes: PModeSet,
    receiver: str,
    credentials: Credentials | None,
    trust: Trust | None,
    now: datetime,
    known: KnownKeys | None = None,
) -> Incoming:
    """Check a received user message completely and return its SED (see module docstring).

    ``known``: the transported keys of the messages this receiver (these ``credentials``)
    receipted: a copy of one of them costs no RSA private-key operation (D450)."""
    parts = unpackage(content_type, body)
    # The receiver's RSA private-key operation, at most once for both paths (D390), none for
    # the copy of a receipted message (D450).
    unwrap = Unwrap(credentials.key, known) if credentials is not None else None
    if credentials is not None and trust is not None and unwrap is not None:
        recognised = _receive_rendered(parts, pmodes, receiver, credentials, trust, now, unwrap)
        if recognised is not None:
            return recognised
    parsed = parse_envelope(parts.envelope)
    um = parsed.message
    if not isinstance(um, UserMessage):
        raise EnvelopeError(
            "a signal where a user message was expected",
            code="as4.header",
            where="eb:Messaging",
            hint="send receipts and errors as the answer to the message they are about",
            details={"ebms_code": "EBMS:0003"},
        )
    try:
        pmode = pmodes.find(um.service, um.action)
    except ConfigError as exc:
        raise EnvelopeError(
            exc.message, code="as4.pmode", where="eb:CollaborationInfo", details=exc.details
        ) from None
    security = pmode.security
    attachments = list(parts.attachments)
    if security.enabled:
        if credentials is None or trust is None:
            raise _no_keys(pmode, "is secured", "this receiver's key and the network's CA")
        if security.sign:
            # The signature (trust, SignedInfo's value, header and Body digests) before the
            # key is unwrapped: a forged or unsigned message costs no private-key operation.
            signed = verify_signed_info(
                parsed.root,
                [a.content_id for a in attachments],
                trust,
                sender=um.from_party.id,
                now=now,
            )
            attachments = decrypt(
                parsed.root, attachments, credentials, required=security.encrypt, unwrap=unwrap
            )
            refs = signed.attachments_match(attachments).references
        else:
            attachments = decrypt(
                parsed.root, attachments, credentials, required=security.encrypt, unwrap=unwrap
            )
            refs = _digests(parsed.root, attachments)
    else:
        if parsed.security is not None:
            raise security_error(
                f"a secured message under P-Mode {pmode.id!r}, which has no security",
                "wsse:Security",
                "EBMS:0103",
            )
        refs = _digests(parsed.root, attachments)
    try:
        delivered = open_payloads(um, tuple(attachments), pmodes, receiver=receiver)
    except EessiError as exc:
        # Past the P-Mode's security: the sender is who it says (transport.py journals it).
        exc.details["authenticated"] = True
        raise
    return Incoming(delivered, refs, unwrap.unwrapped if unwrap is not None else None)


def _receive_rendered(
    parts: Unpackaged,
    pmodes: PModeSet,
    receiver: str,
    credentials: Credentials,
    trust: Trust,
    now: datetime,
    unwrap: Unwrap,
) -> Incoming | None:
    """The message of ``parts`` if :mod:`eessi.as4.render` wrote it, signed and encrypted, and
    its P-Mode says so: every check passed without an XML tree (D320); ``None``: read it the
    general way (which also gives every refusal its code and words)."""
    recognised = receive_rendered(
        parts.envelope, parts.attachments, credentials, trust, now, unwrap=unwrap
    )
    if recognised is None:
        return None
    um, attachments, refs = recognised
    try:
        security = pmodes.find(um.service, um.action).security
    except ConfigError:
        return None
    if not (security.signs and security.encrypts):
        return None
    try:
        delivered = open_payloads(um, tuple(attachments), pmodes, receiver=receiver)
    except EessiError as exc:
        exc.details["authenticated"] = True  # as below: past the P-Mode's security
        raise
    return Incoming(delivered, refs, unwrap.unwrapped)


def _digests(root: etree._Element, attachments: list[Attachment]) -> tuple[SignedReference, ...]:
    """The digests an unsigned message's receipt acknowledges: eb:Messaging and the Body by
    their own ``wsu:Id`` (another access point names them as it likes, or not at all: then
    they are left out), and every attachment."""
    refs: list[SignedReference] = []
    header = root.find(f"{{{SOAP_NS}}}Header")
    messaging = header.find(f"{{{EB_NS}}}Messaging") if header is not None else None
    for el in (messaging, root.find(f"{{{SOAP_NS}}}Body")):
        ident = el.get(WSU_ID) if el is not None else None
        if el is not None and ident:
            digest = b64(hashlib.sha256(c14n(el)).digest())
            refs.append(SignedReference("#" + ident, (EXC_C14N,), SHA256, digest))
    for a in attachments:
        digest = b64(hashlib.sha256(a.data).digest())
        refs.append(
            SignedReference(
                "cid:" + a.content_id, (ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,), SHA256, digest
            )
        )
    return tuple(refs)


def receipt_for(
    incoming: Incoming,
    *,
    message_id: str,
    timestamp: datetime,
    credentials: Credentials | None,
) -> Packaged:
    """The receipt for ``incoming``, signed when its P-Mode asks for non-repudiation."""
    security = incoming.delivered.pmode.security
    receipt = Receipt(
        message_id, timestamp, incoming.delivered.message.message_id, incoming.references
    )
    signer = credentials if security.signs and security.receipt_non_repudiation else None
    if security.signs and security.receipt_non_repudiation and credentials is None:
        raise _no_keys(incoming.delivered.pmode, "signs receipts", "this receiver's key")
    rendered = render_receipt(receipt, signer)  # the template; the lxml path makes the same bytes
    if rendered is None:
        rendered = serialize(signed_receipt(receipt, signer))
    return package(rendered, [])


def error_for(
    exc: EessiError, *, ref_to_message_id: str | None, message_id: str, timestamp: datetime
) -> Packaged:
    """The error signal answering ``exc`` (its ebMS code, and what/where/hint as description)."""
    row = ebms_error_of(exc)
    description = str(exc)
    signal = ErrorSignal(
        message_id,
        timestamp,
        (
            error_detail(
                row,
                ref_to_message_in_error=ref_to_message_id,
                description=description[:2000],
                detail=exc.code,
            ),
        ),
        ref_to_message_id,
    )
    return package(serialize(error_envelope(signal)), [])


def read_signal(
    content_type: str,
    body: bytes,
    *,
    sent: Outgoing,
    trust: Trust | None,
    receiver: str,
    now: datetime,
) -> Receipt | ErrorSignal:
    """The answer to ``sent``: a receipt checked against it, or the peer's error signal."""
    parts = unpackage(content_type, body)
    security = sent.pmode.security
    if trust is not None and security.signs and security.receipt_non_repudiation:
        receipt = read_rendered_receipt(  # our template's receipt, checked as text (D320)
            parts.envelope,
            message_id=sent.message.message_id,
            sent=sent.references,
            trust=trust,
            receiver=receiver,
            now=now,
        )
        if receipt is not None and not parts.attachments:
            return receipt
    parsed = parse_envelope(parts.envelope)
    message = parsed.message
    if isinstance(message, UserMessage):
        raise EnvelopeError(
            "a user message where a signal was expected",
            code="as4.header",
            where="eb:Messaging",
            details={"ebms_code": "EBMS:0302"},
        )
    if isinstance(message, Receipt):
        security = sent.pmode.security
        signed = security.signs and security.receipt_non_repudiation
        check_receipt(
            parsed.root,
            message,
            message_id=sent.message.message_id,
            sent=sent.references,
            trust=trust if signed else None,
            receiver=receiver,
            now=now,
        )
    return message
