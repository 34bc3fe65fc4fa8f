"""How EESSI maps onto eDelivery AS4 (the table of ``docs/as4.md``, as code).

=====================  ==========================================================================
EESSI                  ebMS 3.0 / eDelivery AS4
=====================  ==========================================================================
BUC (``S_BUC_01``)     ``eb:Service`` = the BUC name, ``@type`` = :data:`SERVICE_TYPE`
SED type (``S072``)    ``eb:Action`` = the SED type (horizontal X SEDs travel in their case's BUC)
case ID                ``eb:ConversationId`` = the case ID, unchanged
institution (IR ID)    ``eb:PartyId`` = the IR ID (``LU:CNS00001``), ``@type`` =
                       :data:`PARTY_ID_TYPE`; each simulated institution is its own Access Point,
                       so From/To (C2/C3) and ``originalSender``/``finalRecipient`` (C1/C4) name
                       the same institution
sender / receiver      ``eb:Role``: the P-Mode's initiator and responder roles (ebMS defaults)
SED version            ``eb:PartProperties/eb:Property[@name="SedVersion"]`` (also in the SED's
                       namespace; the property lets a receiver route before it decompresses)
the SED itself         one attachment, gzip-compressed (``CompressionType``
                       ``application/gzip``, ``MimeType`` ``application/xml``)
agreement              ``eb:AgreementRef`` = :data:`AGREEMENT`, ``@pmode`` = the P-Mode ID
=====================  ==========================================================================

The real EESSI network's Service/Action/PartyId type values are fixed by its own P-Modes, which
are not public; the values here are the simulator's own URNs (``urn:eessi-sim:...``), chosen so
that a Domibus administrator can copy them into a P-Mode (``docs/as4.md`` has one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from eessi.directory import IR_ID_PATTERN
from eessi.errors import EnvelopeError
from eessi.sed.catalogue import BUCS, SEDS

__all__ = [
    "AGREEMENT",
    "DEFAULT_INITIATOR_ROLE",
    "DEFAULT_RESPONDER_ROLE",
    "PARTY_ID_TYPE",
    "SERVICE_TYPE",
    "Addressing",
    "action_for",
    "actions_of_buc",
    "buc_of_service",
    "institution_of_party",
    "sed_of_action",
]

#: ``eb:Service/@type``: the Service value is an EESSI BUC name.
SERVICE_TYPE: Final = "urn:eessi-sim:service:buc"
#: ``eb:PartyId/@type`` (an ebCore "unregistered" catalogue): the value is an IR ID.
PARTY_ID_TYPE: Final = "urn:oasis:names:tc:ebcore:partyid-type:unregistered:eessi-ir"
#: ``eb:AgreementRef``: the agreement under which the simulated institutions exchange SEDs.
AGREEMENT: Final = "urn:eessi-sim:agreement:sed-exchange"
#: The ebMS 3.0 default roles (core section 5.2.2.3), used unless a P-Mode names others.
DEFAULT_INITIATOR_ROLE: Final = (
    "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator"
)
DEFAULT_RESPONDER_ROLE: Final = (
    "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder"
)


@functools.lru_cache(maxsize=256)
def actions_of_buc(buc: str) -> tuple[str, ...]:
    """The Actions (SED types) a BUC's Service carries: its own SEDs, then the horizontal ones
    (worked out once per BUC from the fixed catalogue: every message sent and received asks)."""
    own = tuple(code for code, sed in SEDS.items() if buc in sed.bucs)
    horizontal = tuple(code for code, sed in SEDS.items() if sed.horizontal)
    return own + horizontal


def action_for(buc: str, sed: str) -> str:
    """The ``eb:Action`` of SED type ``sed`` in BUC ``buc``; raises if the BUC cannot carry it."""
    if buc not in BUCS:
        raise EnvelopeError(
            f"no Service for BUC {buc!r}",
            code="as4.mapping",
            hint=f"known BUCs: {', '.join(sorted(BUCS))}",
        )
    if sed not in actions_of_buc(buc):
        raise EnvelopeError(
            f"SED {sed} does not travel in {buc}",
            code="as4.mapping",
            hint=f"{buc} carries {', '.join(actions_of_buc(buc))}",
        )
    return sed


def buc_of_service(service: str, service_type: str | None) -> str:
    """The BUC an inbound ``eb:Service`` names, or :class:`EnvelopeError` (EBMS:0003)."""
    if service_type != SERVICE_TYPE or service not in BUCS:
        raise EnvelopeError(
            f"Service {service!r} (type {service_type!r}) names no BUC",
            code="as4.mapping",
            hint=f"the Service is a BUC name with type {SERVICE_TYPE}",
            details={"ebms_code": "EBMS:0003"},
        )
    return service


def sed_of_action(buc: str, action: str) -> str:
    """The SED type an inbound ``eb:Action`` names within ``buc``, or :class:`EnvelopeError`."""
    if action not in actions_of_buc(buc):
        raise EnvelopeError(
            f"Action {action!r} is no SED of {buc}",
            code="as4.mapping",
            hint=f"{buc} carries {', '.join(actions_of_buc(buc))}",
            details={"ebms_code": "EBMS:0003"},
        )
    return action


def institution_of_party(party_id: str, party_type: str | None) -> str:
    """The IR ID an inbound ``eb:PartyId`` names, or :class:`EnvelopeError` (EBMS:0003)."""
    if party_type != PARTY_ID_TYPE or not IR_ID_PATTERN.match(party_id):
        raise EnvelopeError(
            f"PartyId {party_id!r} (type {party_type!r}) is not an institution ID",
            code="as4.mapping",
            hint=f"an IR ID such as LU:CNS00001, with type {PARTY_ID_TYPE}",
            details={"ebms_code": "EBMS:0003"},
        )
    return party_id


@dataclass(frozen=True, slots=True)
class Addressing:
    """The EESSI side of one user message: who, which case, which BUC and SED."""

    #: IR ID of the sending institution (From, and the ``originalSender`` property).
    sender: str
    #: IR ID of the receiving institution (To, and the ``finalRecipient`` property).
    receiver: str
    #: The case ID: the ``eb:ConversationId``.
    case_id: str
    buc: str
    #: SED type, the ``eb:Action``.
    sed: str
    #: SED version (``4.4``): a part property.
    sed_version: str
