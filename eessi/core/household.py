"""Households: one or two main insured persons and the family members who may be co-insured.

A :class:`Household` is plain data (frozen, slotted dataclasses). It knows nothing of rules;
:func:`eessi.core.eligibility.decide` reads it. Two main insured persons are allowed because
R10 (a child goes to the older of two qualifying parents) needs both.

Conventions:

- Countries are two upper-case letters in EESSI spelling (``LU``, ``BE``, ``EL``, ``UK``).
- An affiliation's ``affiliation_end`` is its **last day** (inclusive); ``None`` means open.
- ``related_to`` on a member names the main insured(s) the relation is with (the spouse's
  husband, the child's insured parents). Empty means "every main insured of the household".
- Money is :class:`~decimal.Decimal` euros per month.

Construction checks the invariants a tester can break (unique IDs, references to main insured
that exist, a child kind for a child...) and raises :class:`~eessi.errors.DomainError` naming
the member and what to fix. :mod:`eessi.core.household_json` checks the same with JSON pointers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

from eessi.core.countries import LUXEMBOURG, is_country_code
from eessi.core.facts import DocumentKind
from eessi.errors import DomainError

__all__ = [
    "ChildKind",
    "FamilyMember",
    "FormerInsurance",
    "Household",
    "InsuranceBasis",
    "MainInsured",
    "MainInsuredKind",
    "Relation",
    "age_on",
    "birthday",
]

_PIN = re.compile(r"^\d{13}$")


class MainInsuredKind(Enum):
    """Why the main insured is affiliated with the CCSS."""

    #: Works in Luxembourg (resident or cross-border worker).
    WORKER = "worker"
    #: Receives a pension from the CNAP (may live abroad, R18).
    CNAP_PENSIONER = "cnap_pensioner"


class Relation(Enum):
    """The family member's relation to the main insured (R2)."""

    #: Married to the main insured.
    SPOUSE = "spouse"
    #: Partner in a registered partnership (civil union, PACS); see R8.
    PARTNER = "partner"
    #: A child of one of the five kinds of :class:`ChildKind`.
    CHILD = "child"
    #: Anyone else (a parent, a sibling, an unregistered partner): never co-insured (R2).
    OTHER = "other"


class ChildKind(Enum):
    """The five kinds of child R2 lists."""

    #: Legitimate child.
    LEGITIMATE = "legitimate"
    #: Legitimated child.
    LEGITIMATED = "legitimated"
    #: Natural child.
    NATURAL = "natural"
    #: Adopted child.
    ADOPTED = "adopted"
    #: Taken into the household long-term; qualifies only with a tax moderation (R2).
    TAKEN_IN = "taken_in"


class InsuranceBasis(Enum):
    """How a family member was insured before (R5, R6)."""

    #: Insured personally (own contributions or own right).
    PERSONAL = "personal"
    #: Co-insured as a family member of someone insured there.
    CO_INSURED = "co_insured"


def birthday(dob: date, age: int) -> date:
    """The day a person born on ``dob`` turns ``age``.

    Someone born on 29 February turns a year older on **1 March** in common years (the day
    after 28 February, when the anniversary has not yet happened on the 28th). *(sim)*
    """
    year = dob.year + age
    try:
        return dob.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def age_on(dob: date, day: date) -> int:
    """Age in whole years on ``day`` (the birthday itself counts: aged 30 on the 30th birthday).

    Negative before birth (so callers can tell "not born yet"). 29 February: see
    :func:`birthday`.
    """
    years = day.year - dob.year
    if day < birthday(dob, years):
        years -= 1
    return years


def _check_country(code: str, what: str) -> None:
    if not is_country_code(code):
        raise DomainError(
            f"{what} {code!r} is not a two-letter country code",
            hint="use the EESSI spelling: LU, BE, DE, FR, EL (Greece), UK...",
            code="domain.bad-household",
        )


