"""Building AS4 messages: the SOAP 1.2 envelope with ``eb:Messaging`` (ebMS 3.0 core, 5.2).

* :func:`user_message_envelope`, :func:`receipt_envelope`, :func:`error_envelope` build the
  envelope of a :class:`~eessi.as4.model.UserMessage`, a :class:`~eessi.as4.model.Receipt`
  (with ``ebbp:NonRepudiationInformation``) or an :class:`~eessi.as4.model.ErrorSignal`: the
  ``eb:Messaging`` header (``mustUnderstand``) and an empty Body, each with a ``wsu:Id`` so the
  security layer can sign them;
* :func:`sed_user_message` maps one SED onto a user message as ``docs/as4.md`` says: the BUC as
  Service, the SED type as Action, the case as ConversationId, the institutions as PartyIds
  and as ``originalSender``/``finalRecipient``, the SED gzip-compressed as the one attachment.

The envelope is an lxml tree: the security layer signs and encrypts it in place, and
:func:`serialize` gives the bytes for :func:`eessi.as4.mime.package`.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Sequence
from datetime import UTC, datetime

from lxml import etree

from eessi.as4.codes import EbmsError
from eessi.as4.mapping import Addressing, action_for
from eessi.as4.model import (
    DS_NS,
    EB_NS,
    EBBP_NS,
    SOAP_NS,
    WSU_NS,
    Attachment,
    ErrorDetail,
    ErrorSignal,
    PartInfo,
    Party,
    Property,
    Receipt,
    SignedReference,
    UserMessage,
)
from eessi.as4.pmode import PMode

__all__ = [
    "BODY_ID",
    "GZIP_LEVEL",
    "MESSAGING_ID",
    "error_detail",
    "error_envelope",
    "format_timestamp",
    "receipt_envelope",
    "reference_element",
    "sed_user_message",
    "serialize",
    "user_message_envelope",
]

#: zlib's default level: a 5 KB SED packs to within a few bytes of level 9, at half the CPU.
GZIP_LEVEL = 6
#: ``wsu:Id`` of the ``eb:Messaging`` header and of the SOAP Body (what the signature names).
MESSAGING_ID = "_ebMessaging"
BODY_ID = "_soapBody"

_EB = "{" + EB_NS + "}"
_EBBP = "{" + EBBP_NS + "}"
_S = "{" + SOAP_NS + "}"
_WSU_ID = "{" + WSU_NS + "}Id"
_NSMAP = {"env": SOAP_NS, "eb": EB_NS, "wsu": WSU_NS}


def format_timestamp(ts: datetime) -> str:
    """``xsd:dateTime`` in UTC with milliseconds and ``Z``, as AS4 access points write it."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # isoformat in UTC is "YYYY-MM-DDTHH:MM:SS.mmm+00:00" (milliseconds truncated, as
    # microsecond // 1000): the first 23 characters and a Z; a seventh of strftime's cost.
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(_S + "Envelope", nsmap=_NSMAP)
    header = etree.SubElement(env, _S + "Header")
    messaging = etree.SubElement(header, _EB + "Messaging")
    messaging.set(_S + "mustUnderstand", "true")
    messaging.set(_WSU_ID, MESSAGING_ID)
    body = etree.SubElement(env, _S + "Body")
    body.set(_WSU_ID, BODY_ID)
    return env, messaging


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _EB + name)
    if text is not None:
        el.text = text
    return el


def _message_info(parent: etree._Element, mid: str, ts: datetime, ref: str | None) -> None:
    info = _sub(parent, "MessageInfo")
    _sub(info, "Timestamp", format_timestamp(ts))
    _sub(info, "MessageId", mid)
    if ref is not None:
        _sub(info, "RefToMessageId", ref)


def _party(parent: etree._Element, name: str, party: Party) -> None:
    el = _sub(parent, name)
    pid = _sub(el, "PartyId", party.id)
    if party.type is not None:
        pid.set("type", party.type)
    _sub(el, "Role", party.role)


