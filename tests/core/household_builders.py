"""Small builders for households in eligibility tests (one place for sensible defaults)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eessi.core.facts import DocumentKind, Fact, Facts
from eessi.core.household import (
    ChildKind,
    FamilyMember,
    Household,
    MainInsured,
    MainInsuredKind,
    Relation,
)

#: Default decision day of the tests.
ON = date(2026, 3, 2)


def main(
    id: str = "marc",
    *,
    dob: date = date(1980, 1, 1),
    since: date = date(2010, 1, 1),
    end: date | None = None,
    country: str = "LU",
    pin: str | None = None,
    kind: MainInsuredKind = MainInsuredKind.WORKER,
    mutual: str | None = None,
    exit_notice: bool = False,
) -> MainInsured:
    return MainInsured(
        id=id,
        pin=pin or f"{dob:%Y%m%d}{sum(map(ord, id)) % 100000:05d}",
        name=id.title(),
        date_of_birth=dob,
        affiliated_since=since,
        kind=kind,
        affiliation_end=end,
        exit_notice_received=exit_notice,
        country_of_residence=country,
        belgian_mutual=mutual,
    )


def child(
    id: str = "lea",
    *,
    dob: date = date(2015, 5, 5),
    kind: ChildKind = ChildKind.LEGITIMATE,
    lives_with: tuple[str, ...] = ("marc",),
    **kw: Any,
) -> FamilyMember:
    kw.setdefault("rnpp_registered", True)
    return FamilyMember(
        id=id,
        name=id.title(),
        relation=Relation.CHILD,
        date_of_birth=dob,
        child_kind=kind,
        lives_with=lives_with,
        **kw,
    )


def spouse(id: str = "eva", *, dob: date = date(1985, 3, 3), **kw: Any) -> FamilyMember:
    kw.setdefault("rnpp_registered", True)
    return FamilyMember(id=id, name=id.title(), relation=Relation.SPOUSE, date_of_birth=dob, **kw)


def partner(id: str = "alex", *, dob: date = date(1986, 4, 4), **kw: Any) -> FamilyMember:
    kw.setdefault("rnpp_registered", True)
    kw.setdefault("partnership_registered_in", "LU")
    return FamilyMember(id=id, name=id.title(), relation=Relation.PARTNER, date_of_birth=dob, **kw)


def household(*members: FamilyMember, mains: tuple[MainInsured, ...] | None = None) -> Household:
    return Household(mains or (main(),), tuple(members), id="test")


def fact(kind: DocumentKind, member: str | None = None, **kw: Any) -> Fact:
    return Fact(kind, member=member, **kw)


def facts(*items: Fact) -> Facts:
    return Facts(items)


def request(member: str | None = None, on: date | None = None) -> Fact:
    return Fact(DocumentKind.CO_INSURANCE_REQUEST, member=member, on=on)


def euros(text: str) -> Decimal:
    return Decimal(text)