@dataclass(frozen=True, slots=True)
class MainInsured:
    """A person affiliated with the CCSS through whom family members can be co-insured (R1)."""

    #: Short ID unique in the household (``"marc"``); decisions name it in ``attaches_to``.
    id: str
    #: Luxembourg PIN: the 13-digit national identification number (matricule).
    pin: str
    name: str
    date_of_birth: date
    #: First day of the affiliation with the CCSS.
    affiliated_since: date
    kind: MainInsuredKind = MainInsuredKind.WORKER
    #: Last day of the affiliation (inclusive), if it ended or will end.
    affiliation_end: date | None = None
    #: The CCSS exit notice was received (recorded; the anchor check uses the end date).
    exit_notice_received: bool = False
    #: Country of residence; not ``LU`` makes a cross-border worker (R13, R16, R18).
    country_of_residence: str = LUXEMBOURG
    #: IR ID of the Belgian mutual insurer (R16), if known.
    belgian_mutual: str | None = None

    def __post_init__(self) -> None:
        if not _PIN.match(self.pin):
            raise DomainError(
                f"main insured {self.id!r}: PIN {self.pin!r} is not 13 digits",
                hint="give the Luxembourg national identification number (matricule)",
                code="domain.bad-household",
            )
        _check_country(self.country_of_residence, f"main insured {self.id!r}: country")
        if self.affiliation_end is not None and self.affiliation_end < self.affiliated_since:
            raise DomainError(
                f"main insured {self.id!r}: affiliation ends before it starts",
                hint="affiliation_end is the last day; it must not precede affiliated_since",
                code="domain.bad-household",
            )

    def affiliated_on(self, day: date) -> bool:
        """Validly affiliated on ``day`` (start and end inclusive)."""
        if day < self.affiliated_since:
            return False
        return self.affiliation_end is None or day <= self.affiliation_end

    @property
    def resides_in_luxembourg(self) -> bool:
        return self.country_of_residence == LUXEMBOURG


@dataclass(frozen=True, slots=True)
class FormerInsurance:
    """Where and how a family member was insured before (R4 for ``LU``, R5-R7 otherwise)."""

    #: Country of the former insurance; ``LU`` means an own Luxembourg affiliation (R4).
    country: str
    basis: InsuranceBasis = InsuranceBasis.PERSONAL
    #: IR ID of the former fund (``"DE:TKK00001"``): needed to ask for the S041 (R5).
    fund_id: str | None = None
    #: The member's social security number in that country (R5).
    foreign_number: str | None = None
    #: Last insured day there, if known. For ``LU`` it is the last day of the member's own
    #: affiliation: without it (or while it is not past) the member is still personally insured
    #: and cannot be co-insured (R1).
    until: date | None = None

    def __post_init__(self) -> None:
        _check_country(self.country, "former insurance country")


@dataclass(frozen=True, slots=True)
class FamilyMember:
    """A person who may be co-insured with a main insured."""

    #: Short ID unique in the household (``"lea"``).
    id: str
    name: str
    relation: Relation
    date_of_birth: date
    #: Main insured ID(s) the relation is with; empty = every main insured of the household.
    related_to: tuple[str, ...] = ()
    #: For a child: which of the five kinds (R2).
    child_kind: ChildKind | None = None
    #: For a child taken in: the insured (or spouse/partner) gets a tax moderation for them (R2).
    tax_moderation: bool = False
    #: Date of the marriage / partnership (spouse, partner); None if unknown.
    relation_since: date | None = None
    #: Partner: country where the partnership was registered; None = not registered (R2, R8).
    partnership_registered_in: str | None = None
    #: Partner: the partnership is registered in the Luxembourg civil register (R8).
    partnership_registered_in_lu: bool = False
    #: Monthly resources in euros (R9).
    monthly_resources: Decimal = Decimal(0)
    #: Pursues higher education (R11).
    higher_education: bool = False
    #: Holds the CNS's authorisation (R11); a fact can bring it too.
    cns_authorisation: bool = False
    #: Main insured ID(s) the child lives with (R10).
    lives_with: tuple[str, ...] = ()
    #: Main insured ID(s) who provide maintenance and education (R10).
    maintained_by: tuple[str, ...] = ()
    #: Country of residence of the member.
    country_of_residence: str = LUXEMBOURG
    #: Born in Luxembourg (R9: with residence there, a minor is co-insured automatically).
    #: False: born abroad, or not known to be born in Luxembourg.
    born_in_lu: bool = False
    #: Day the member moved to Luxembourg, if recently (R5-R7); co-insurance starts no earlier.
    arrived_on: date | None = None
    #: Already registered in the RNPP (R14/R15). None (left out): derived from the household,
    #: ``born_in_lu`` (a person born in Luxembourg is in the register from birth); after
    #: construction it is always a bool. ``False`` with ``born_in_lu`` is a contradiction.
    rnpp_registered: bool | None = None
    #: Documents the main insured has already provided for this member (R15, R5-R8).
    documents: frozenset[DocumentKind] = field(default_factory=frozenset)
    #: Former insurance, if any (R4-R7).
    former_insurance: FormerInsurance | None = None
    #: Insured (personally) in the country of residence; rules out R17/R18 co-insurance.
    insured_in_country_of_residence: bool = False

    def __post_init__(self) -> None:
        where = f"member {self.id!r}"
        _check_country(self.country_of_residence, f"{where}: country")
        if self.rnpp_registered is None:
            object.__setattr__(self, "rnpp_registered", self.born_in_lu)
        elif self.born_in_lu and not self.rnpp_registered:
            raise DomainError(
                f"{where}: born_in_lu is true but rnpp_registered is false; a person born in "
                "Luxembourg is in the RNPP from birth (R14, R15)",
                hint="leave rnpp_registered out (it follows born_in_lu), or set born_in_lu to "
                "false if the member was born abroad",
                code="domain.bad-household",
                details={"fields": ["born_in_lu", "rnpp_registered"]},
            )
        if self.arrived_on is not None and self.arrived_on < self.date_of_birth:
            raise DomainError(
                f"{where}: arrived_on {self.arrived_on} is before date_of_birth "
                f"{self.date_of_birth}",
                hint="fix arrived_on (the day the member moved to Luxembourg) or date_of_birth",
                code="domain.bad-household",
                details={"fields": ["arrived_on", "date_of_birth"]},
            )
        if self.relation is Relation.CHILD and self.child_kind is None:
            raise DomainError(
                f"{where} is a child without a child_kind",
                hint="say legitimate, legitimated, natural, adopted or taken_in",
                code="domain.bad-household",
            )
        if self.relation is not Relation.CHILD and self.child_kind is not None:
            raise DomainError(
                f"{where} has a child_kind but is a {self.relation.value}",
                hint="remove child_kind or set relation to child",
                code="domain.bad-household",
            )
        if self.partnership_registered_in is not None:
            _check_country(self.partnership_registered_in, f"{where}: partnership country")
        if not isinstance(self.monthly_resources, Decimal) or self.monthly_resources < 0:
            raise DomainError(
                f"{where}: monthly resources {self.monthly_resources!r} are not >= 0 euros",
                hint="give a decimal.Decimal amount in euros",
                code="domain.bad-household",
            )

    @property
    def is_partner_registered_in_lu(self) -> bool:
        """R8: registered in Luxembourg (directly, or abroad then in the civil register)."""
        return self.partnership_registered_in == LUXEMBOURG or self.partnership_registered_in_lu