def _properties(parent: etree._Element, name: str, props: Sequence[Property]) -> None:
    if not props:
        return
    holder = _sub(parent, name)
    for p in props:
        el = _sub(holder, "Property", p.value)
        el.set("name", p.name)
        if p.type is not None:
            el.set("type", p.type)


def user_message_envelope(um: UserMessage) -> etree._Element:
    """The SOAP envelope of ``um``: ``eb:Messaging/eb:UserMessage`` and an empty Body."""
    env, messaging = _envelope()
    user = _sub(messaging, "UserMessage")
    _message_info(user, um.message_id, um.timestamp, um.ref_to_message_id)
    party_info = _sub(user, "PartyInfo")
    _party(party_info, "From", um.from_party)
    _party(party_info, "To", um.to_party)
    collab = _sub(user, "CollaborationInfo")
    agreement = _sub(collab, "AgreementRef", um.agreement)
    if um.agreement_type is not None:
        agreement.set("type", um.agreement_type)
    if um.pmode is not None:
        agreement.set("pmode", um.pmode)
    service = _sub(collab, "Service", um.service)
    if um.service_type is not None:
        service.set("type", um.service_type)
    _sub(collab, "Action", um.action)
    _sub(collab, "ConversationId", um.conversation_id)
    _properties(user, "MessageProperties", um.properties)
    if um.parts:
        payload_info = _sub(user, "PayloadInfo")
        for part in um.parts:
            el = _sub(payload_info, "PartInfo")
            el.set("href", part.href)
            _properties(el, "PartProperties", part.properties)
    return env


def receipt_envelope(receipt: Receipt) -> etree._Element:
    """The envelope of a receipt with ``ebbp:NonRepudiationInformation`` (AS4 profile 5.1.8)."""
    env, messaging = _envelope()
    signal = _sub(messaging, "SignalMessage")
    _message_info(signal, receipt.message_id, receipt.timestamp, receipt.ref_to_message_id)
    holder = _sub(signal, "Receipt")
    nri = etree.SubElement(holder, _EBBP + "NonRepudiationInformation", nsmap={"ebbp": EBBP_NS})
    for ref in receipt.references:
        part = etree.SubElement(nri, _EBBP + "MessagePartNRInformation")
        part.append(reference_element(ref))
    return env


def reference_element(ref: SignedReference) -> etree._Element:
    """A ``ds:Reference`` element for ``ref``."""
    ds = "{" + DS_NS + "}"
    el = etree.Element(ds + "Reference", nsmap={"ds": DS_NS})
    el.set("URI", ref.uri)
    if ref.transforms:
        transforms = etree.SubElement(el, ds + "Transforms")
        for algorithm in ref.transforms:
            etree.SubElement(transforms, ds + "Transform").set("Algorithm", algorithm)
    etree.SubElement(el, ds + "DigestMethod").set("Algorithm", ref.digest_algorithm)
    etree.SubElement(el, ds + "DigestValue").text = ref.digest_value
    return el


def error_detail(
    error: EbmsError,
    *,
    ref_to_message_in_error: str | None,
    description: str | None = None,
    detail: str | None = None,
) -> ErrorDetail:
    """An ``eb:Error`` value from a row of the error table."""
    return ErrorDetail(
        code=error.code,
        short_description=error.short_description,
        category=error.category,
        severity=error.severity,
        ref_to_message_in_error=ref_to_message_in_error,
        description=description,
        detail=detail,
    )


