"""The rules of ``domain.md`` as data: their texts, and the parameters decisions depend on.

Nothing here decides anything. :data:`RULES` gives each rule ID (R1..R18, S1..S4) a one-line
summary, so that reports and docs can show what a cited rule says. :class:`RuleParameters`
holds every number or list a decision depends on (the resources threshold of R9 as dated
amounts, the country lists of R5/R6/R17/R18, the age limits), so that no literal hides inside
the logic and a trace replay can change a parameter and expect a different decision.

Amounts are :class:`~decimal.Decimal` euros, never floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from eessi.core.countries import R5_COUNTRIES, R6_BILATERAL, R17_R18_COUNTRIES
from eessi.errors import DomainError
from eessi.quick_init import quick_init

__all__ = [
    "DEFAULT_PARAMETERS",
    "DEFAULT_RESOURCES_THRESHOLD",
    "RULES",
    "DatedAmount",
    "DatedAmounts",
    "Rule",
    "RuleApplication",
    "RuleParameters",
    "rule",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """One numbered fact of ``domain.md``."""

    #: ``"R9"``, ``"S2"``.
    id: str
    #: One-line summary in English.
    summary: str
    #: The seed page it comes from.
    source: str


_CO = "co-insurance-of-family-members.txt"
_SUP = "supplementary-insurance.txt"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "R1", "A co-insured person is covered through a main insured's affiliation; free.", _CO
        ),
        Rule("R2", "Spouse, partner and children (5 kinds) may be co-insured.", _CO),
        Rule("R3", "Spouse, partner or adult child: never automatic, a request is needed.", _CO),
        Rule(
            "R4",
            "After an own Luxembourg affiliation ends, ask only after the CCSS exit notice.",
            _CO,
        ),
        Rule(
            "R5", "Arrived from EU/EEA/CH/UK: S041 if insured personally, else co-ins. cert.", _CO
        ),
        Rule(
            "R6",
            "Arrived from a bilateral country: its 104 form or a co-insurance certificate.",
            _CO,
        ),
        Rule("R7", "Arrived from a country without agreement: a declaration on honour.", _CO),
        Rule("R8", "A partnership registered abroad must be registered in Luxembourg first.", _CO),
        Rule("R9", "Child: automatic if born and living in LU; up to 29 with low resources.", _CO),
        Rule("R10", "A child is co-insured with one main insured; the older parent if both.", _CO),
        Rule("R11", "From 30: only in higher education and with the CNS's authorisation.", _CO),
        Rule(
            "R12", "A cross-border worker declares changes to the residence fund and the CNS.", _CO
        ),
        Rule("R13", "Cross-border worker: residence law decides; request over EESSI only.", _CO),
        Rule("R14", "Member in the RNPP: the CNS sends S072, co-insures when S073 arrives.", _CO),
        Rule("R15", "Member not in the RNPP: the main insured sends civil-status documents.", _CO),
        Rule("R16", "Belgian cross-border worker: family added on the BL1 (BL6 on a change).", _CO),
        Rule("R17", "Main insured in LU, family abroad: the residence fund asks with S071.", _CO),
        Rule("R18", "Main insured abroad, family in LU: the CNS service decides.", _CO),
        Rule("S1", "Supplementary insurance pays (part of) cost minus CNS reimbursement.", _SUP),
        Rule("S2", "Only for persons validly enrolled with the CCSS; waiting periods apply.", _SUP),
        Rule(
            "S3", "Covered categories: hospital, prostheses, dental, abroad, fees, soft med.", _SUP
        ),
        Rule("S4", "Products target residents, cross-border workers, students, professions.", _SUP),
    )
}


def rule(rule_id: str) -> Rule:
    """The rule named ``rule_id``; a :class:`DomainError` names the known IDs otherwise."""
    try:
        return RULES[rule_id]
    except KeyError:
        raise DomainError(
            f"unknown rule {rule_id!r}",
            hint=f"use one of {', '.join(RULES)}",
            code="domain.unknown-rule",
        ) from None


@quick_init
@dataclass(frozen=True, slots=True)
class RuleApplication:
    """One step of a decision: the rule that applied and why, in one line of English."""

    #: Rule ID, e.g. ``"R9"``.
    rule: str
    #: What this rule found for this person (``"aged 29 on 2026-03-01: up to 29 inclusive"``).
    explanation: str

    def __post_init__(self) -> None:
        rule(self.rule)  # refuse unknown IDs early: a typo must not reach a report

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "explanation": self.explanation}

    def __str__(self) -> str:
        return f"{self.rule}: {self.explanation}"


@dataclass(frozen=True, slots=True)
class DatedAmount:
    """An amount in force from ``valid_from`` (inclusive) until the next entry."""

    valid_from: date
    amount: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise DomainError(
                f"amount {self.amount!r} valid from {self.valid_from} is not a finite Decimal",
                hint="give euros as decimal.Decimal('1234.56'), never a float",
                code="domain.bad-amount",
            )
        if self.amount < 0:
            raise DomainError(
                f"amount {self.amount} valid from {self.valid_from} is negative",
                hint="thresholds are positive euro amounts",
                code="domain.bad-amount",
            )


@dataclass(frozen=True, slots=True)
class DatedAmounts:
    """A table of amounts that change over time; :meth:`on` gives the one in force on a day."""

    entries: tuple[DatedAmount, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise DomainError(
                "a dated amount table is empty",
                hint="give at least one (valid_from, amount) entry",
                code="domain.bad-amount",
            )
        days = [e.valid_from for e in self.entries]
        if days != sorted(days) or len(set(days)) != len(days):
            raise DomainError(
                "dated amounts are not in strictly increasing valid_from order",
                hint="sort the entries by valid_from and give each date once",
                code="domain.bad-amount",
            )

    def on(self, day: date) -> Decimal:
        """The amount in force on ``day``; a :class:`DomainError` if ``day`` precedes them all."""
        current: Decimal | None = None
        for entry in self.entries:
            if entry.valid_from > day:
                break
            current = entry.amount
        if current is None:
            raise DomainError(
                f"no amount is in force on {day}"
                f" (the table starts on {self.entries[0].valid_from})",
                hint="add an entry valid from an earlier date to the parameters",
                code="domain.no-amount",
            )
        return current

    def to_list(self) -> list[dict[str, Any]]:
        return [
            {"valid_from": e.valid_from.isoformat(), "amount": str(e.amount)} for e in self.entries
        ]


#: *(sim)* Monthly resources threshold of R9 ("guaranteed minimum for a single person"):
#: round, plausible amounts in the range of Luxembourg's guaranteed minimum income (REVIS)
#: for a single adult. They are NOT official figures; replace them through
#: :class:`RuleParameters` (or the ``parameters`` of a household file) to test other values.
DEFAULT_RESOURCES_THRESHOLD = DatedAmounts(
    (
        DatedAmount(date(2020, 1, 1), Decimal("1450.00")),
        DatedAmount(date(2023, 1, 1), Decimal("1550.00")),
        DatedAmount(date(2024, 1, 1), Decimal("1600.00")),
        DatedAmount(date(2025, 1, 1), Decimal("1650.00")),
        DatedAmount(date(2026, 1, 1), Decimal("1700.00")),
    )
)


@dataclass(frozen=True, slots=True)
class RuleParameters:
    """Every configurable value the eligibility rules use. Change with :meth:`with_`."""

    #: R9: monthly resources must be strictly below the amount in force on the decision date.
    resources_threshold: DatedAmounts = DEFAULT_RESOURCES_THRESHOLD
    #: R5: arriving from these countries, an S041 (personally insured) or a certificate of
    #: co-insurance (co-insured there) is needed.
    r5_countries: frozenset[str] = R5_COUNTRIES
    #: R6: countries with a bilateral agreement (their "...104" form, or a certificate).
    r6_countries: frozenset[str] = R6_BILATERAL
    #: R17/R18: where "abroad" may be for a family (R17) or a main insured (R18, R13).
    abroad_countries: frozenset[str] = R17_R18_COUNTRIES
    #: R9/R11: first age at which only R11 (higher education + authorisation) applies.
    child_age_limit: int = 30
    #: R3/R9: age from which a child is an adult (so never co-insured automatically). *(sim)*
    adult_age: int = 18
    #: Where the threshold table and lists came from, for reports.
    label: str = field(default="default (sim)")

    def with_(self, **changes: Any) -> RuleParameters:
        """A copy with ``changes`` applied (``params.with_(resources_threshold=...)``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "resources_threshold": self.resources_threshold.to_list(),
            "r5_countries": sorted(self.r5_countries),
            "r6_countries": sorted(self.r6_countries),
            "abroad_countries": sorted(self.abroad_countries),
            "child_age_limit": self.child_age_limit,
            "adult_age": self.adult_age,
        }


#: The parameters :func:`eessi.core.eligibility.decide` uses unless told otherwise.
DEFAULT_PARAMETERS = RuleParameters()