@dataclass(frozen=True, slots=True)
class Household:
    """One or two main insured persons and their family members."""

    main_insured: tuple[MainInsured, ...]
    members: tuple[FamilyMember, ...] = ()
    #: Free label for reports (``"Muller, Esch-sur-Alzette"``).
    id: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.main_insured) <= 2:
            raise DomainError(
                f"household {self.id!r} has {len(self.main_insured)} main insured persons",
                hint="give one or two main insured persons",
                code="domain.bad-household",
            )
        ids = [p.id for p in self.main_insured] + [m.id for m in self.members]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise DomainError(
                f"household {self.id!r}: ID(s) {', '.join(dup)} used more than once",
                hint="give every main insured and member its own id",
                code="domain.bad-household",
            )
        known = {p.id for p in self.main_insured}
        for m in self.members:
            for attr in ("related_to", "lives_with", "maintained_by"):
                for ref in getattr(m, attr):
                    if ref not in known:
                        raise DomainError(
                            f"member {m.id!r}: {attr} names {ref!r}, not a main insured",
                            hint=f"use one of {', '.join(sorted(known))}",
                            code="domain.bad-household",
                        )
        for m in self.members:
            if (
                m.relation in (Relation.SPOUSE, Relation.PARTNER)
                and len(self.related_main_insured(m)) != 1
            ):
                raise DomainError(
                    f"member {m.id!r}: a {m.relation.value} must be related to exactly one "
                    "main insured",
                    hint="set related_to to the one main insured they are married/partnered to",
                    code="domain.bad-household",
                )

    def main(self, main_id: str) -> MainInsured:
        for p in self.main_insured:
            if p.id == main_id:
                return p
        raise DomainError(
            f"no main insured {main_id!r} in household {self.id!r}",
            hint=f"use one of {', '.join(p.id for p in self.main_insured)}",
            code="domain.unknown-person",
        )

    def member(self, member_id: str) -> FamilyMember:
        for m in self.members:
            if m.id == member_id:
                return m
        raise DomainError(
            f"no family member {member_id!r} in household {self.id!r}",
            hint=f"use one of {', '.join(m.id for m in self.members) or '(none)'}",
            code="domain.unknown-person",
        )

    def related_main_insured(self, member: FamilyMember) -> tuple[MainInsured, ...]:
        """The main insured the member's relation is with (all of them if unspecified)."""
        if not member.related_to:
            return self.main_insured
        return tuple(p for p in self.main_insured if p.id in member.related_to)
