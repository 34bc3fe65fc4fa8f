"""The example generator: deterministic, realistic, valid against our and the official schemas."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from eessi.errors import UnknownSedError, UnsupportedVersionError
from eessi.sed.catalogue import SEDS, SUPPORTED_VERSIONS
from eessi.sed.documents import DOCUMENTS, S041, S071, S072, StatusFamilyMember
from eessi.sed.examples import (
    FOREIGN_FUNDS,
    REFERENCE_DATE,
    be_national_number,
    example,
    example_xml,
    family,
    fr_nir,
    lu_matricule,
)
from eessi.sed.model import INSTITUTION_ID_RE, Person, Sex

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SEEDS = range(25)
CASES = [(code, version) for code in sorted(SEDS) for version in SUPPORTED_VERSIONS]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False)


@cache
def our_schema(code: str, version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / version / f"{code}.xsd"), _parser()))


def official_dir() -> Path | None:
    env = os.environ.get("EESSI_OFFICIAL_SCHEMAS")
    candidate = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "cdm-4.4"
    return candidate if candidate.is_dir() else None


@cache
def official_schema(code: str) -> etree.XMLSchema:
    directory = official_dir()
    assert directory is not None
    matches = sorted(directory.glob(f"{code}-4.4*.xsd"))
    if not matches:
        pytest.skip(f"no official {code} schema in {directory}")
    return etree.XMLSchema(etree.parse(str(matches[0]), _parser()))


@pytest.mark.parametrize(("code", "version"), CASES)
def test_every_example_is_valid_against_our_schema(code: str, version: str) -> None:
    schema = our_schema(code, version)
    for seed in SEEDS:
        data = example_xml(code, version, seed)
        assert schema.validate(etree.fromstring(data)), (
            f"{code} {version} seed {seed}: {schema.error_log}"
        )


@pytest.mark.parametrize("code", ["S071", "S041"])
def test_S071_and_S041_examples_are_valid_against_the_official_cdm_4_4(code: str) -> None:
    if official_dir() is None:
        pytest.skip(
            "official CDM 4.4 schemas not found: set EESSI_OFFICIAL_SCHEMAS or put them in "
            "../shared/cdm-4.4 beside the checkout"
        )
    schema = official_schema(code)
    for seed in range(150):
        data = example_xml(code, "4.4", seed)
        assert schema.validate(etree.fromstring(data)), f"{code} seed {seed}: {schema.error_log}"


@pytest.mark.parametrize(("code", "version"), CASES)
def test_same_seed_gives_same_bytes_and_the_document_round_trips(code: str, version: str) -> None:
    for seed in (0, 7):
        doc = example(code, version, seed)
        assert example_xml(code, version, seed) == example_xml(code, version, seed)
        assert type(doc).from_xml(doc.to_xml()) == doc
        assert doc.version == version
        assert isinstance(doc, DOCUMENTS[code])


def test_seeds_give_different_documents() -> None:
    assert len({example_xml("S072", "4.4", seed) for seed in range(10)}) == 10


@pytest.mark.parametrize("code", ["S071", "S072", "S041"])
def test_4_3_example_is_the_4_4_one_without_residence_date(code: str) -> None:
    for seed in range(15):
        old, new = example(code, "4.3", seed), example(code, "4.4", seed)
        assert b"residenceInThisCountrySince" not in old.to_xml()
        address = getattr(new, "address", None)
        if address is not None:
            new = dataclasses.replace(
                new, address=dataclasses.replace(address, residence_since=None)
            )
        assert dataclasses.replace(new, version="4.3") == old


def test_some_4_4_examples_carry_the_residence_date() -> None:
    assert any(b"residenceInThisCountrySince" in example_xml("S071", "4.4", s) for s in range(10))


def test_unknown_code_is_refused() -> None:
    with pytest.raises(UnknownSedError, match="S999"):
        example("S999")


def test_unknown_version_is_refused() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"4\.2"):
        example("S071", "4.2")


# --- realism --------------------------------------------------------------------------------


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def test_lu_matricule_has_birth_date_and_a_valid_luhn_digit() -> None:
    number = lu_matricule(dt.date(1985, 7, 14), 42)
    assert len(number) == 13
    assert number.isdigit()
    assert number.startswith("19850714042")
    assert _luhn_ok(number[:12])


def test_lu_matricule_verhoeff_digit_matches_a_known_value() -> None:
    # Verhoeff of 236 is 3 (the textbook example), appended after the Luhn digit.
    from eessi.sed.examples import _verhoeff_digit

    assert _verhoeff_digit("236") == "3"


def test_fr_nir_has_sex_birth_month_department_and_key() -> None:
    nir = fr_nir(Sex.FEMALE, dt.date(1990, 4, 3), "57", 463, 12)
    assert len(nir) == 15
    assert nir[:7] == "2900457"
    assert int(nir[13:]) == 97 - int(nir[:13]) % 97


def test_be_national_number_check_digits_and_sex_parity() -> None:
    man = be_national_number(Sex.MALE, dt.date(1979, 11, 30), 10)
    woman = be_national_number(Sex.FEMALE, dt.date(2003, 1, 5), 10)
    assert man.startswith("791130")
    assert int(man[6:9]) % 2 == 1
    assert int(man[9:]) == 97 - int(man[:9]) % 97
    assert woman.startswith("030105")
    assert int(woman[6:9]) % 2 == 0
    assert int(woman[9:]) == 97 - int("2" + woman[:9]) % 97


def _pins_consistent(person: Person) -> None:
    for pin in person.pins:
        if pin.country == "LU":
            assert pin.number[:8] == f"{person.birth_date:%Y%m%d}"
            assert _luhn_ok(pin.number[:12])
        if pin.country == "FR":
            assert pin.number[0] == ("1" if person.sex is Sex.MALE else "2")
            assert pin.number[1:5] == f"{person.birth_date:%y%m}"
        if pin.institution is not None:
            assert INSTITUTION_ID_RE.fullmatch(pin.institution.id)


def test_families_are_plausible() -> None:
    for seed in range(60):
        fam = family(random.Random(seed))
        assert fam.fund == FOREIGN_FUNDS[fam.country]
        assert fam.home.country == fam.country
        for parent in (fam.main_insured, fam.spouse):
            age = (REFERENCE_DATE - parent.birth_date).days / 365.25
            assert 18 <= age <= 81
            _pins_consistent(parent)
        assert fam.main_insured.pin_for("LU") is not None
        assert fam.spouse.sex is not fam.main_insured.sex
        for child in fam.children:
            _pins_consistent(child)
            assert child.family_name == fam.main_insured.family_name
            gap = (child.birth_date - max(fam.main_insured.birth_date, fam.spouse.birth_date)).days
            assert gap >= 20 * 365
            assert child.birth_date < REFERENCE_DATE


def test_S071_examples_come_from_a_family_abroad_to_the_cns() -> None:
    for seed in range(30):
        doc = example("S071", seed=seed)
        assert isinstance(doc, S071)
        assert doc.address.address.country in {"FR", "BE", "DE"}
        if isinstance(doc.status, StatusFamilyMember):
            assert doc.status.main_insured.pin_for("LU") is not None


def test_S072_examples_are_mostly_confirmed_and_coherent() -> None:
    docs = [example("S072", seed=s) for s in range(40)]
    assert all(isinstance(d, S072) for d in docs)
    confirmed = [d for d in docs if isinstance(d, S072) and d.confirmed]
    assert len(confirmed) > len(docs) // 2
    assert any(isinstance(d, S072) and not d.confirmed for d in docs)


def test_S041_confirmed_periods_end_before_the_arrival() -> None:
    for seed in range(30):
        doc = example("S041", seed=seed)
        assert isinstance(doc, S041)
        for period in doc.insurance_periods:
            assert period.period is not None
            assert period.period.start <= REFERENCE_DATE


def test_pensioner_statuses_go_with_the_main_insured_age() -> None:
    from eessi.sed.documents import FamilyMemberStatus, InsuredStatus, StatusPerson

    for seed in range(60):
        doc = example("S071", seed=seed)
        assert isinstance(doc, S071)
        if isinstance(doc.status, StatusPerson):
            main, own = doc.person, doc.status.status is InsuredStatus.INSURED_PERSON
        else:
            main = doc.status.main_insured
            own = doc.status.status is FamilyMemberStatus.OF_INSURED_PERSON
        age = (REFERENCE_DATE - main.birth_date).days // 365
        assert own == (age < 57) or 57 <= age < 62


@pytest.mark.parametrize(("code", "version"), CASES)
def test_examples_pass_the_project_validator_and_decode_from_its_tree(
    code: str, version: str
) -> None:
    from eessi.sed.documents import from_element
    from eessi.sed.validate import validate, validate_or_raise

    for seed in range(5):
        data = example_xml(code, version, seed)
        report = validate(data)
        assert report.ok, report.to_dict()
        assert (report.sed, report.version) == (code, version)
        checked = validate_or_raise(data)
        assert from_element(checked.root) == example(code, version, seed)
