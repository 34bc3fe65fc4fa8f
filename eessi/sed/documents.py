"""One frozen dataclass per SED: ``S040``, ``S041``, ``S071``, ``S072``, ``S073``, ``X001`` …
``X050``.

Each document has a ``code`` (class constant), a ``version`` (``"4.4"`` by default, ``"4.3"``
supported), ``to_xml() -> bytes`` and ``from_xml(data) -> Self``. Field order is the schema's
element order (see ``schemas/README.md`` for the XPath of every field; each field's metadata
names it too). The XML codec (lxml) is imported only inside ``to_xml``/``from_xml``, so the
domain core can import these classes and stay pure.

Round trip: ``D.from_xml(d.to_xml()) == d`` and ``D.from_xml(b).to_xml() == b`` for bytes we
produced. Module function :func:`from_xml` decodes any SED by its root element.

Invariants checked on construction (raising :class:`~eessi.errors.SedModelError`): field
lengths, code lists and patterns as in the schemas, plus the cross-field rules the schemas
cannot state (an S072 confirmed carries a period and no reason; not confirmed carries a reason
and no period).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, ClassVar, Final, Self

from eessi.errors import SedModelError, UnsupportedVersionError
from eessi.sed.catalogue import CURRENT_VERSION, SUPPORTED_VERSIONS
from eessi.sed.model import (
    MEDIUM,
    PERIOD_CHOICE,
    SHORT,
    VERY_LONG,
    Address,
    Node,
    OptionalPeriod,
    Period,
    Person,
    PersonAddress,
    ResidenceAddress,
    xml,
)

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "DOCUMENTS",
    "S040",
    "S041",
    "S071",
    "S072",
    "S073",
    "X001",
    "X008",
    "X009",
    "X010",
    "X011",
    "X012",
    "X013",
    "X050",
    "Answer",
    "Attachment",
    "AwaitedSed",
    "BenefitType",
    "ClosureReason",
    "Document",
    "ExceptionCode",
    "FamilyMemberStatus",
    "InsurancePeriod",
    "InsuranceType",
    "InsuredStatus",
    "InvalidationReason",
    "NotConfirmed",
    "NotConfirmedReason",
    "PeriodKind",
    "Question",
    "RejectionReason",
    "ReminderReply",
    "S041Reply",
    "SedReference",
    "StatusFamilyMember",
    "StatusPerson",
    "from_element",
    "from_xml",
]

#: SED type as written in references: ``S072``, ``X009``.
SED_TYPE_PATTERN: Final = r"[A-Z][0-9]{3}[A-Z]?"
#: Document instance identifier (UUID).
UUID_PATTERN: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_ADDITIONAL = "AdditionalInformation/additionalInformation"


def _additional() -> dict[str, object]:
    return dict(xml(_ADDITIONAL, optional=True, max_len=VERY_LONG))


# --- code lists -------------------------------------------------------------------------


class InsuredStatus(Enum):
    """``StatusPerson/status/value``: the person's own status."""

    INSURED_PERSON = "01"
    PENSIONER = "02"
    PENSION_CLAIMANT = "03"


class FamilyMemberStatus(Enum):
    """``StatusFamilyMember/status/value``: family member of whom."""

    #: Family member of an insured person.
    OF_INSURED_PERSON = "01"
    #: Family member of a pensioner.
    OF_PENSIONER = "02"
    #: Family member of a pension claimant.
    OF_PENSION_CLAIMANT = "03"


class NotConfirmedReason(Enum):
    """S072 ``ReasonNotConfirmed/reason/value`` (our list)."""

    NOT_INSURED = "01"
    INSURANCE_ENDED = "02"
    PERSON_UNKNOWN = "03"
    ALREADY_COVERED = "04"
    OTHER = "99"


class S041Reply(Enum):
    """S041 ``Reply/inReplyS040/value`` (official)."""

    #: No periods completed under our legislation.
    NO_PERIODS = "01"
    #: We confirm the following periods.
    PERIODS_CONFIRMED = "02"
    #: We cannot confirm whether the requested periods were completed.
    CANNOT_CONFIRM = "03"


