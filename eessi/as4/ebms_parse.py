"""Parsing AS4 messages: the SOAP 1.2 envelope and its ``eb:Messaging`` header, hardened.

:func:`parse_envelope` reads untrusted envelope bytes through :mod:`eessi.sed.xmlsafe` (no
DTD, no entities, no network, bounded size and depth) and checks the header's structure as the
ebMS 3.0 schema has it, by hand and in one pass (the official schemas are not shipped with the
project; the tests check both agree). It returns a :class:`Parsed` with the
:class:`~eessi.as4.model.UserMessage`, :class:`~eessi.as4.model.Receipt` or
:class:`~eessi.as4.model.ErrorSignal` it holds.

:func:`open_payloads` then checks a user message against its P-Mode and the EESSI mapping and
returns the SED: the part its ``eb:PartInfo`` names, decompressed within the P-Mode's bound.

Every refusal is an :class:`~eessi.errors.EnvelopeError` (or :class:`~eessi.errors.ConfigError`
for a P-Mode mismatch) whose ``details["ebms_code"]`` is the ebMS error to answer with
(:func:`eessi.as4.codes.ebms_error_of`) and whose ``where`` names the element and line.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from eessi.as4.mapping import buc_of_service, institution_of_party, sed_of_action
from eessi.as4.model import (
    DS_NS,
    EB_NS,
    EBBP_NS,
    SOAP_NS,
    WSSE_NS,
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
from eessi.as4.pmode import PMode, PModeSet
from eessi.as4.security import child, children
from eessi.errors import ConfigError, EnvelopeError, SedError
from eessi.sed import xmlsafe

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "Delivered",
    "Parsed",
    "open_payloads",
    "parse_envelope",
]

#: An envelope (header, signature, encrypted keys) is a few KB; larger ones are refused.
MAX_ENVELOPE_BYTES = 256 * 1024
_MAX_DEPTH = 40
_EB = "{" + EB_NS + "}"
_S = "{" + SOAP_NS + "}"
_DS = "{" + DS_NS + "}"
_NR_PART = "{" + EBBP_NS + "}MessagePartNRInformation"
_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_UNDERSTOOD = {_EB + "Messaging", "{" + WSSE_NS + "}Security"}


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed envelope: its tree (for the security layer) and the message it carries."""

    root: etree._Element
    message: UserMessage | Receipt | ErrorSignal
    #: The ``wsse:Security`` header, if any.
    security: etree._Element | None


@dataclass(frozen=True, slots=True)
class Delivered:
    """A checked user message, its P-Mode and the SED it carries (decompressed)."""

    message: UserMessage
    pmode: PMode
    buc: str
    sed_type: str
    sed_version: str | None
    sender: str
    receiver: str
    payload: bytes


def _where(el: etree._Element) -> str:
    path = el.getroottree().getpath(el)
    for prefix, ns in (("env", SOAP_NS), ("eb", EB_NS)):
        path = path.replace("{" + ns + "}", prefix + ":")
    return f"{path} (line {el.sourceline})"


def _invalid(message: str, el: etree._Element | None, code: str = "EBMS:0009") -> EnvelopeError:
    return EnvelopeError(
        message,
        code="as4.header",
        where=_where(el) if el is not None else "SOAP envelope",
        hint="the eb:Messaging header must follow the ebMS 3.0 schema (docs/as4.md)",
        details={"ebms_code": code},
    )


