"""The ebMS 3.0 message values: what :mod:`ebms_build` writes and :mod:`ebms_parse` reads.

Frozen, slotted value classes that mirror the ``eb:Messaging`` header one to one (ebMS 3.0
core, section 5.2), so a test can compare a parsed message with the one that was built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = [
    "DS_NS",
    "EBBP_NS",
    "EB_NS",
    "NSMAP",
    "SOAP_NS",
    "WSSE_NS",
    "WSU_NS",
    "XENC_NS",
    "Attachment",
    "ErrorDetail",
    "ErrorSignal",
    "PartInfo",
    "Party",
    "Property",
    "Receipt",
    "SignedReference",
    "UserMessage",
]

SOAP_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
EB_NS: Final = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
EBBP_NS: Final = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0"
WSSE_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSSE11_NS: Final = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
WSU_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
XENC_NS: Final = "http://www.w3.org/2001/04/xmlenc#"
XENC11_NS: Final = "http://www.w3.org/2009/xmlenc11#"
#: The prefixes we write (readers never depend on them).
NSMAP: Final = {
    "env": SOAP_NS,
    "eb": EB_NS,
    "ebbp": EBBP_NS,
    "wsse": WSSE_NS,
    "wsse11": WSSE11_NS,
    "wsu": WSU_NS,
    "ds": DS_NS,
    "xenc": XENC_NS,
    "xenc11": XENC11_NS,
}


@dataclass(frozen=True, slots=True)
class Party:
    """``eb:From`` / ``eb:To``: one PartyId (with its type) and the Role."""

    id: str
    type: str | None
    role: str


@dataclass(frozen=True, slots=True)
class Property:
    """An ``eb:Property`` (message or part property)."""

    name: str
    value: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    """``eb:PartInfo``: a payload named by ``href`` (``cid:...``) and its part properties."""

    href: str
    properties: tuple[Property, ...] = ()

    @property
    def content_id(self) -> str | None:
        """The MIME Content-ID the href names (without ``cid:`` and angle brackets)."""
        return self.href[4:] if self.href.startswith("cid:") else None

    def property(self, name: str) -> str | None:
        return next((p.value for p in self.properties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class UserMessage:
    """``eb:UserMessage``: a business message (here: one SED) from one party to another."""

    message_id: str
    timestamp: datetime
    from_party: Party
    to_party: Party
    agreement: str
    service: str
    action: str
    conversation_id: str
    ref_to_message_id: str | None = None
    agreement_type: str | None = None
    #: ``eb:AgreementRef/@pmode``: the P-Mode the sender used.
    pmode: str | None = None
    service_type: str | None = None
    properties: tuple[Property, ...] = ()
    parts: tuple[PartInfo, ...] = ()

    def property(self, name: str) -> str | None:
        return next((p.value for p in self.properties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class SignedReference:
    """A ``ds:Reference`` of a signature: what was signed, how, and its digest (base64)."""

    uri: str
    transforms: tuple[str, ...]
    digest_algorithm: str
    digest_value: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """``eb:SignalMessage`` with ``eb:Receipt``: "I have received message X".

    ``references`` are the ``ds:Reference`` values of the received message's signature (or, when
    it was not signed, the digests the receiver computed of the same parts), carried as
    ``ebbp:NonRepudiationInformation``.
    """

    message_id: str
    timestamp: datetime
    ref_to_message_id: str
    references: tuple[SignedReference, ...]


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One ``eb:Error``."""

    code: str
    short_description: str
    category: str
    severity: str
    ref_to_message_in_error: str | None = None
    origin: str | None = "ebMS"
    description: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorSignal:
    """``eb:SignalMessage`` with one or more ``eb:Error``."""

    message_id: str
    timestamp: datetime
    errors: tuple[ErrorDetail, ...]
    ref_to_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A MIME part after the SOAP part: its Content-ID (no brackets), type and bytes."""

    content_id: str
    content_type: str
    data: bytes
