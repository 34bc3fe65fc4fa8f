"""The SBDH-like business document header that travels with every SED.

Who sends to whom (IR IDs and case roles), which document (type, CDM version, instance UUID,
version within the case, creation time, case action) and in which case (case ID, BUC name and
version). Schema: ``schemas/header/sbdh.xsd``, namespace :data:`SBDH_NS`, qualified elements,
root ``StandardBusinessDocumentHeader``.

Same rules as the SED models: frozen dataclasses checked on construction, encoded by the generic
codec (imported lazily, so the core can use :class:`Header` without lxml).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Self

from eessi.errors import SedError
from eessi.sed.catalogue import Role
from eessi.sed.model import INSTITUTION_ID_RE, Node, xml

__all__ = [
    "SBDH_NS",
    "BusinessScope",
    "CaseAction",
    "DocumentIdentification",
    "Header",
    "Partner",
]

#: Namespace of the header elements.
SBDH_NS: Final = "http://ec.europa.eu/eessi/ns/sim/sbdh"
#: Root element name.
ROOT: Final = "StandardBusinessDocumentHeader"
_UUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class CaseAction(Enum):
    """What the document does to its case."""

    #: Opens the case (the BUC's first SED).
    CREATE = "Create"
    #: Answers a SED of the case.
    REPLY = "Reply"
    #: A new version of a SED already sent.
    UPDATE = "Update"
    #: Invalidates a SED already sent (X008).
    INVALIDATE = "Invalidate"
    #: Closes the case (X001).
    CLOSE = "Close"
    #: Any other document in the case (reminders, clarifications, notifications).
    NOTIFY = "Notify"


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner(Node):
    """Sender or receiver: the institution's IR ID and its role in the case."""

    identifier: str = field(metadata=xml("identifier", pattern=INSTITUTION_ID_RE))
    role: Role = field(metadata=xml("role", Role))


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentIdentification(Node):
    """Which document this is."""

    #: SED code, e.g. ``"S071"``.
    type: str = field(metadata=xml("type", pattern=r"[A-Z][0-9]{3}[A-Z]?"))
    #: CDM version of the SED, e.g. ``"4.4"``.
    type_version: str = field(metadata=xml("typeVersion", pattern=r"[0-9]+\.[0-9]+"))
    #: The document's UUID (what ``SedReference.sed_id`` points at).
    instance_id: str = field(metadata=xml("instanceIdentifier", pattern=_UUID))
    #: Version of the document within the case (1 for the first issue).
    document_version: int | None = field(
        default=None, metadata=xml("documentVersion", "int", optional=True, min_value=1)
    )
    #: Creation time, time-zone aware.
    created: _dt.datetime = field(metadata=xml("creationDateAndTime", "datetime"))
    case_action: CaseAction = field(metadata=xml("caseAction", CaseAction))


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessScope(Node):
    """The case the document belongs to."""

    case_id: str = field(metadata=xml("caseId", max_len=65, pattern=r"[A-Za-z0-9._:\-]+"))
    #: BUC name, e.g. ``"S_BUC_01"``.
    buc_name: str = field(metadata=xml("bucName", pattern=r"[A-Z]_BUC_[0-9]{2}[A-Z]?"))
    #: BUC version, e.g. ``"v4.2"``.
    buc_version: str = field(metadata=xml("bucVersion", pattern=r"v[0-9]+\.[0-9]+"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Header(Node):
    """The business document header of one SED."""

    sender: Partner = field(metadata=xml("Sender", Partner))
    receiver: Partner = field(metadata=xml("Receiver", Partner))
    document: DocumentIdentification = field(
        metadata=xml("DocumentIdentification", DocumentIdentification)
    )
    scope: BusinessScope = field(metadata=xml("BusinessScope", BusinessScope))

    def to_xml(self) -> bytes:
        """The header as a standalone XML document (deterministic bytes)."""
        from eessi.sed.codec import encode_root

        return encode_root(
            self, root_ns=SBDH_NS, root_name=ROOT, prefix="sbdh", version="", qualified=True
        )

    @classmethod
    def from_xml(cls, data: bytes) -> Self:
        """Decode a header document; raises :class:`SedError` if the root is not a header."""
        from lxml import etree

        from eessi.sed.codec import decode_root, parse

        root = parse(data)
        if root.tag != f"{{{SBDH_NS}}}{ROOT}":
            raise SedError(
                f"expected a {ROOT} in {SBDH_NS}, got {etree.QName(root).text}",
                code="sed.not-a-header",
                where="/",
                hint="pass the header part of the message",
            )
        return decode_root(root, cls, version="", qualified_ns=SBDH_NS)
