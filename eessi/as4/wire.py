"""The bytes an AS4 message is on the wire, as the journal keeps them.

An AS4 user message is an HTTP body and its ``Content-Type`` (the ``multipart/related``
boundary and ``start`` live in that header, so the body alone cannot be read back). The
journal keeps both as **one MIME entity**: ``Content-Type: <header>`` CRLF CRLF ``<body>``,
the body byte for byte as posted or received (docs/decisions.md D90). :func:`to_entity` and
:func:`from_entity` convert; :func:`sent_from_wire` rebuilds what a sender needs to check the
receipt of a journaled message (its P-Mode and the references its signature covers), so a
message built before a restart is resent, and its receipt checked, from the journal alone.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from eessi.as4.ebms_parse import parse_envelope
from eessi.as4.exchange import Outgoing
from eessi.as4.mime import Packaged, unpackage
from eessi.as4.model import DS_NS, UserMessage
from eessi.as4.model import SignedReference as Ref
from eessi.as4.pmode import PModeSet
from eessi.as4.security.sign import references
from eessi.errors import EnvelopeError

__all__ = ["ENTITY_PREFIX", "from_entity", "is_entity", "sent_from_wire", "to_entity"]

#: Every journaled AS4 message starts with these bytes.
ENTITY_PREFIX: Final = b"Content-Type: "
_SEP: Final = b"\r\n\r\n"
_DS = "{" + DS_NS + "}"


def to_entity(packaged: Packaged) -> bytes:
    """``packaged`` as one MIME entity: its Content-Type header, a blank line, the body."""
    header = packaged.content_type.encode("ascii")
    if b"\r" in header or b"\n" in header:
        raise ValueError("a Content-Type with a line break")
    return ENTITY_PREFIX + header + _SEP + packaged.body


def from_entity(data: bytes) -> Packaged:
    """The Content-Type and body of a journaled entity (:func:`to_entity`)."""
    end = data.find(_SEP)
    if not data.startswith(ENTITY_PREFIX) or end < 0:
        raise EnvelopeError(
            "not a journaled AS4 message (no Content-Type header line)",
            code="as4.wire",
            where="journal envelope",
            hint="the message was journaled by another transport; resend it with that one",
        )
    return Packaged(data[len(ENTITY_PREFIX) : end].decode("ascii"), data[end + len(_SEP) :])


def is_entity(data: bytes) -> bool:
    """Whether ``data`` is an AS4 message as the journal keeps it (not a legacy envelope)."""
    return data.startswith(ENTITY_PREFIX)


def sent_from_wire(entity: bytes, pmodes: PModeSet) -> Outgoing:
    """What the sender of the journaled user message ``entity`` checks its receipt against."""
    packaged = from_entity(entity)
    parts = unpackage(packaged.content_type, packaged.body)
    parsed = parse_envelope(parts.envelope)
    message = parsed.message
    if not isinstance(message, UserMessage):
        raise EnvelopeError(
            "the journaled message is a signal, not a user message",
            code="as4.wire",
            where="eb:Messaging",
        )
    pmode = pmodes.find(message.service, message.action)
    signature = (
        parsed.security.find(_DS + "Signature/" + _DS + "SignedInfo")
        if parsed.security is not None
        else None
    )
    if signature is not None:
        refs = tuple(_reference(el) for el in signature.iterfind(_DS + "Reference"))
    else:
        refs = references(parsed.root, parts.attachments)
    return Outgoing(message, pmode, packaged, refs)


def _reference(el: etree._Element) -> Ref:
    transforms = tuple(
        t.get("Algorithm", "") for t in el.iterfind(f"{_DS}Transforms/{_DS}Transform")
    )
    method = el.find(_DS + "DigestMethod")
    return Ref(
        el.get("URI", ""),
        transforms,
        method.get("Algorithm", "") if method is not None else "",
        el.findtext(_DS + "DigestValue") or "",
    )