class InsuranceType(Enum):
    """S041 ``InsurancePeriod/insurance/value`` (official)."""

    COMPULSORY = "01"
    VOLUNTARY = "02"
    OPTIONAL_CONTINUED = "03"


class BenefitType(Enum):
    """S040 ``RequestForPeriods/benefitType/value`` (our list)."""

    SICKNESS = "01"
    MATERNITY = "02"
    PATERNITY = "03"


class PeriodKind(Enum):
    """S040 ``RequestForPeriods/typePeriods/value`` (our list)."""

    INSURANCE = "01"
    EMPLOYMENT = "02"
    SELF_EMPLOYMENT = "03"
    RESIDENCE = "04"


class ClosureReason(Enum):
    """X001 ``reason/value`` (our list)."""

    BUSINESS_COMPLETED = "01"
    OPENED_BY_MISTAKE = "02"
    DUPLICATE_CASE = "03"
    NO_REPLY = "04"
    OTHER = "99"


class InvalidationReason(Enum):
    """X008 ``reason/value`` (our list)."""

    SENT_BY_MISTAKE = "01"
    WRONG_CASE = "02"
    WRONG_PERSON = "03"
    CONTENT_INCORRECT = "04"
    OTHER = "99"


class ReminderReply(Enum):
    """X010 ``reply/value`` (our list)."""

    SENT = "01"
    WILL_BE_SENT = "02"
    CANNOT_BE_SENT = "03"


class RejectionReason(Enum):
    """X011 ``reason/value`` (our list)."""

    NOT_COMPETENT = "01"
    WRONG_CASE = "02"
    PERSON_UNKNOWN = "03"
    CONTENT_INCORRECT = "04"
    DUPLICATE = "05"
    OTHER = "99"


class ExceptionCode(Enum):
    """X050 ``exception/value`` (our list)."""

    SED_TYPE_NOT_SUPPORTED = "01"
    SED_VERSION_NOT_SUPPORTED = "02"
    CASE_UNKNOWN = "03"
    NOT_ALLOWED_IN_STATE = "04"
    INVALID_DOCUMENT = "05"
    PROCESSING_ERROR = "06"
    OTHER = "99"


# --- blocks specific to some SEDs -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusPerson(Node):
    """The person asks for themself: insured person, pensioner or pension claimant."""

    status: InsuredStatus = field(metadata=xml("status/value", InsuredStatus))


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusFamilyMember(Node):
    """The person is a family member: of whom, with the main insured's details and address."""

    status: FamilyMemberStatus = field(metadata=xml("status/value", FamilyMemberStatus))
    main_insured: Person = field(metadata=xml("PleaseFillInDetailsMainInsuredPerson", Person))
    main_insured_address: Address = field(metadata=xml("AddressMainInsuredPerson", Address))


