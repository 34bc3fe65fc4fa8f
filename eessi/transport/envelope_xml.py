"""The HMAC envelope's XML (module :mod:`eessi.transport.envelope` says how it encodes and
decodes): :func:`encode`, :func:`decode` and the schema. Imported when first used (D232); the
values (:class:`~eessi.transport.envelope.UserMessage`, ``Receipt``, ``ErrorSignal``) live in
:mod:`eessi.transport.envelope`, shared with eDelivery AS4."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from eessi.errors import EnvelopeError, HostileXmlError, SedError
from eessi.sed import xmlsafe
from eessi.sed.schemas import schema_dir
from eessi.transport.envelope import (
    _NS,
    MAX_ENVELOPE_BYTES,
    NAMESPACE,
    ErrorSignal,
    Receipt,
    UserMessage,
)

__all__ = ["decode", "decode_signal", "decode_user_message", "encode", "envelope_schema_path"]


# -- encoding -------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all; only free text (error descriptions) may contain them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MAX_TEXT = 4000


def _esc(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _esc_attr(value: str) -> str:
    return _esc(value).replace('"', "&quot;")


def _text(value: str) -> str:
    """Free text made safe for XML: illegal characters dropped, length bounded."""
    return _esc(_XML_ILLEGAL.sub("", value)[:_MAX_TEXT])


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("envelope timestamps must be timezone-aware")
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _message_info(message_id: str, timestamp: datetime, ref: str | None) -> str:
    ref_xml = "" if ref is None else f"<RefToMessageId>{_esc(ref)}</RefToMessageId>"
    return (
        f"<MessageInfo><Timestamp>{_ts(timestamp)}</Timestamp>"
        f"<MessageId>{_esc(message_id)}</MessageId>{ref_xml}</MessageInfo>"
    )


_OPEN = f'<?xml version="1.0" encoding="UTF-8"?>\n<Messaging xmlns="{NAMESPACE}">'


def encode(message: UserMessage | Receipt | ErrorSignal) -> bytes:
    """The envelope XML of ``message`` (UTF-8), valid against ``envelope.xsd``."""
    if isinstance(message, UserMessage):
        m = message
        body = (
            "<UserMessage>"
            + _message_info(m.message_id, m.timestamp, m.ref_to_message_id)
            + f"<PartyInfo><From><PartyId>{_esc(m.from_party)}</PartyId></From>"
            f"<To><PartyId>{_esc(m.to_party)}</PartyId></To></PartyInfo>"
            f"<CollaborationInfo><Service>{_esc(m.service)}</Service>"
            f"<Action>{_esc(m.action)}</Action>"
            f"<ConversationId>{_esc(m.conversation_id)}</ConversationId></CollaborationInfo>"
            f'<PayloadInfo><PartInfo href="cid:{_esc_attr(m.payload_id)}">'
            f"<SedType>{_esc(m.sed_type)}</SedType><SedVersion>{_esc(m.sed_version)}</SedVersion>"
            f"<Digest>{_esc(m.payload_digest)}</Digest><Size>{m.payload_size:d}</Size>"
            "</PartInfo></PayloadInfo></UserMessage>"
        )
    elif isinstance(message, Receipt):
        body = (
            "<SignalMessage>"
            + _message_info(message.message_id, message.timestamp, message.ref_to_message_id)
            + "<Receipt/></SignalMessage>"
        )
    else:
        e = message
        ref_attr = (
            ""
            if e.ref_to_message_id is None
            else f' refToMessageInError="{_esc_attr(e.ref_to_message_id)}"'
        )
        detail = "" if e.detail is None else f"<ErrorDetail>{_text(e.detail)}</ErrorDetail>"
        body = (
            "<SignalMessage>"
            + _message_info(e.message_id, e.timestamp, e.ref_to_message_id)
            + f'<Error errorCode="{_esc_attr(e.code)}" severity="{_esc_attr(e.severity)}"'
            f' shortDescription="{_esc_attr(e.short_description)}"{ref_attr}>'
            f"<Description>{_text(e.description)}</Description>{detail}</Error></SignalMessage>"
        )
    return (_OPEN + body + "</Messaging>").encode("utf-8")


# -- decoding -------------------------------------------------------------------------------


def envelope_schema_path() -> Path:
    """Where ``envelope.xsd`` is (the schema directory is resolved in one place, D1)."""
    return schema_dir() / "envelope" / "envelope.xsd"


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    path = envelope_schema_path()
    try:
        return etree.XMLSchema(etree.parse(str(path), xmlsafe.PARSER))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise EnvelopeError(
            f"the envelope schema cannot be loaded: {exc}",
            where=str(path),
            hint="reinstall eessi-sim or restore schemas/envelope/envelope.xsd",
            code="transport.envelope-schema",
        ) from exc


def _invalid(
    message: str, where: str | None, *, code: str = "transport.envelope-invalid"
) -> EnvelopeError:
    return EnvelopeError(
        message,
        where=where,
        hint="send an envelope valid against schemas/envelope/envelope.xsd",
        code=code,
    )


def _readable_path(root: etree._Element, line: int, tag: str | None) -> str | None:
    """A namespace-free path (``/Messaging/UserMessage/MessageInfo``) to the element named
    ``tag`` on ``line``; libxml2's own path is ``/*/*/*`` for namespaced documents."""
    for el in root.iter():
        source_line: int | None = getattr(el, "sourceline", None)  # the stubs miss its type
        if not isinstance(el.tag, str) or source_line != line:
            continue
        if tag is not None and el.tag != tag:
            continue
        names = []
        node: etree._Element | None = el
        while node is not None:
            local = etree.QName(node).localname
            parent = node.getparent()
            if parent is not None:
                same = [c for c in parent if c.tag == node.tag]
                if len(same) > 1:
                    local += f"[{same.index(node) + 1}]"
            names.append(local)
            node = parent
        return "/" + "/".join(reversed(names))
    return None


