"""Supplementary (mutual) insurance, S1-S4: enrolment and the supplementary reimbursement.

A :class:`SupplementaryInsurer` sells products to some audiences (S4), enrols only persons
validly enrolled with the CCSS, as main insured or co-insured (S2), and, once its waiting period
has elapsed (S2), reimburses for a covered category (S3) a share of the difference between what
the insured paid and what the CNS reimbursed, up to a ceiling per claim (S1)::

    amount = min((cost - cns_reimbursed) * rate, ceiling)     rounded to the cent, half up

Every result cites the rules (S1..S4) that produced it, like eligibility decisions do.
Pure: dates are passed in, money is :class:`~decimal.Decimal` euros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

from eessi.core.eligibility import Decision
from eessi.core.period import Period
from eessi.core.rules import RuleApplication
from eessi.errors import DomainError

__all__ = [
    "Audience",
    "Category",
    "CcssStatus",
    "Cover",
    "Enrolment",
    "Period",
    "Reimbursement",
    "SupplementaryInsurer",
    "status_from_decision",
]

_CENT = Decimal("0.01")


class Category(Enum):
    """Categories of costs a supplementary insurance may cover (S3)."""

    #: Hospital stays.
    HOSPITAL = "hospital"
    #: Internal and external prostheses.
    PROSTHESES = "prostheses"
    #: Assistance.
    ASSISTANCE = "assistance"
    #: Certain dental care procedures and dental prostheses.
    DENTAL = "dental"
    #: Healthcare delivered abroad (planned or unplanned).
    CARE_ABROAD = "care_abroad"
    #: Supplementary medical and medical-dental fees.
    SUPPLEMENTARY_FEES = "supplementary_fees"
    #: "Soft" medicine, e.g. osteopathy.
    SOFT_MEDICINE = "soft_medicine"


class Audience(Enum):
    """Categories of persons a product is for (S4)."""

    #: Residents of Luxembourg.
    RESIDENT = "resident"
    #: Cross-border workers.
    CROSS_BORDER = "cross_border"
    #: Students.
    STUDENT = "student"
    #: Members of a specific professional group.
    PROFESSIONAL_GROUP = "professional_group"


class CcssStatus(Enum):
    """A person's enrolment with the CCSS, as the supplementary insurer sees it (S2)."""

    #: Affiliated personally (worker, pensioner).
    MAIN_INSURED = "main_insured"
    #: Co-insured through a main insured (R1).
    CO_INSURED = "co_insured"
    #: Not (or no longer) validly enrolled.
    NOT_ENROLLED = "not_enrolled"


def status_from_decision(decision: Decision) -> CcssStatus:
    """The CCSS status a co-insurance :class:`Decision` gives: co-insured only if eligible."""
    return CcssStatus.CO_INSURED if decision.eligible else CcssStatus.NOT_ENROLLED


@dataclass(frozen=True, slots=True)
class Cover:
    """What a product pays for one category: ``rate`` of the difference, up to ``ceiling``."""

    category: Category
    #: Share of (cost - CNS reimbursement) paid, 0 < rate <= 1.
    rate: Decimal = Decimal(1)
    #: Most paid per claim, in euros; None = no ceiling.
    ceiling: Decimal | None = None

    def __post_init__(self) -> None:
        if not Decimal(0) < self.rate <= Decimal(1):
            raise DomainError(
                f"cover rate {self.rate} for {self.category.value} is not in (0, 1]",
                hint="give the share of the difference paid, e.g. Decimal('0.8')",
                code="domain.bad-cover",
            )
        if self.ceiling is not None and self.ceiling < 0:
            raise DomainError(
                f"cover ceiling {self.ceiling} for {self.category.value} is negative",
                hint="give a ceiling >= 0 euros, or None for no ceiling",
                code="domain.bad-cover",
            )


