"""Household people ⇄ SED blocks, and the CNS registry that finds them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from process_world import CNS, muller, silva, weber

from eessi.core.mapping import (
    entitlement_parts,
    main_insured_pin,
    names_match,
    normalise_name,
    person_matches,
    split_name,
)
from eessi.core.registry import CnsRegistry
from eessi.errors import DomainError
from eessi.sed.documents import FamilyMemberStatus, InsuredStatus, StatusPerson
from eessi.sed.model import Person, Pin, Sex


def test_the_last_word_of_a_name_is_the_family_name() -> None:
    assert split_name("Ana Maria Silva") == ("Ana Maria", "Silva")
    assert split_name("Cher") == ("Cher", "Cher")
    with pytest.raises(ValueError, match="name"):
        split_name("  ")


def test_names_match_ignoring_case_accents_hyphens_and_a_dropped_middle_name() -> None:
    assert normalise_name("  João  SILVA") == "joao silva"
    person = Person(
        family_name="SILVA", forename="joao", birth_date=date(1978, 7, 27), sex=Sex.MALE
    )
    assert names_match(person, "João Silva")
    assert names_match(person, "João Pedro Silva")
    assert not names_match(person, "Pedro Silva")
    hyphen = replace(person, forename="Jean-Luc", family_name="Martin")
    assert names_match(hyphen, "Jean Luc Martin")


def test_entitlement_parts_carry_the_lu_pin_of_the_main_insured_with_sector_06() -> None:
    person, address, status = entitlement_parts(silva(), "ana", CNS)
    assert (person.forename, person.family_name, person.sex) == ("Ana", "Silva", Sex.FEMALE)
    assert address.address.country == "PT"
    assert status.status is FamilyMemberStatus.OF_INSURED_PERSON
    assert main_insured_pin(status) == "1978072712345"
    pin = status.main_insured.pins[0]
    assert (pin.country, pin.sector, pin.institution) == ("LU", "06", CNS)
    assert status.main_insured_address.country == "LU"


def test_a_cnap_pensioners_family_member_has_status_02() -> None:
    _, address, status = entitlement_parts(weber(), "eva", CNS)
    assert status.status is FamilyMemberStatus.OF_PENSIONER
    assert address.address.country == "LU"
    assert status.main_insured_address.country == "FR"


def test_a_member_without_an_address_in_the_registry_cannot_be_written() -> None:
    entry = replace(silva(), member_addresses={})
    with pytest.raises(ValueError, match="address"):
        entitlement_parts(entry, "ana", CNS)


def test_person_matches_by_lu_pin_before_names() -> None:
    entry = silva()
    ana = entry.household.member("ana")
    person, _, _ = entitlement_parts(entry, "ana", CNS)
    assert person_matches(person, ana)
    with_pin = replace(person, pins=(Pin(country="LU", number="1980030912345"),))
    assert person_matches(with_pin, ana, pin="1980030912345")
    assert not person_matches(with_pin, ana, pin="1980030900000")
    assert main_insured_pin(StatusPerson(status=InsuredStatus.INSURED_PERSON)) is None


def test_registry_finds_households_by_main_and_member_pin_and_refuses_duplicates() -> None:
    entry = replace(muller(), member_pins={"sofia": "1983060212345"})
    reg = CnsRegistry([silva(), entry])
    assert len(reg) == 2
    assert reg.by_main_pin("1978072712345") is not None
    assert reg.by_member_pin("1983060212345") == (entry, "sofia")
    assert reg.entry("silva").key == "silva"
    with pytest.raises(DomainError):
        reg.entry("nobody")
    with pytest.raises(DomainError):
        reg.require_main("0000000000000")
    with pytest.raises(DomainError):
        CnsRegistry([silva(), silva()])
    other = replace(muller(), household=replace(muller().household, id="other"))
    with pytest.raises(DomainError, match="two households"):
        CnsRegistry([muller(), other])
