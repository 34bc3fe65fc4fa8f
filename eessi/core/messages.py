"""What the co-insurance process is told, and what it answers: inputs, events, steps.

The process is sans-I/O (in the style of h11): a desk is told "this happened" with one of its
input values (:data:`CnsInput` for the CNS, :data:`FundInput` for a foreign fund: documents,
time, and the fund's commands :data:`FundCommand`) and answers with a :class:`Step`: the
**events** (what happened in the domain, for the journal, the admin API and tests), the
**outgoing** documents to send (the runtime encodes, journals and transports them) and the
**timers** to set (the runtime calls the desk back with :class:`TimePassed` when one is due).
Nothing here does anything; these are values, frozen and slotted, checked in their
constructors.

Who is who: a household is named by its ``household`` key (the registry's key, see
:mod:`eessi.core.registry`); a family member by a :class:`MemberRef` (household key + the
member's ``id`` in the household file). Institutions by their IR ID (``"LU:CNS00001"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import TypeAlias, TypeVar

from eessi.core import case as case_machine
from eessi.core.buc_table import CaseState
from eessi.core.eligibility import Decision
from eessi.core.facts import DocumentKind
from eessi.errors import DomainError
from eessi.quick_init import quick_init
from eessi.sed.catalogue import BUCS, Role
from eessi.sed.documents import Document, RejectionReason

__all__ = [
    "AskAgain",
    "CaseEvent",
    "CaseOpened",
    "CaseStateChanged",
    "Channel",
    "CloseCase",
    "CnsInput",
    "CoInsuranceRegistered",
    "CoInsuranceRequested",
    "DecisionMade",
    "DocumentProvided",
    "DocumentReceived",
    "DocumentRefused",
    "DocumentsReminder",
    "DocumentsRequested",
    "EntitlementAnswered",
    "EntitlementIssued",
    "EntitlementRecorded",
    "EntitlementRefused",
    "EntitlementRegistered",
    "EntitlementUnrecorded",
    "EntitlementUnregistered",
    "Event",
    "FundCommand",
    "FundInput",
    "Input",
    "InvalidateDocument",
    "IssueEntitlement",
    "MemberRef",
    "NotRegistered",
    "Outgoing",
    "PersonUnknown",
    "ReferredToService",
    "RegisterEntitlement",
    "RegistrationWithdrawn",
    "RejectDocument",
    "ReminderSent",
    "RequestClarification",
    "RequestEntitlement",
    "RequestRejected",
    "ServiceDecision",
    "Step",
    "TimePassed",
    "Timer",
    "WithdrawEntitlement",
]


def _bad(message: str, hint: str) -> DomainError:
    return DomainError(message, hint=hint, code="domain.bad-input")


def _aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise _bad(f"{what} needs a timezone-aware datetime, got {at!r}", "give a UTC datetime")


@quick_init
@dataclass(frozen=True, slots=True, order=True)
class MemberRef:
    """One family member of one household: ``MemberRef("silva", "ana")``."""

    #: The registry key of the household (its ``Household.id``).
    household: str
    #: ``FamilyMember.id`` in that household.
    member: str

    def __str__(self) -> str:
        return f"{self.household}/{self.member}"


class Channel(Enum):
    """How a request for co-insurance reached the CNS (R3, R4, R18)."""

    #: By phone to the Service Coassurance.
    PHONE = "phone"
    #: By e-mail to the Service Coassurance.
    EMAIL = "email"
    #: On the CNS's form, by post or at the desk.
    FORM = "form"


# --------------------------------------------------------------------------- inputs


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentReceived:
    """A SED arrived over EESSI (already decoded and schema-valid: that is the sed layer's job).

    ``answers`` is the ``document_id`` this document refers to (the request it answers, or the
    document an X-SED acts on). If ``None`` for a horizontal SED, the desk reads it from the
    SED's own reference (``X008.invalidated``, ``X010.reminder``...).
    """

    case_id: str
    #: BUC name of the case, from the business scope of the header (``"S_BUC_01"``).
    buc: str
    #: IR ID of the sending institution.
    sender: str
    #: The document's instance identifier (a UUID).
    document_id: str
    sed: Document
    answers: str | None = None

    def __post_init__(self) -> None:
        if self.buc not in BUCS:
            raise _bad(f"unknown BUC {self.buc!r}", f"known BUCs: {', '.join(BUCS)}")
        if not self.case_id or not self.document_id or not self.sender:
            raise _bad(
                "a received document needs a case_id, a document_id and a sender",
                "take them from the message's header (business scope, document identification)",
            )


@quick_init
@dataclass(frozen=True, slots=True)
class CoInsuranceRequested:
    """The main insured asked the CNS to co-insure a member (R3, R4, R5, R18)."""

    #: Luxembourg PIN (matricule) of the main insured who asks.
    main_insured_pin: str
    #: ``FamilyMember.id`` of the member to co-insure.
    member: str
    channel: Channel = Channel.FORM


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentProvided:
    """A document arrived outside EESSI (R15 civil-status documents, R5-R7, BL1/BL6, R4...).

    A :attr:`DocumentKind.ENTITLEMENT_CERTIFICATE_FROM_INSURED` is recorded but refused (R13).
    """

    main_insured_pin: str
    member: str
    kind: DocumentKind

    def __post_init__(self) -> None:
        if self.kind in _EESSI_KINDS:
            raise _bad(
                f"{self.kind.value} travels over EESSI, not as a document provided",
                "give it to the desk as a DocumentReceived",
            )
        if self.kind is DocumentKind.CNS_SERVICE_DECISION:
            raise _bad(
                "the CNS service's decision is not a document provided",
                "give it as a ServiceDecision",
            )


_EESSI_KINDS = frozenset(
    {DocumentKind.S041, DocumentKind.S071, DocumentKind.S072, DocumentKind.S073}
)


@quick_init
@dataclass(frozen=True, slots=True)
class ServiceDecision:
    """The CNS Service Coassurance et signalétique decided (R18; R11 authorisation)."""

    main_insured_pin: str
    member: str
    approved: bool
    #: ``CNS_SERVICE_DECISION`` (R18) or ``CNS_AUTHORISATION`` (R11, only when approved).
    kind: DocumentKind = DocumentKind.CNS_SERVICE_DECISION

    def __post_init__(self) -> None:
        if self.kind not in (DocumentKind.CNS_SERVICE_DECISION, DocumentKind.CNS_AUTHORISATION):
            raise _bad(
                f"a service decision cannot be a {self.kind.value}",
                "use kind cns_service_decision (R18) or cns_authorisation (R11)",
            )


@quick_init
@dataclass(frozen=True, slots=True)
class WithdrawEntitlement:
    """The CNS invalidates (X008) the S072 it sent in ``case_id`` (e.g. sent by mistake)."""

    case_id: str
    #: Free text for the X008's additional information.
    reason: str = "entitlement document withdrawn by the CNS"


@quick_init
@dataclass(frozen=True, slots=True)
class IssueEntitlement:
    """The CNS, as competent institution, sends the S072 unasked (S_BUC_01A) for ``person``.

    ``person`` is the ``MainInsured.id`` (the cross-border worker himself) or a
    ``FamilyMember.id`` of ``household``. ``to`` is the IR ID of the fund of the person's
    country of residence; ``None`` takes it from ``CnsParams.residence_funds``. One S072 per
    person: a second one while the first is in effect is refused.
    """

    household: str
    person: str
    to: str | None = None

    def __post_init__(self) -> None:
        if not self.household or not self.person:
            raise _bad(
                "IssueEntitlement needs a household and a person",
                "name the household key and the main insured's or member's id in it",
            )


@quick_init
@dataclass(frozen=True, slots=True)
class TimePassed:
    """The time is now ``now``: deadlines that passed produce reminders."""

    now: datetime

    def __post_init__(self) -> None:
        _aware(self.now, "TimePassed")


# --------------------------------------------------------------------------- fund commands


@quick_init
@dataclass(frozen=True, slots=True)
class RequestEntitlement:
    """Foreign fund: open an S_BUC_01 case asking ``to`` (the CNS) for the S072 of the person
    the fund knows as ``person`` (its record key, ``"household/member"`` on a node).

    ``to`` None: the node fills in the directory's CNS before the desk sees it; a desk handed
    None refuses the command."""

    person: str
    to: str | None = None
    #: Start of the requested period (default: today).
    start: date | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class RegisterEntitlement:
    """Foreign fund: send the S073 for the confirmed S072 of ``case_id`` (when not automatic)."""

    case_id: str


@quick_init
@dataclass(frozen=True, slots=True)
class InvalidateDocument:
    """Foreign fund: invalidate (X008) our document ``sed`` (e.g. ``"S073"``) in ``case_id``."""

    case_id: str
    sed: str


@quick_init
@dataclass(frozen=True, slots=True)
class RejectDocument:
    """Foreign fund: reject (X011) the peer's document ``sed`` in ``case_id``, for ``reason``."""

    case_id: str
    sed: str = "S072"
    reason: RejectionReason = RejectionReason.CONTENT_INCORRECT


@quick_init
@dataclass(frozen=True, slots=True)
class RequestClarification:
    """Foreign fund: ask (X012) about the peer's document ``sed`` in ``case_id``."""

    case_id: str
    sed: str = "S072"
    question: str = "Please confirm."


@quick_init
@dataclass(frozen=True, slots=True)
class CloseCase:
    """Foreign fund: close ``case_id`` (X001)."""

    case_id: str


@quick_init
@dataclass(frozen=True, slots=True)
class AskAgain:
    """Foreign fund: send a new S071 in ``case_id`` after the CNS rejected it or we withdrew
    it."""

    case_id: str


#: What a foreign fund's operator (or a scripted mock) tells its desk to do.
FundCommand: TypeAlias = (
    RequestEntitlement
    | RegisterEntitlement
    | InvalidateDocument
    | RejectDocument
    | RequestClarification
    | CloseCase
    | AskAgain
)

#: Everything :meth:`~eessi.core.cns.CnsDesk.handle` takes.
CnsInput: TypeAlias = (
    DocumentReceived
    | CoInsuranceRequested
    | DocumentProvided
    | ServiceDecision
    | WithdrawEntitlement
    | IssueEntitlement
    | TimePassed
)

#: Everything :meth:`~eessi.core.fund.FundDesk.handle` takes.
FundInput: TypeAlias = DocumentReceived | TimePassed | FundCommand

#: Every input of either desk.
Input: TypeAlias = CnsInput | FundCommand


# --------------------------------------------------------------------------- outputs


@quick_init
@dataclass(frozen=True, slots=True)
class Outgoing:
    """A SED to send: to ``receiver`` (IR ID), in ``case_id`` of ``buc``."""

    receiver: str
    case_id: str
    buc: str
    sed: Document
    #: The new document's instance identifier (a UUID from the injected generator).
    document_id: str
    #: The ``document_id`` it answers or acts on, if any.
    answers: str | None = None

    def received_by_peer(self, sender: str) -> DocumentReceived:
        """The same document as the receiver's desk is told about it (tests, in-memory runs)."""
        return DocumentReceived(
            self.case_id, self.buc, sender, self.document_id, self.sed, self.answers
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Timer:
    """Call the desk back with :class:`TimePassed` at ``due`` (``what`` says why)."""

    due: datetime
    case_id: str | None
    what: str


@quick_init
@dataclass(frozen=True, slots=True)
class CaseOpened:
    """A case was opened, by us (we own it) or by the peer's starter (we are counterparty)."""

    case_id: str
    buc: str
    role: Role
    #: IR ID of the other side.
    peer: str
    member: MemberRef | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class CaseStateChanged:
    """The case machine moved from ``old`` to ``new`` on document ``sed`` ``document_id``."""

    case_id: str
    buc: str
    old: CaseState
    new: CaseState
    sed: str
    document_id: str
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class CaseEvent:
    """Any other event of the case machine (reply expected, reminder due, rejected...)."""

    case_id: str
    buc: str
    event: case_machine.Event


@quick_init
@dataclass(frozen=True, slots=True)
class DecisionMade:
    """The eligibility rules decided about ``member`` (the decision cites its rules)."""

    member: MemberRef
    decision: Decision

    @property
    def rules(self) -> tuple[str, ...]:
        return self.decision.rules


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentsRequested:
    """The CNS asks ``party`` (main insured, family member...) for ``kinds`` under ``rule``."""

    member: MemberRef
    kinds: tuple[DocumentKind, ...]
    rule: str
    #: Who must provide them (``eligibility.Party`` value: ``"main_insured"``...).
    party: str
    hint: str = ""


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentsReminder:
    """Documents asked for ``CnsParams.documents_within`` ago are still missing: ask again."""

    member: MemberRef
    kinds: tuple[DocumentKind, ...]
    rule: str
    party: str


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentRefused:
    """A document was recorded but does not count (R13: entitlement certificate from the
    insured)."""

    member: MemberRef
    kind: DocumentKind
    rule: str
    why: str


@quick_init
@dataclass(frozen=True, slots=True)
class ReferredToService:
    """The case goes to the CNS Service Coassurance et signalétique (R11, R18)."""

    member: MemberRef
    kind: DocumentKind
    rule: str


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementAnswered:
    """The CNS sent an S072 for ``member`` (``member`` is None if the person is unknown)."""

    case_id: str
    document_id: str
    member: MemberRef | None
    confirmed: bool
    start: date | None = None
    #: Reason code of a non-confirmation (``NotConfirmedReason`` value).
    reason: str | None = None
    rules: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class PersonUnknown:
    """An S071 names a person the CNS cannot find (answered "person unknown", never raised)."""

    case_id: str
    why: str


@quick_init
@dataclass(frozen=True, slots=True)
class CoInsuranceRegistered:
    """``member`` is co-insured with ``main_insured`` from ``start`` (R1 and the path's rules)."""

    member: MemberRef
    #: ``MainInsured.id`` the member is attached to.
    main_insured: str
    start: date
    end: date | None
    rules: tuple[str, ...]
    #: The S_BUC_01 case whose S072/S073 back it, if registered over EESSI (R14, R17).
    case_id: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class RegistrationWithdrawn:
    """A registration no longer stands (its S072 or S073 was invalidated or rejected)."""

    member: MemberRef
    case_id: str | None
    why: str


@quick_init
@dataclass(frozen=True, slots=True)
class NotRegistered:
    """An S073 arrived but does not make a registration (``why`` says which rule stops it)."""

    member: MemberRef | None
    case_id: str
    why: str


@quick_init
@dataclass(frozen=True, slots=True)
class RequestRejected:
    """The CNS rejected (X011, reason ``reason``) the S071 of ``case_id`` about ``member``: one
    S072 per person, and ``other_case`` already holds it or is answering it (``why`` cites
    ``rules``)."""

    case_id: str
    member: MemberRef
    reason: str
    other_case: str
    why: str
    rules: tuple[str, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class ReminderSent:
    """We sent reminder X009 ``document_id`` in ``case_id``: we still wait for ``awaited_sed``."""

    case_id: str
    document_id: str
    awaited_sed: str


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementRecorded:
    """Foreign fund side: the CNS confirmed the entitlement (S072); the fund registered the
    person and answered with an S073."""

    case_id: str
    person: str
    start: date


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementRefused:
    """Foreign fund side: the CNS did not confirm the entitlement (reason code, details)."""

    case_id: str
    person: str
    reason: str
    details: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementIssued:
    """The CNS sent an S072 unasked (S_BUC_01A) to ``to``, the fund of residence of ``person``
    (``"household/id"``): confirmed from ``start`` (to ``end``), citing ``rules``."""

    case_id: str
    document_id: str
    person: str
    to: str
    start: date
    end: date | None
    rules: tuple[str, ...]
    #: Why these rules: for the insured's own S072 no R-rule of the sources applies exactly.
    note: str = ""


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementRegistered:
    """CNS side: the fund of residence confirmed the registration (S073) of the S072 the CNS
    sent unasked in ``case_id`` (S_BUC_01A)."""

    case_id: str
    person: str
    #: The S073's registration date, if it gave one.
    registered_on: date | None


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementUnregistered:
    """CNS side: the registration of ``case_id`` no longer stands (our S072 or the fund's S073
    was invalidated or rejected)."""

    case_id: str
    person: str
    why: str


@quick_init
@dataclass(frozen=True, slots=True)
class EntitlementUnrecorded:
    """Foreign fund side: a registration the fund had recorded no longer stands (the CNS
    invalidated its S072, or the fund's S073 was invalidated or rejected)."""

    case_id: str
    person: str
    why: str


Event: TypeAlias = (
    CaseOpened
    | CaseStateChanged
    | CaseEvent
    | DecisionMade
    | DocumentsRequested
    | DocumentsReminder
    | DocumentRefused
    | ReferredToService
    | EntitlementAnswered
    | PersonUnknown
    | CoInsuranceRegistered
    | RegistrationWithdrawn
    | NotRegistered
    | RequestRejected
    | ReminderSent
    | EntitlementRecorded
    | EntitlementRefused
    | EntitlementIssued
    | EntitlementRegistered
    | EntitlementUnregistered
    | EntitlementUnrecorded
)


_E = TypeVar("_E")


@quick_init
@dataclass(frozen=True, slots=True)
class Step:
    """What a desk answers to one input."""

    events: tuple[Event, ...] = ()
    outgoing: tuple[Outgoing, ...] = ()
    timers: tuple[Timer, ...] = ()

    def of(self, kind: type[_E]) -> tuple[_E, ...]:
        """The events of one type, in order (``step.of(CoInsuranceRegistered)``)."""
        return tuple(e for e in self.events if isinstance(e, kind))

    def __add__(self, other: Step) -> Step:
        return Step(
            self.events + other.events,
            self.outgoing + other.outgoing,
            self.timers + other.timers,
        )
