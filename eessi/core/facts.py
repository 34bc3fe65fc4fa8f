"""What the co-insurance process has learnt so far about a household: documents, SEDs, notices.

:func:`eessi.core.eligibility.decide` is a pure function of (household, member, date, facts,
parameters). The process (or a tester's household file) records each thing it learns as a
:class:`Fact` and grows an immutable :class:`Facts` with :meth:`Facts.with_`::

    facts = Facts().with_(
        Fact(DocumentKind.S071, member="lea", institution="FR:CPAM5701", on=date(2026, 2, 1)),
    )

A fact with ``member=None`` concerns every member of the household (a household composition
certificate, say); otherwise it concerns one member, named by the member's ``id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from eessi.errors import DomainError
from eessi.quick_init import quick_init

__all__ = ["DocumentKind", "Fact", "Facts", "S041Reply", "S041Summary"]


class DocumentKind(Enum):
    """Something the CNS can receive, send or learn. Values are the names used in JSON."""

    #: The request for co-insurance filed with the CNS (phone, e-mail, form) (R3, R18).
    CO_INSURANCE_REQUEST = "co_insurance_request"
    #: Birth certificate (R15; R16 also accepts it for a spouse).
    BIRTH_CERTIFICATE = "birth_certificate"
    #: Certificate of residence / household composition (R15).
    HOUSEHOLD_COMPOSITION = "household_composition"
    #: Marriage certificate (R15).
    MARRIAGE_CERTIFICATE = "marriage_certificate"
    #: Luxembourg certificate of partnership with its registration date (R8, R15).
    LU_PARTNERSHIP_CERTIFICATE = "lu_partnership_certificate"
    #: Certificate of co-insurance from the former fund (R5, R6).
    CO_INSURANCE_CERTIFICATE = "co_insurance_certificate"
    #: The bilateral agreement's own form, name normally ending in 104 (R6).
    BILATERAL_104 = "bilateral_104"
    #: Declaration on honour completed by the family member (R7).
    DECLARATION_ON_HONOUR = "declaration_on_honour"
    #: Details of the former fund (IR ID) and the foreign number, so the CNS can send S040 (R5).
    FORMER_FUND_DETAILS = "former_fund_details"
    #: BL1 from the Belgian mutual insurer listing the member (R16).
    BL1 = "bl1"
    #: BL6 from the Belgian mutual insurer on a change of situation (R16).
    BL6 = "bl6"
    #: S041 periods of insurance from the former fund; carries an :class:`S041Summary` (R5).
    S041 = "S041"
    #: S071 request for the S072, from the fund of residence over EESSI (R13, R17).
    S071 = "S071"
    #: The CNS has sent the S072 (electronic S1) for this member (R14, R17).
    S072 = "S072"
    #: S073 notification of registration from the fund of residence (R14, R17).
    S073 = "S073"
    #: CCSS "Information concernant une déclaration de sortie" (R4).
    CCSS_EXIT_NOTICE = "ccss_exit_notice"
    #: The CNS's authorisation for a child aged 30 or more in higher education (R11).
    CNS_AUTHORISATION = "cns_authorisation"
    #: A certificate of entitlement handed in by the main insured: never accepted (R13).
    ENTITLEMENT_CERTIFICATE_FROM_INSURED = "entitlement_certificate_from_insured"
    #: Decision of the CNS Service Coassurance et signalétique; ``approved`` says which (R18).
    CNS_SERVICE_DECISION = "cns_service_decision"

    @property
    def label(self) -> str:
        """Human name for reports ("certificate of co-insurance")."""
        return _LABELS.get(self.value, self.value.replace("_", " "))


_LABELS = {
    "co_insurance_request": "request for co-insurance",
    "household_composition": "certificate of residence/household composition",
    "lu_partnership_certificate": "Luxembourg certificate of partnership",
    "co_insurance_certificate": "certificate of co-insurance",
    "bilateral_104": "bilateral agreement form (...104)",
    "former_fund_details": "former fund's details and foreign number",
    "bl1": "BL1",
    "bl6": "BL6",
    "ccss_exit_notice": "CCSS exit notice",
    "cns_authorisation": "CNS authorisation",
    "entitlement_certificate_from_insured": "certificate of entitlement from the insured",
    "cns_service_decision": "decision of the CNS Service Coassurance et signalétique",
}


class S041Reply(Enum):
    """``Reply/inReplyS040/value`` of an S041."""

    #: 01: no periods completed under our legislation.
    NO_PERIODS = "01"
    #: 02: we confirm the following periods.
    CONFIRMED = "02"
    #: 03: we cannot confirm.
    CANNOT_CONFIRM = "03"


@quick_init
@dataclass(frozen=True, slots=True)
class S041Summary:
    """What the eligibility rules need from an S041: the reply code and the last insured day."""

    reply: S041Reply
    #: End of the last confirmed insurance period (None if open or not given).
    insured_until: date | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Fact:
    """One thing learnt: a document or SED of ``kind``, about ``member`` (None = everyone)."""

    kind: DocumentKind
    #: ``FamilyMember.id`` this fact is about; None for the whole household.
    member: str | None = None
    #: IR ID of the sending institution (``"DE:TKK00001"``) when it came from one.
    institution: str | None = None
    #: Day it was received (or sent, for :attr:`DocumentKind.S072`).
    on: date | None = None
    #: Content of an S041 (only with ``kind=S041``).
    s041: S041Summary | None = None
    #: For :attr:`DocumentKind.CNS_SERVICE_DECISION`: True eligible, False refused.
    approved: bool | None = None

    def __post_init__(self) -> None:
        if self.s041 is not None and self.kind is not DocumentKind.S041:
            raise DomainError(
                f"a {self.kind.value} fact cannot carry S041 content",
                hint="give s041=... only with kind=S041",
                code="domain.bad-fact",
            )
        if self.kind is DocumentKind.CNS_SERVICE_DECISION and self.approved is None:
            raise DomainError(
                "a CNS service decision must say approved=True or approved=False",
                hint="set approved on the fact",
                code="domain.bad-fact",
            )

    def concerns(self, member_id: str) -> bool:
        return self.member is None or self.member == member_id


@quick_init
@dataclass(frozen=True, slots=True)
class Facts:
    """An immutable collection of :class:`Fact`, in the order learnt."""

    items: tuple[Fact, ...] = ()

    def with_(self, *facts: Fact) -> Facts:
        """A new :class:`Facts` with ``facts`` appended (this one is unchanged)."""
        return Facts((*self.items, *facts))

    def of(self, kind: DocumentKind, member_id: str) -> tuple[Fact, ...]:
        """Every fact of ``kind`` about ``member_id`` (household-wide facts included)."""
        return tuple(
            [
                f
                for f in self.items
                if f.kind is kind and (f.member is None or f.member == member_id)
            ]
        )

    def has(self, kind: DocumentKind, member_id: str) -> bool:
        for f in self.items:  # (:meth:`of` inlined: the rules ask this several times a decision)
            if f.kind is kind and (f.member is None or f.member == member_id):
                return True
        return False

    def latest(self, kind: DocumentKind, member_id: str) -> Fact | None:
        """The last fact of ``kind`` learnt about ``member_id``, or None."""
        for f in reversed(self.items):
            if f.kind is kind and (f.member is None or f.member == member_id):
                return f
        return None

    def __len__(self) -> int:
        return len(self.items)
