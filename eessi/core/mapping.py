"""Household people ⇄ SED blocks: ``Person``, ``StatusFamilyMember``, addresses.

A household names people with one ``name`` string; a SED wants a forename and a family name.
*(sim)* The last word of the name is the family name, the rest the forename(s)
(``"Ana Maria Silva"`` → ``"Ana Maria"`` / ``"Silva"``). Matching a SED's person against a
member compares the date of birth and the name with case, accents and spacing ignored, first as
"forename family name", then the family name alone together with the first forename, so a
fund that drops a middle name still finds the member.

Luxembourg PINs are written with sector ``06`` (sickness) and the CNS as the institution.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from eessi.core.household import FamilyMember, MainInsured, MainInsuredKind
from eessi.core.registry import RegistryEntry
from eessi.sed.documents import (
    FamilyMemberStatus,
    InsuredStatus,
    StatusFamilyMember,
    StatusPerson,
)
from eessi.sed.model import Address, EuAddress, Institution, Person, Pin, ResidenceAddress, Sex

__all__ = [
    "SICKNESS_SECTOR",
    "entitlement_parts",
    "insured_entitlement_parts",
    "lu_pin",
    "main_insured_person",
    "main_insured_pin",
    "main_insured_status",
    "member_address",
    "member_person",
    "names_match",
    "normalise_name",
    "person_matches",
    "split_name",
]

#: Sector code of sickness benefits in PINs.
SICKNESS_SECTOR = "06"
_LU = "LU"


def split_name(full: str) -> tuple[str, str]:
    """``(forename, family name)`` from a full name: the last word is the family name."""
    words = full.split()
    if not words:
        raise ValueError("a person needs a name")
    if len(words) == 1:
        return words[0], words[0]
    return " ".join(words[:-1]), words[-1]


def normalise_name(text: str) -> str:
    """Lower case, no accents, single spaces: ``"  João  SILVA"`` → ``"joao silva"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().replace("-", " ").split())


def names_match(person: Person, full_name: str) -> bool:
    """Does the SED's person carry ``full_name`` (see the module docstring)?"""
    wanted = normalise_name(full_name)
    given = normalise_name(f"{person.forename} {person.family_name}")
    if given == wanted:
        return True
    fore, family = split_name(wanted)
    p_fore = normalise_name(person.forename).split()
    return (
        normalise_name(person.family_name) == family
        and bool(p_fore)
        and (p_fore[0] == fore.split()[0])
    )


def lu_pin(number: str, cns: Institution) -> Pin:
    """A Luxembourg PIN (matricule) for sickness, issued by the CNS."""
    return Pin(country=_LU, number=number, sector=SICKNESS_SECTOR, institution=cns)


def _person(name: str, born: date, sex: Sex, pins: tuple[Pin, ...]) -> Person:
    forename, family = split_name(name)
    return Person(family_name=family, forename=forename, birth_date=born, sex=sex, pins=pins)


def main_insured_person(
    main: MainInsured, cns: Institution, sex: Sex = Sex.UNKNOWN, *extra_pins: Pin
) -> Person:
    """The main insured as a SED ``Person``, with the Luxembourg PIN first."""
    return _person(main.name, main.date_of_birth, sex, (lu_pin(main.pin, cns), *extra_pins))


def member_person(
    member: FamilyMember,
    cns: Institution,
    *,
    sex: Sex = Sex.UNKNOWN,
    pin: str | None = None,
    extra_pins: tuple[Pin, ...] = (),
) -> Person:
    """A family member as a SED ``Person`` (with the Luxembourg PIN if the member has one)."""
    pins = (lu_pin(pin, cns),) if pin else ()
    return _person(member.name, member.date_of_birth, sex, (*pins, *extra_pins))


def main_insured_status(
    main: MainInsured, address: Address, cns: Institution, sex: Sex = Sex.UNKNOWN
) -> StatusFamilyMember:
    """The ``StatusFamilyMember`` block: family member of an insured person (or pensioner)."""
    status = (
        FamilyMemberStatus.OF_PENSIONER
        if main.kind is MainInsuredKind.CNAP_PENSIONER
        else FamilyMemberStatus.OF_INSURED_PERSON
    )
    return StatusFamilyMember(
        status=status,
        main_insured=main_insured_person(main, cns, sex),
        main_insured_address=address,
    )


def main_insured_pin(status: StatusPerson | StatusFamilyMember) -> str | None:
    """The Luxembourg PIN of the main insured named in a ``StatusFamilyMember``, if any."""
    if not isinstance(status, StatusFamilyMember):
        return None
    pin = status.main_insured.pin_for(_LU)
    return pin.number if pin else None


def person_matches(person: Person, member: FamilyMember, pin: str | None = None) -> bool:
    """Is the SED's ``person`` this member? By Luxembourg PIN if both have one, else by date of
    birth and name."""
    lu = person.pin_for(_LU)
    if lu is not None and pin is not None:
        return lu.number == pin
    return person.birth_date == member.date_of_birth and names_match(person, member.name)


def member_address(entry: RegistryEntry, member_id: str) -> EuAddress | None:
    """The member's own address if the registry has one, else the main insured's if it is an
    EU/EFTA one (same home), else ``None``."""
    own = entry.member_addresses.get(member_id)
    if own is not None:
        return own
    member = entry.household.member(member_id)
    a = entry.address
    if a.country == member.country_of_residence:
        return EuAddress(
            street=a.street,
            building=a.building,
            town=a.town,
            postal_code=a.postal_code,
            region=a.region,
            country=a.country,
        )
    return None


def entitlement_parts(
    entry: RegistryEntry, member_id: str, cns: Institution
) -> tuple[Person, ResidenceAddress, StatusFamilyMember]:
    """What an S071/S072 says about a member: the person, their address in the country of
    residence and the main insured's block. The main insured is the first one the member is
    related to. Raises ``ValueError`` if the member has no address in the registry."""
    household = entry.household
    member = household.member(member_id)
    main = household.related_main_insured(member)[0]
    address = member_address(entry, member_id)
    if address is None:
        raise ValueError(f"no address for member {member_id!r} of household {entry.key!r}")
    person = member_person(
        member, cns, sex=entry.sex(member.id), pin=entry.member_pins.get(member.id)
    )
    status = main_insured_status(main, entry.address, cns, entry.sex(main.id))
    since = member.arrived_on if member.country_of_residence == _LU else None
    return person, ResidenceAddress(address=address, residence_since=since), status


def insured_entitlement_parts(
    entry: RegistryEntry, main_id: str, cns: Institution
) -> tuple[Person, ResidenceAddress, StatusPerson]:
    """What an S072 sent unasked (S_BUC_01A) says about a main insured living abroad (a
    cross-border worker): the person with the Luxembourg PIN, the household's address (in the
    country of residence) and ``StatusPerson``: insured person, or pensioner for a CNAP
    pensioner. Raises ``ValueError`` if the address is not in an EU/EFTA country."""
    main = entry.household.main(main_id)
    a = entry.address
    address = EuAddress(
        street=a.street,
        building=a.building,
        town=a.town,
        postal_code=a.postal_code,
        region=a.region,
        country=a.country,
    )
    status = StatusPerson(
        status=InsuredStatus.PENSIONER
        if main.kind is MainInsuredKind.CNAP_PENSIONER
        else InsuredStatus.INSURED_PERSON
    )
    person = main_insured_person(main, cns, entry.sex(main.id))
    return person, ResidenceAddress(address=address), status