_ELEMENT_IN_MSG = re.compile(r"Element '([^']+)'")


def _parse_valid(data: bytes) -> etree._Element:
    if not data.strip():
        raise _invalid("the envelope is empty", "envelope part")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise _invalid(
            f"the envelope is {len(data)} bytes, more than the {MAX_ENVELOPE_BYTES} allowed",
            "envelope part",
        )
    try:
        # The one hardened parser of the project: no DTD (refused before parsing), no
        # entities, no network, libxml2's depth limit.
        root = xmlsafe.parse(data, max_bytes=MAX_ENVELOPE_BYTES, where="envelope part")
    except SedError as exc:
        line = exc.details.get("line")
        code = (
            "transport.envelope-hostile"
            if isinstance(exc, HostileXmlError)
            else "transport.envelope-invalid"
        )
        if line is not None:
            where = f"envelope part, line {line}"
        elif "DOCTYPE" in exc.message:
            where = "envelope part, DOCTYPE"
        else:
            where = "envelope part"
        raise _invalid(f"the envelope is refused: {exc.message}", where, code=code) from exc
    schema = _schema()
    if not schema.validate(root):
        # The first error is the most specific; the stubs do not type the error log.
        err = next(iter(cast("Iterable[Any]", schema.error_log)))
        m = _ELEMENT_IN_MSG.search(err.message)
        tag = m.group(1) if m else None
        path = _readable_path(root, err.line, tag) or err.path
        raise _invalid(f"the envelope is invalid: {err.message}", f"line {err.line}, {path}")
    return root


def _q(local: str) -> str:
    return _NS + local


_USER, _PARTY, _PART, _RECEIPT, _ERROR = (
    _q("UserMessage"),
    _q("PartyId"),
    _q("PartInfo"),
    _q("Receipt"),
    _q("Error"),
)
_TIMESTAMP, _MESSAGE_ID, _REF = _q("Timestamp"), _q("MessageId"), _q("RefToMessageId")
_CONVERSATION, _SED_TYPE, _SED_VERSION = _q("ConversationId"), _q("SedType"), _q("SedVersion")
_DIGEST, _SIZE, _SERVICE, _ACTION = _q("Digest"), _q("Size"), _q("Service"), _q("Action")
_DESCRIPTION, _DETAIL = _q("Description"), _q("ErrorDetail")


def _whole(el: etree._Element | None) -> str | None:
    """The whole text of a leaf element, comments and processing instructions left out.

    ``el.text`` stops at the first child, and a comment or PI is a child in lxml: it would read
    ``<Size><?x?>2209</Size>`` as empty (while the schema, which ignores them, sees 2209)."""
    if el is None:
        return None
    if len(el) == 0:
        return el.text
    return "".join(str(t) for t in el.itertext())  # str: the stubs allow bytes