_STATUS_CHOICE: Final[dict[str, type[Node]]] = {
    "StatusPerson": StatusPerson,
    "StatusFamilyMember": StatusFamilyMember,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SedReference(Node):
    """A pointer to another SED of the case: its type, ID (SBDH instance ID), version."""

    sed_type: str = field(metadata=xml("sedType", pattern=SED_TYPE_PATTERN))
    sed_id: str = field(metadata=xml("sedId", pattern=UUID_PATTERN))
    sed_version: int = field(default=1, metadata=xml("sedVersion", "int", min_value=1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment(Node):
    """A file attached to the case and named by a SED."""

    attachment_id: str = field(metadata=xml("attachmentId", max_len=SHORT))
    file_name: str = field(metadata=xml("fileName", max_len=MEDIUM))
    mime_type: str | None = field(
        default=None, metadata=xml("mimeType", optional=True, max_len=SHORT)
    )
    description: str | None = field(
        default=None, metadata=xml("description", optional=True, max_len=MEDIUM)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NotConfirmed(Node):
    """Why an S072 does not confirm the entitlement."""

    reason: NotConfirmedReason = field(metadata=xml("reason/value", NotConfirmedReason))
    details: str | None = field(
        default=None, metadata=xml("details", optional=True, max_len=VERY_LONG)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class InsurancePeriod(Node):
    """An S041 insurance period: the period (optional in the CDM) and the kind of insurance."""

    period: Period | None = field(
        default=None, metadata=xml("Period", optional=True, choice=PERIOD_CHOICE)
    )
    insurance: InsuranceType = field(metadata=xml("insurance/value", InsuranceType))


@dataclass(frozen=True, slots=True, kw_only=True)
class AwaitedSed(Node):
    """X009: a SED type awaited, and the SED it would answer."""

    sed_type: str = field(metadata=xml("sedType", pattern=SED_TYPE_PATTERN))
    reference: SedReference | None = field(
        default=None, metadata=xml("ReferenceSED", SedReference, optional=True)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Question(Node):
    """X012: one numbered question, optionally about one field (an XPath)."""

    number: int = field(metadata=xml("number", "int", min_value=1))
    field_path: str | None = field(
        default=None, metadata=xml("field", optional=True, max_len=MEDIUM)
    )
    text: str = field(metadata=xml("text", max_len=VERY_LONG))


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer(Node):
    """X013: the answer to question ``number``."""

    number: int = field(metadata=xml("number", "int", min_value=1))
    text: str = field(metadata=xml("text", max_len=VERY_LONG))


# --- documents --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Document(Node):
    """Base of the SED classes: the code, the CDM version and the XML methods."""

    code: ClassVar[str] = ""
    #: CDM version of this document: ``"4.4"`` (default) or ``"4.3"``.
    version: str = CURRENT_VERSION

    def _invariants(self) -> None:
        if self.version not in SUPPORTED_VERSIONS:
            raise UnsupportedVersionError(
                f"{self.code} version {self.version!r} is not supported",
                where=f"{self.code}.version",
                hint=f"use one of: {', '.join(SUPPORTED_VERSIONS)}",
            )
        self._document_invariants()

    def _document_invariants(self) -> None:
        """Cross-field rules of one SED type."""

    def to_xml(self) -> bytes:
        """The document as XML bytes (deterministic: same object, same bytes)."""
        from eessi.sed.codec import encode_sed

        return encode_sed(self)

    @classmethod
    def from_xml(cls, data: bytes) -> Self:
        """Decode ``data``; raises :class:`~eessi.errors.UnknownSedError` if it is another SED."""
        from eessi.sed.codec import decode_sed

        return decode_sed(data, {cls.code: cls}, expected=cls.code)


@dataclass(frozen=True, slots=True, kw_only=True)
class S071(Document):
    """Request for an entitlement document for residence (official CDM 4.4 structure).

    Sent by the institution of the place of residence to the competent one (R17).
    """

    code: ClassVar[str] = "S071"
    person: Person = field(metadata=xml("Person", Person))
    address: ResidenceAddress = field(
        metadata=xml("AddressOfPersonForWhomAnEntitlementDocument", ResidenceAddress)
    )
    status: StatusPerson | StatusFamilyMember = field(metadata=xml("", choice=_STATUS_CHOICE))
    period: Period = field(metadata=xml("PeriodEntitlement", choice=PERIOD_CHOICE))


@dataclass(frozen=True, slots=True, kw_only=True)
class S072(Document):
    """Entitlement document for residence, the electronic S1: one per person.

    Confirmed: ``period`` is set (fixed, or open with a start date), ``not_confirmed`` is not.
    Not confirmed: ``not_confirmed`` carries the reason, ``period`` is ``None``.
    """

    code: ClassVar[str] = "S072"
    person: Person = field(metadata=xml("Person", Person))
    address: ResidenceAddress = field(
        metadata=xml("AddressOfPersonForWhomAnEntitlementDocument", ResidenceAddress)
    )
    status: StatusPerson | StatusFamilyMember = field(metadata=xml("", choice=_STATUS_CHOICE))
    confirmed: bool = field(metadata=xml("entitlementConfirmed/value", "yesno"))
    period: Period | None = field(
        default=None, metadata=xml("PeriodEntitlement", optional=True, choice=PERIOD_CHOICE)
    )
    not_confirmed: NotConfirmed | None = field(
        default=None, metadata=xml("ReasonNotConfirmed", NotConfirmed, optional=True)
    )
    attachments: tuple[Attachment, ...] = field(
        default=(), metadata=xml("Attachments/Attachment", Attachment, many=True)
    )

    def _document_invariants(self) -> None:
        if self.confirmed and (self.period is None or self.not_confirmed is not None):
            raise SedModelError(
                "a confirmed S072 needs a period and no reason for non-confirmation",
                where="S072.period",
                hint="set period=FixedPeriod(...) or OpenPeriod(...), and not_confirmed=None",
            )
        if not self.confirmed and (self.not_confirmed is None or self.period is not None):
            raise SedModelError(
                "an S072 that does not confirm the entitlement needs a reason and no period",
                where="S072.not_confirmed",
                hint="set not_confirmed=NotConfirmed(reason=...), and period=None",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class S073(Document):
    """Notification of registration by the residence institution (answers an S072)."""

    code: ClassVar[str] = "S073"
    person: Person = field(metadata=xml("Person", Person))
    reference: SedReference | None = field(
        default=None, metadata=xml("ReferenceEntitlementDocument", SedReference, optional=True)
    )
    registered: bool = field(metadata=xml("registrationConfirmed/value", "yesno"))
    registration_date: _dt.date | None = field(
        default=None, metadata=xml("dateRegistration", "date", optional=True)
    )
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class S040(Document):
    """Request for insurance periods (R5: the CNS asks the former fund).

    The former fund and the foreign number go in ``person.pins``.
    """

    code: ClassVar[str] = "S040"
    person: Person = field(metadata=xml("Person", Person))
    benefit: BenefitType = field(metadata=xml("RequestForPeriods/benefitType/value", BenefitType))
    period_kinds: tuple[PeriodKind, ...] = field(
        metadata=xml(
            "RequestForPeriods/typePeriods/value", PeriodKind, many=True, min_items=1, max_items=4
        )
    )
    requested_periods: tuple[Period, ...] = field(
        metadata=xml(
            "RequestForPeriods/RequestedPeriod", choice=PERIOD_CHOICE, many=True, min_items=1
        )
    )
    additional_information: str | None = field(default=None, metadata=_additional())

    def _document_invariants(self) -> None:
        if len(set(self.period_kinds)) != len(self.period_kinds):
            raise SedModelError(
                "S040.period_kinds lists a kind twice", where="S040.period_kinds", hint=""
            )


_RRP = "ReplyRequestForPeriods/"


@dataclass(frozen=True, slots=True, kw_only=True)
class S041(Document):
    """Reply on insurance periods (formerly E104; official CDM 4.4 structure)."""

    code: ClassVar[str] = "S041"
    person: Person = field(metadata=xml("Person", Person))
    address: PersonAddress | None = field(
        default=None, metadata=xml("PersonAddress", PersonAddress, optional=True)
    )
    reply: S041Reply = field(metadata=xml("Reply/inReplyS040/value", S041Reply))
    insurance_periods: tuple[InsurancePeriod, ...] = field(
        default=(),
        metadata=xml(_RRP + "InsurancePeriods/InsurancePeriod", InsurancePeriod, many=True),
    )
    employment_periods: tuple[OptionalPeriod, ...] = field(
        default=(),
        metadata=xml(_RRP + "EmploymentPeriods/EmploymentPeriod", OptionalPeriod, many=True),
    )
    self_employment_periods: tuple[OptionalPeriod, ...] = field(
        default=(),
        metadata=xml(
            _RRP + "SelfEmploymentPeriods/SelfEmploymentPeriod", OptionalPeriod, many=True
        ),
    )
    residence_periods: tuple[OptionalPeriod, ...] = field(
        default=(),
        metadata=xml(_RRP + "ResidencePeriods/ResidencePeriod", OptionalPeriod, many=True),
    )
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class X001(Document):
    """Request for closure of the case (possibly delayed, e.g. by 30 days)."""

    code: ClassVar[str] = "X001"
    reason: ClosureReason = field(metadata=xml("reason/value", ClosureReason))
    closure_date: _dt.date | None = field(
        default=None, metadata=xml("dateClosure", "date", optional=True)
    )
    delay_days: int | None = field(
        default=None, metadata=xml("delayDays", "int", optional=True, min_value=0)
    )
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class X008(Document):
    """Invalidate a SED the sender sent earlier."""

    code: ClassVar[str] = "X008"
    invalidated: SedReference = field(metadata=xml("InvalidatedSED", SedReference))
    reason: InvalidationReason = field(metadata=xml("reason/value", InvalidationReason))
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class X009(Document):
    """Reminder: the sender still waits for these SEDs."""

    code: ClassVar[str] = "X009"
    awaited: tuple[AwaitedSed, ...] = field(
        metadata=xml("AwaitedSED", AwaitedSed, many=True, min_items=1)
    )
    deadline: _dt.date | None = field(default=None, metadata=xml("deadline", "date", optional=True))
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class X010(Document):
    """Reply to a reminder (X009)."""

    code: ClassVar[str] = "X010"
    reminder: SedReference = field(metadata=xml("Reminder", SedReference))
    reply: ReminderReply = field(metadata=xml("reply/value", ReminderReply))
    sent: tuple[SedReference, ...] = field(
        default=(), metadata=xml("SentSED", SedReference, many=True)
    )
    expected_date: _dt.date | None = field(
        default=None, metadata=xml("expectedDate", "date", optional=True)
    )
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class X011(Document):
    """Rejection of a received SED."""

    code: ClassVar[str] = "X011"
    rejected: SedReference = field(metadata=xml("RejectedSED", SedReference))
    reason: RejectionReason = field(metadata=xml("reason/value", RejectionReason))
    additional_information: str | None = field(default=None, metadata=_additional())


@dataclass(frozen=True, slots=True, kw_only=True)
class X012(Document):
    """Request for clarification of a SED: numbered questions."""

    code: ClassVar[str] = "X012"
    concerned: SedReference = field(metadata=xml("SEDConcerned", SedReference))
    questions: tuple[Question, ...] = field(
        metadata=xml("Question", Question, many=True, min_items=1)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class X013(Document):
    """Answer to a request for clarification (X012)."""

    code: ClassVar[str] = "X013"
    request: SedReference = field(metadata=xml("ClarificationRequest", SedReference))
    answers: tuple[Answer, ...] = field(metadata=xml("Answer", Answer, many=True, min_items=1))


@dataclass(frozen=True, slots=True, kw_only=True)
class X050(Document):
    """Business exception: the receiver could not process a SED or a case step."""

    code: ClassVar[str] = "X050"
    exception: ExceptionCode = field(metadata=xml("exception/value", ExceptionCode))
    description: str = field(metadata=xml("description", max_len=VERY_LONG))
    technical_code: str | None = field(
        default=None, metadata=xml("technicalCode", optional=True, max_len=SHORT)
    )
    concerned: SedReference | None = field(
        default=None, metadata=xml("SEDConcerned", SedReference, optional=True)
    )


#: The document class of every SED code.
DOCUMENTS: Final[dict[str, type[Document]]] = {
    cls.code: cls
    for cls in (S040, S041, S071, S072, S073, X001, X008, X009, X010, X011, X012, X013, X050)
}


def from_xml(data: bytes) -> Document:
    """Decode any SED: the root element's name and namespace pick the class and version."""
    from eessi.sed.codec import decode_sed

    return decode_sed(data, DOCUMENTS)


def from_element(root: etree._Element) -> Document:
    """Decode an already parsed SED root element (e.g. one that ``eessi.sed.validate`` checked),
    so a document is not parsed twice on the receiving path."""
    from eessi.sed.codec import decode_sed_element

    return decode_sed_element(root, DOCUMENTS)