def parse_envelope(data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> Parsed:
    """Parse and check the SOAP envelope ``data``; see the module docstring."""
    try:
        root = xmlsafe.parse(data, max_bytes=max_bytes, max_depth=_MAX_DEPTH, where="SOAP part")
    except SedError as exc:
        raise EnvelopeError(
            f"the SOAP envelope is refused: {exc.message}",
            code="as4.header",
            where=exc.where,
            hint=exc.hint,
            details={**exc.details, "ebms_code": "EBMS:0009"},
        ) from None
    if root.tag == "{" + _SOAP11 + "}Envelope":
        raise _invalid("a SOAP 1.1 envelope: AS4 uses SOAP 1.2", root)
    if root.tag != _S + "Envelope":
        raise _invalid(f"the root element is {root.tag!r}, not a SOAP 1.2 Envelope", root)
    children = list(_elements(root))
    if len(children) != 2 or children[0].tag != _S + "Header" or children[1].tag != _S + "Body":
        raise _invalid("a SOAP Envelope holds a Header and a Body, in that order", root)
    header, body = children
    messaging: etree._Element | None = None
    security: etree._Element | None = None
    for block in _elements(header):
        if block.tag == _EB + "Messaging":
            if messaging is not None:
                raise _invalid("more than one eb:Messaging header", block)
            messaging = block
        elif block.tag == "{" + WSSE_NS + "}Security":
            if security is not None:
                raise _invalid("more than one wsse:Security header", block, "EBMS:0103")
            security = block
        elif block.get(_S + "mustUnderstand") in ("true", "1"):
            raise _invalid(
                f"header block {block.tag} must be understood, and this receiver does not",
                block,
                "EBMS:0008",
            )
    if messaging is None:
        raise _invalid("no eb:Messaging header", header)
    units = list(_elements(messaging))
    if len(units) != 1:
        raise _invalid(
            "eb:Messaging must hold exactly one UserMessage or SignalMessage here", messaging
        )
    unit = units[0]
    message: UserMessage | Receipt | ErrorSignal
    if unit.tag == _EB + "UserMessage":
        message = _user_message(unit)
        if len(body) or (body.text or "").strip():
            raise _invalid(
                "the SOAP Body is not empty: the SED travels as an attachment", body, "EBMS:0003"
            )
    elif unit.tag == _EB + "SignalMessage":
        message = _signal(unit)
    else:
        raise _invalid(f"unexpected {unit.tag} in eb:Messaging", unit)
    return Parsed(root, message, security)


def _elements(parent: etree._Element) -> list[etree._Element]:
    """The child elements (no comments or processing instructions), filtered by lxml."""
    return list(parent.iterchildren(etree.Element))


class _Reader:
    """Walks the children of one element in schema order."""

    __slots__ = ("items", "parent", "pos", "size")

    def __init__(self, parent: etree._Element) -> None:
        self.parent = parent
        self.items = _elements(parent)
        self.size = len(self.items)
        self.pos = 0

    def optional(self, name: str) -> etree._Element | None:
        pos = self.pos
        if pos < self.size:
            el = self.items[pos]
            if el.tag == _EB + name:
                self.pos = pos + 1
                return el
        return None

    def required(self, name: str) -> etree._Element:
        el = self.optional(name)
        if el is None:
            found = self.items[self.pos].tag if self.pos < len(self.items) else "nothing"
            raise _invalid(f"eb:{name} is missing (found {found})", self.parent)
        return el

    def many(self, name: str) -> list[etree._Element]:
        out = []
        while (el := self.optional(name)) is not None:
            out.append(el)
        return out

    def end(self) -> None:
        if self.pos < len(self.items):
            raise _invalid(f"unexpected {self.items[self.pos].tag}", self.items[self.pos])


def _text(el: etree._Element) -> str:
    text = (el.text or "").strip()
    if not text or len(el):
        raise _invalid(f"{etree.QName(el).localname} must be a non-empty text", el)
    return text


def _message_info(info_el: etree._Element) -> tuple[str, datetime, str | None]:
    """``eb:MessageInfo`` (the first child of the unit, :meth:`_Reader.required`)."""
    info = _Reader(info_el)
    ts_el = info.required("Timestamp")
    mid = _text(info.required("MessageId"))
    ref_el = info.optional("RefToMessageId")
    info.end()
    raw = _text(ts_el)
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Timestamp {raw!r} is not an xsd:dateTime", ts_el) from None
    if ts.tzinfo is None:
        raise _invalid(f"Timestamp {raw!r} has no time zone (AS4 uses UTC)", ts_el)
    return mid, ts, _text(ref_el) if ref_el is not None else None


def _party(el: etree._Element) -> Party:
    r = _Reader(el)
    ids = r.many("PartyId")
    if len(ids) != 1:
        raise _invalid("each of From and To must name exactly one PartyId here", el)
    role = _text(r.required("Role"))
    r.end()
    return Party(_text(ids[0]), ids[0].get("type"), role)


def _properties(el: etree._Element | None) -> tuple[Property, ...]:
    if el is None:
        return ()
    out = []
    reader = _Reader(el)
    for p in reader.many("Property"):
        name = p.get("name")
        if not name:
            raise _invalid("a Property has no name", p)
        out.append(Property(name, (p.text or "").strip(), p.get("type")))
    if len(out) != reader.size:
        raise _invalid("only eb:Property elements may appear here", el)
    return tuple(out)


def _user_message(unit: etree._Element) -> UserMessage:
    r = _Reader(unit)
    mid, ts, ref = _message_info(r.required("MessageInfo"))
    party_info = r.required("PartyInfo")
    pr = _Reader(party_info)
    from_party = _party(pr.required("From"))
    to_party = _party(pr.required("To"))
    pr.end()
    collab = r.required("CollaborationInfo")
    cr = _Reader(collab)
    agreement = cr.optional("AgreementRef")
    service = cr.required("Service")
    action = _text(cr.required("Action"))
    conversation = _text(cr.required("ConversationId"))
    cr.end()
    props = _properties(r.optional("MessageProperties"))
    payload_info = r.optional("PayloadInfo")
    r.end()
    parts: list[PartInfo] = []
    if payload_info is not None:
        parts_reader = _Reader(payload_info)
        for part in parts_reader.many("PartInfo"):
            href = part.get("href")
            if href is None or not href.startswith("cid:") or len(href) < 5:
                raise _invalid(
                    'PartInfo must name an attachment (href="cid:...")', part, "EBMS:0003"
                )
            pr2 = _Reader(part)
            pr2.optional("Schema")
            pr2.optional("Description")
            part_props = _properties(pr2.optional("PartProperties"))
            pr2.end()
            parts.append(PartInfo(href, part_props))
        if len(parts) != parts_reader.size or not parts:
            raise _invalid("PayloadInfo holds PartInfo elements only", payload_info)
    return UserMessage(
        message_id=mid,
        timestamp=ts,
        ref_to_message_id=ref,
        from_party=from_party,
        to_party=to_party,
        agreement=_text(agreement) if agreement is not None else "",
        agreement_type=agreement.get("type") if agreement is not None else None,
        pmode=agreement.get("pmode") if agreement is not None else None,
        service=_text(service),
        service_type=service.get("type"),
        action=action,
        conversation_id=conversation,
        properties=props,
        parts=tuple(parts),
    )


def _signal(unit: etree._Element) -> Receipt | ErrorSignal:
    r = _Reader(unit)
    mid, ts, ref = _message_info(r.required("MessageInfo"))
    r.optional("PullRequest")
    receipt = r.optional("Receipt")
    errors = r.many("Error")
    rest = r.items[r.pos :]
    if any(el.tag.startswith(_EB) for el in rest):
        raise _invalid(f"unexpected {rest[0].tag} in the SignalMessage", rest[0])
    if receipt is not None and errors:
        raise _invalid("a SignalMessage with both a Receipt and Errors", unit)
    if receipt is not None:
        if ref is None:
            raise _invalid("a Receipt must name the message it answers (RefToMessageId)", unit)
        return Receipt(mid, ts, ref, _receipt_references(receipt))
    if not errors:
        raise _invalid("a SignalMessage without a Receipt or an Error", unit, "EBMS:0001")
    return ErrorSignal(mid, ts, tuple(_error(e) for e in errors), ref)


def _receipt_references(receipt: etree._Element) -> tuple[SignedReference, ...]:
    refs = []
    for ref in receipt.iter(_DS + "Reference"):
        parent = ref.getparent()
        if parent is None or parent.tag != _NR_PART:
            continue
        method = child(ref, _DS + "DigestMethod")
        value = child(ref, _DS + "DigestValue")
        if method is None or value is None or not (value.text or "").strip():
            raise _invalid("a non-repudiation Reference lacks its digest", ref, "EBMS:0302")
        transforms = tuple(
            t.get("Algorithm", "")
            for ts in children(ref, _DS + "Transforms")
            for t in children(ts, _DS + "Transform")
        )
        refs.append(
            SignedReference(
                ref.get("URI", ""),
                transforms,
                method.get("Algorithm", ""),
                (value.text or "").strip(),
            )
        )
    return tuple(refs)


def _error(el: etree._Element) -> ErrorDetail:
    code = el.get("errorCode")
    severity = el.get("severity")
    if not code or severity not in ("failure", "warning"):
        raise _invalid("an eb:Error needs errorCode and severity (failure|warning)", el)
    desc = el.find(_EB + "Description")
    detail = el.find(_EB + "ErrorDetail")
    return ErrorDetail(
        code=code,
        short_description=el.get("shortDescription", ""),
        category=el.get("category", ""),
        severity=severity,
        ref_to_message_in_error=el.get("refToMessageInError"),
        origin=el.get("origin"),
        description=(desc.text or "").strip() if desc is not None else None,
        detail=(detail.text or "").strip() if detail is not None else None,
    )


# --- the user message against its P-Mode, and its payload ------------------------------------


def _mismatch(message: str, code: str, hint: str) -> EnvelopeError:
    return EnvelopeError(
        message, code="as4.pmode", where="eb:UserMessage", hint=hint, details={"ebms_code": code}
    )


def open_payloads(
    um: UserMessage,
    attachments: tuple[Attachment, ...],
    pmodes: PModeSet,
    *,
    receiver: str | None = None,
) -> Delivered:
    """Check ``um`` against its P-Mode and the EESSI mapping, and return its SED.

    ``receiver``: the IR ID of this access point; a message for another is refused
    (EBMS:0003). ``attachments`` are the (decrypted) parts of the MIME package.
    """
    try:
        pmode = pmodes.find(um.service, um.action)
    except ConfigError as exc:
        raise _mismatch(exc.message, "EBMS:0010", exc.hint or "") from None
    if um.pmode is not None and um.pmode != pmode.id:
        raise _mismatch(
            f"AgreementRef names P-Mode {um.pmode!r}; {um.service}/{um.action} is in {pmode.id!r}",
            "EBMS:0010",
            "use the P-Mode IDs of docs/as4.md",
        )
    if um.agreement != pmode.agreement or (um.agreement_type or None) != pmode.agreement_type:
        raise _mismatch(
            f"AgreementRef {um.agreement!r} is not P-Mode {pmode.id}'s {pmode.agreement!r}",
            "EBMS:0010",
            "send under the agreement of the P-Mode",
        )
    if um.service_type != pmode.business.service_type:
        raise _mismatch(
            f"Service type {um.service_type!r} is not {pmode.business.service_type!r}",
            "EBMS:0010",
            "the Service type is part of the P-Mode",
        )
    parties = pmode.parties
    for side, party, role in (
        ("From", um.from_party, parties.initiator_role),
        ("To", um.to_party, parties.responder_role),
    ):
        if party.role != role:
            raise _mismatch(
                f"{side} Role {party.role!r} is not the P-Mode's {role!r}", "EBMS:0010", ""
            )
        if party.type != parties.party_id_type:
            raise _mismatch(
                f"{side} PartyId type {party.type!r} is not {parties.party_id_type!r}",
                "EBMS:0003",
                "institutions are named by their IR ID with the P-Mode's PartyId type",
            )
    sender = institution_of_party(um.from_party.id, um.from_party.type)
    to = institution_of_party(um.to_party.id, um.to_party.type)
    if not parties.may_initiate(sender) or not parties.may_respond(to):
        raise _mismatch(f"P-Mode {pmode.id} does not allow {sender} -> {to}", "EBMS:0010", "")
    if receiver is not None and to != receiver:
        raise _mismatch(
            f"the message is for {to}, this access point is {receiver}", "EBMS:0003", ""
        )
    for name, expected in (("originalSender", sender), ("finalRecipient", to)):
        value = um.property(name)
        if value is not None and value != expected:
            raise _mismatch(
                f"{name} {value!r} is not the PartyId {expected!r}",
                "EBMS:0003",
                "each simulated institution is its own access point (docs/as4.md)",
            )
    buc = buc_of_service(um.service, um.service_type)
    sed_type = sed_of_action(buc, um.action)
    if len(um.parts) != 1:
        raise _mismatch(
            f"{len(um.parts)} payloads; an EESSI message carries exactly one SED",
            "EBMS:0003",
            "one PartInfo naming the SED attachment",
        )
    part = um.parts[0]
    cid = part.content_id or ""
    by_id = {a.content_id: a for a in attachments}
    attachment = by_id.get(cid)
    if attachment is None:
        raise _mismatch(
            f"PartInfo names <{cid}>, which is not a part of the MIME package",
            "EBMS:0011",
            "attach the payload the PartInfo href names",
        )
    if len(by_id) != 1:
        raise EnvelopeError(
            "the MIME package has attachments no PartInfo names",
            code="as4.mime",
            where="multipart/related",
            details={"ebms_code": "EBMS:0007"},
        )
    payload = attachment.data
    compression = part.property("CompressionType")
    if compression is not None:
        if compression != "application/gzip":
            raise _mismatch(
                f"CompressionType {compression!r}: AS4 compresses with application/gzip",
                "EBMS:0303",
                "",
            )
        if part.property("MimeType") is None:
            raise _mismatch(
                "a compressed part must give its MimeType (AS4 profile 3.1)", "EBMS:0003", ""
            )
        payload = _gunzip(payload, pmode.max_payload_bytes)
    if len(payload) > pmode.max_payload_bytes:
        raise _mismatch(
            f"the SED is {len(payload)} bytes, over P-Mode {pmode.id}'s {pmode.max_payload_bytes}",
            "EBMS:0010",
            "",
        )
    return Delivered(
        message=um,
        pmode=pmode,
        buc=buc,
        sed_type=sed_type,
        sed_version=part.property("SedVersion"),
        sender=sender,
        receiver=to,
        payload=payload,
    )


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress one gzip member, refusing more than ``limit`` bytes (no gzip bomb)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise _mismatch(f"the payload does not decompress: {exc}", "EBMS:0303", "") from None
    if len(out) > limit:
        raise _mismatch(f"the payload decompresses to more than {limit} bytes", "EBMS:0303", "")
    if not d.eof or d.unused_data.strip(b"\x00"):
        raise _mismatch("the gzip payload is truncated or has trailing data", "EBMS:0303", "")
    return out