def _t(elements: dict[object, etree._Element], tag: str) -> str:
    return (_whole(elements.get(tag)) or "").strip()


def decode(data: bytes) -> UserMessage | Receipt | ErrorSignal:
    """Parse and validate an envelope; raise :class:`EnvelopeError` with line and path."""
    root = _parse_valid(data)
    # One pass over the (schema-valid) tree; local names are unique per envelope except
    # PartyId (From, then To). Walking once is ~3x cheaper than indexing children in lxml, and
    # cheaper than ``iter(*tags)`` (lxml then matches every node against each tag). Text is
    # read whole (:func:`_whole`), as the schema saw it.
    elements: dict[object, etree._Element] = {}
    parties: list[str] = []
    holder: etree._Element | None = None
    for el in root.iter():
        tag = el.tag
        if tag == _PARTY:
            parties.append((_whole(el) or "").strip())
        elif tag in (_PART, _ERROR):
            holder = el
        elements[tag] = el
    try:
        timestamp = datetime.fromisoformat(_t(elements, _TIMESTAMP))
    except ValueError as exc:  # valid xs:dateTime Python cannot hold, e.g. 24:00:00
        raise _invalid(
            f"the envelope timestamp cannot be read: {exc}", "MessageInfo/Timestamp"
        ) from exc
    message_id = _whole(elements.get(_MESSAGE_ID)) or ""
    ref = _whole(elements.get(_REF)) if _REF in elements else None
    if _USER in elements:
        assert holder is not None
        size = _t(elements, _SIZE)
        try:  # the schema's xs:nonNegativeInteger; a ValueError here would be a 500
            payload_size = int(size)
        except ValueError as exc:
            raise _invalid(
                f"the payload size {size!r} is not a number of bytes",
                "/Messaging/UserMessage/PayloadInfo/PartInfo/Size",
            ) from exc
        return UserMessage(
            message_id=message_id,
            timestamp=timestamp,
            from_party=parties[0],
            to_party=parties[1],
            conversation_id=_whole(elements.get(_CONVERSATION)) or "",
            sed_type=_t(elements, _SED_TYPE),
            sed_version=_t(elements, _SED_VERSION),
            payload_digest=_whole(elements.get(_DIGEST)) or "",
            payload_size=payload_size,
            ref_to_message_id=ref,
            service=_t(elements, _SERVICE),
            action=_t(elements, _ACTION),
            payload_id=(holder.get("href") or "").strip()[4:],
        )
    if _RECEIPT in elements:
        if ref is None:
            raise _invalid(
                "a Receipt must name the message it acknowledges (RefToMessageId)",
                "/Messaging/SignalMessage/MessageInfo",
            )
        return Receipt(message_id=message_id, timestamp=timestamp, ref_to_message_id=ref)
    assert holder is not None
    return ErrorSignal(
        message_id=message_id,
        timestamp=timestamp,
        code=(holder.get("errorCode") or "").strip(),
        short_description=(holder.get("shortDescription") or "").strip(),
        description=_whole(elements.get(_DESCRIPTION)) or "",
        ref_to_message_id=ref if ref is not None else holder.get("refToMessageInError"),
        severity=(holder.get("severity") or "").strip(),
        detail=(_whole(elements.get(_DETAIL)) or "") if _DETAIL in elements else None,
    )


def decode_user_message(data: bytes) -> UserMessage:
    """Decode an envelope that must be a :class:`UserMessage`."""
    msg = decode(data)
    if not isinstance(msg, UserMessage):
        raise _invalid(
            "expected a UserMessage but the envelope holds a SignalMessage",
            "/Messaging/SignalMessage",
        )
    return msg


def decode_signal(data: bytes) -> Receipt | ErrorSignal:
    """Decode an envelope that must be a signal (:class:`Receipt` or :class:`ErrorSignal`)."""
    msg = decode(data)
    if isinstance(msg, UserMessage):
        raise _invalid(
            "expected a Receipt or an Error signal but the envelope holds a UserMessage",
            "/Messaging/UserMessage",
        )
    return msg