@dataclass(frozen=True, slots=True)
class Enrolment:
    """Answer to an enrolment request. Accepted enrolments are what claims refer to."""

    person: str
    insurer: str
    accepted: bool
    #: Day the enrolment was asked for (and starts, when accepted).
    since: date
    #: First day a claim may be reimbursed (``since`` + waiting period), when accepted.
    reimbursable_from: date | None
    reasons: tuple[RuleApplication, ...]
    #: The product's code at the insurer (see :attr:`SupplementaryInsurer.product`).
    product: str = "standard"

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "insurer": self.insurer,
            "product": self.product,
            "accepted": self.accepted,
            "since": self.since.isoformat(),
            "reimbursable_from": self.reimbursable_from.isoformat()
            if self.reimbursable_from
            else None,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class Reimbursement:
    """Answer to a claim: the supplementary amount (possibly 0) and why."""

    category: Category
    cost: Decimal
    cns_reimbursed: Decimal
    #: What the supplementary insurer pays, in euros (0 when refused).
    amount: Decimal
    reasons: tuple[RuleApplication, ...]

    @property
    def left_to_pay(self) -> Decimal:
        """What the insured still bears after the CNS and the supplementary insurer."""
        return max(self.cost - self.cns_reimbursed, Decimal(0)) - self.amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "cost": str(self.cost),
            "cns_reimbursed": str(self.cns_reimbursed),
            "amount": str(self.amount),
            "left_to_pay": str(self.left_to_pay),
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class SupplementaryInsurer:
    """One product of a mutual insurer: what it covers, its waiting period, whom it is for.

    An insurer sells several products (a mock profile lists them); each is one of these, with
    the insurer's ``id`` and its own ``product`` code.
    """

    #: The insurer's identifier, e.g. ``"LU:CMCM0001"``.
    id: str
    name: str
    covers: tuple[Cover, ...]
    #: Time after enrolment before any reimbursement (S2), e.g. ``Period.parse("P6M")``.
    waiting_period: Period = field(default_factory=Period)
    #: Who the product is for (S4).
    audiences: frozenset[Audience] = field(default_factory=lambda: frozenset(Audience))
    #: Covers Luxembourg health costs (S2: the only policies that count).
    covers_luxembourg_costs: bool = True
    #: State-recognised mutual insurer listed by the CMCM (S4); informative.
    state_recognised: bool = True
    #: The product's code at the insurer (``"prestaplus"``); one insurer, several products.
    product: str = "standard"

    def __post_init__(self) -> None:
        cats = [c.category for c in self.covers]
        if len(set(cats)) != len(cats):
            raise DomainError(
                f"insurer {self.id}: a category is covered twice",
                hint="give one Cover per category",
                code="domain.bad-cover",
            )

    def cover(self, category: Category) -> Cover | None:
        return next((c for c in self.covers if c.category is category), None)

    def enrol(
        self, person: str, ccss_status: CcssStatus, on: date, *, audience: Audience
    ) -> Enrolment:
        """Enrol ``person`` from ``on``; refused unless validly enrolled with the CCSS (S2)."""
        reasons: list[RuleApplication] = []

        def refused(rule_id: str, text: str) -> Enrolment:
            reasons.append(RuleApplication(rule_id, text))
            return Enrolment(person, self.id, False, on, None, tuple(reasons), self.product)

        if not self.covers_luxembourg_costs:
            return refused("S2", f"{self.name} does not cover Luxembourg health costs")
        if audience not in self.audiences:
            offered = ", ".join(sorted(a.value for a in self.audiences)) or "nobody"
            return refused("S4", f"no product for {audience.value}s (offered to: {offered})")
        reasons.append(RuleApplication("S4", f"product offered to {audience.value}s"))
        if ccss_status is CcssStatus.NOT_ENROLLED:
            return refused("S2", "not validly enrolled with the CCSS")
        from_day = self.waiting_period.after(on)
        reasons.append(
            RuleApplication(
                "S2",
                f"validly enrolled with the CCSS as {ccss_status.value.replace('_', ' ')}; "
                f"waiting period {self.waiting_period}: reimbursable from {from_day}",
            )
        )
        return Enrolment(person, self.id, True, on, from_day, tuple(reasons), self.product)

    def reimburse(
        self,
        enrolment: Enrolment,
        category: Category,
        cost: Decimal,
        cns_reimbursed: Decimal,
        on: date,
    ) -> Reimbursement:
        """The supplementary amount for a claim of ``category`` on ``on`` (S1-S3)."""
        if (enrolment.insurer, enrolment.product) != (self.id, self.product):
            raise DomainError(
                f"enrolment of {enrolment.person} is with {enrolment.insurer} product"
                f" {enrolment.product}, not {self.id} product {self.product}",
                hint="send the claim to the insurer and product the person is enrolled with",
                code="domain.wrong-insurer",
            )
        for name, value in (("cost", cost), ("CNS reimbursement", cns_reimbursed)):
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise DomainError(
                    f"{name} {value!r} is not an amount of euros >= 0",
                    hint="give decimal.Decimal euros, never floats",
                    code="domain.bad-amount",
                )
        reasons: list[RuleApplication] = []

        def nothing(rule_id: str, text: str) -> Reimbursement:
            reasons.append(RuleApplication(rule_id, text))
            return Reimbursement(category, cost, cns_reimbursed, Decimal("0.00"), tuple(reasons))

        if not enrolment.accepted or enrolment.reimbursable_from is None:
            return nothing("S2", "no accepted enrolment: no supplementary benefit")
        if on < enrolment.reimbursable_from:
            return nothing(
                "S2", f"waiting period not over: reimbursable from {enrolment.reimbursable_from}"
            )
        cover = self.cover(category)
        if cover is None:
            return nothing("S3", f"{category.value} is not covered by {self.name}")
        reasons.append(
            RuleApplication(
                "S3", f"{category.value} covered by {self.product} at rate {cover.rate}"
            )
        )
        difference = max(cost - cns_reimbursed, Decimal(0))
        amount = (difference * cover.rate).quantize(_CENT, rounding=ROUND_HALF_UP)
        capped = ""
        if cover.ceiling is not None and amount > cover.ceiling:
            amount = cover.ceiling.quantize(_CENT, rounding=ROUND_HALF_UP)
            capped = f", capped at the ceiling {cover.ceiling}"
        reasons.append(
            RuleApplication(
                "S1",
                f"cost {cost} - CNS {cns_reimbursed} = {difference}; pays {amount}{capped}",
            )
        )
        return Reimbursement(category, cost, cns_reimbursed, amount, tuple(reasons))
