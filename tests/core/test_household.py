"""The household model: ages on exact days, invariants a tester can break."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from household_builders import child, household, main, partner, spouse

from eessi.core.household import (
    ChildKind,
    FamilyMember,
    FormerInsurance,
    Household,
    MainInsured,
    Relation,
    age_on,
    birthday,
)
from eessi.errors import DomainError


@pytest.mark.parametrize(
    ("dob", "day", "age"),
    [
        (date(1996, 6, 15), date(2026, 6, 14), 29),
        (date(1996, 6, 15), date(2026, 6, 15), 30),  # the birthday itself counts
        (date(1996, 2, 29), date(2026, 2, 28), 29),
        (date(1996, 2, 29), date(2026, 3, 1), 30),  # common year: 1 March
        (date(1996, 2, 29), date(2024, 2, 29), 28),  # leap year: the real day
        (date(2026, 3, 3), date(2026, 3, 2), -1),  # not born yet
    ],
)
def test_age_is_counted_on_the_exact_day(dob: date, day: date, age: int) -> None:
    assert age_on(dob, day) == age


def test_birthday_of_29_february_is_1_march_in_common_years() -> None:
    assert birthday(date(2000, 2, 29), 30) == date(2030, 3, 1)
    assert birthday(date(2000, 2, 29), 4) == date(2004, 2, 29)


@pytest.mark.parametrize(
    ("day", "affiliated"),
    [
        (date(2009, 12, 31), False),
        (date(2010, 1, 1), True),
        (date(2025, 12, 31), True),
        (date(2026, 1, 1), False),
    ],
)
def test_affiliation_start_and_end_are_inclusive(day: date, affiliated: bool) -> None:
    p = main(since=date(2010, 1, 1), end=date(2025, 12, 31))
    assert p.affiliated_on(day) is affiliated


def test_main_insured_needs_a_13_digit_matricule() -> None:
    with pytest.raises(DomainError, match="not 13 digits"):
        MainInsured("x", "12345", "X", date(1980, 1, 1), date(2000, 1, 1))


def test_main_insured_affiliation_cannot_end_before_it_starts() -> None:
    with pytest.raises(DomainError, match="ends before it starts"):
        main(since=date(2020, 1, 1), end=date(2019, 1, 1))


def test_country_codes_are_two_letters() -> None:
    with pytest.raises(DomainError, match="not a two-letter country code"):
        main(country="Lux")
    with pytest.raises(DomainError, match="former insurance country"):
        FormerInsurance("de")


def test_child_needs_a_kind_and_only_a_child_has_one() -> None:
    with pytest.raises(DomainError, match="child without a child_kind"):
        FamilyMember("k", "K", Relation.CHILD, date(2020, 1, 1))
    with pytest.raises(DomainError, match="has a child_kind but is a spouse"):
        FamilyMember("s", "S", Relation.SPOUSE, date(1980, 1, 1), child_kind=ChildKind.ADOPTED)


def test_partner_country_and_resources_are_checked() -> None:
    with pytest.raises(DomainError, match="partnership country"):
        partner(partnership_registered_in="France")
    with pytest.raises(DomainError, match="monthly resources"):
        spouse(monthly_resources=Decimal(-1))


def test_partner_registered_in_luxembourg_directly_or_after_registration() -> None:
    assert partner(partnership_registered_in="LU").is_partner_registered_in_lu
    assert partner(
        partnership_registered_in="FR", partnership_registered_in_lu=True
    ).is_partner_registered_in_lu
    assert not partner(partnership_registered_in="FR").is_partner_registered_in_lu


def test_household_has_one_or_two_main_insured() -> None:
    with pytest.raises(DomainError, match="give one or two"):
        Household(())
    with pytest.raises(DomainError, match="3 main insured"):
        Household((main("a"), main("b"), main("c")))


def test_household_ids_are_unique_across_main_insured_and_members() -> None:
    with pytest.raises(DomainError, match=r"ID\(s\) marc used more than once"):
        household(spouse("marc"))


def test_household_references_must_name_a_main_insured() -> None:
    with pytest.raises(DomainError, match="lives_with names 'zoe'"):
        household(child(lives_with=("zoe",)))


def test_spouse_must_relate_to_exactly_one_of_two_main_insured() -> None:
    mains = (main("a"), main("b"))
    with pytest.raises(DomainError, match="exactly one main insured"):
        household(spouse(), mains=mains)
    h = household(spouse(related_to=("b",)), mains=mains)
    assert h.related_main_insured(h.member("eva")) == (h.main("b"),)


def test_household_lookups_name_what_exists() -> None:
    h = household(spouse())
    with pytest.raises(DomainError, match="no main insured 'x'") as info:
        h.main("x")
    assert info.value.hint == "use one of marc"
    assert h.main("marc").resides_in_luxembourg
    assert not main(country="FR").resides_in_luxembourg