def error_envelope(signal: ErrorSignal) -> etree._Element:
    """The envelope of an error signal: one ``eb:Error`` per detail (ebMS 3.0 core 6.2)."""
    env, messaging = _envelope()
    holder = _sub(messaging, "SignalMessage")
    _message_info(holder, signal.message_id, signal.timestamp, signal.ref_to_message_id)
    for e in signal.errors:
        el = _sub(holder, "Error")
        el.set("errorCode", e.code)
        el.set("severity", e.severity)
        el.set("category", e.category)
        el.set("shortDescription", e.short_description)
        if e.origin is not None:
            el.set("origin", e.origin)
        if e.ref_to_message_in_error is not None:
            el.set("refToMessageInError", e.ref_to_message_in_error)
        if e.description is not None:
            desc = _sub(el, "Description", e.description)
            desc.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        if e.detail is not None:
            _sub(el, "ErrorDetail", e.detail)
    return env


def serialize(env: etree._Element) -> bytes:
    """The envelope's bytes: UTF-8 with an XML declaration, as the MIME root part."""
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def sed_user_message(
    addressing: Addressing,
    pmode: PMode,
    sed: bytes,
    *,
    message_id: str,
    timestamp: datetime,
    content_id: str,
    ref_to_message_id: str | None = None,
) -> tuple[UserMessage, Attachment]:
    """The user message that carries ``sed`` (and its attachment), as ``docs/as4.md`` maps it.

    The SED is gzip-compressed (AS4 compression, fixed ``mtime`` so the bytes are
    reproducible) when the P-Mode says ``compress``; ``content_id`` names the MIME part.
    """
    action = action_for(addressing.buc, addressing.sed)
    if action not in pmode.business.actions or addressing.buc != pmode.business.service:
        from eessi.errors import ConfigError

        raise ConfigError(
            f"P-Mode {pmode.id!r} does not carry {addressing.buc}/{action}",
            code="pmode.no-match",
            hint="pick the P-Mode with PModeSet.find(service, action)",
            details={"ebms_code": "EBMS:0010"},
        )
    parties = pmode.parties
    if pmode.compress:
        data = gzip.compress(sed, compresslevel=GZIP_LEVEL, mtime=0)
        content_type = "application/gzip"
    else:
        data = sed
        content_type = "application/xml"
    from_party, to_party = _parties(
        addressing.sender,
        addressing.receiver,
        parties.party_id_type,
        parties.initiator_role,
        parties.responder_role,
    )
    um = UserMessage(
        message_id=message_id,
        timestamp=timestamp,
        ref_to_message_id=ref_to_message_id,
        from_party=from_party,
        to_party=to_party,
        agreement=pmode.agreement,
        agreement_type=pmode.agreement_type,
        pmode=pmode.id,
        service=pmode.business.service,
        service_type=pmode.business.service_type,
        action=action,
        conversation_id=addressing.case_id,
        properties=_message_properties(addressing.sender, addressing.receiver),
        parts=(
            PartInfo("cid:" + content_id, _part_properties(pmode.compress, addressing.sed_version)),
        ),
    )
    return um, Attachment(content_id, content_type, data)


# The header values that are the same for every message between two parties under one P-Mode,
# made once: frozen values, shared by the messages that carry them.


@functools.lru_cache(maxsize=256)
def _parties(
    sender: str, receiver: str, id_type: str | None, initiator: str, responder: str
) -> tuple[Party, Party]:
    return Party(sender, id_type, initiator), Party(receiver, id_type, responder)


@functools.lru_cache(maxsize=256)
def _message_properties(sender: str, receiver: str) -> tuple[Property, ...]:
    # No @type: the ebMS 3.0 schema (200704) has no type attribute on eb:Property, and
    # every message we send must be valid against it (docs/as4.md).
    return (Property("originalSender", sender), Property("finalRecipient", receiver))


@functools.lru_cache(maxsize=64)
def _part_properties(compress: bool, sed_version: str) -> tuple[Property, ...]:
    props = [Property("MimeType", "application/xml")]
    if compress:
        props.append(Property("CompressionType", "application/gzip"))
    props += (Property("CharacterSet", "UTF-8"), Property("SedVersion", sed_version))
    return tuple(props)
