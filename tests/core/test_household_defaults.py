"""Household defaults follow from the household; contradictions are refused (issue 16.1).

A member's ``rnpp_registered`` left out follows ``born_in_lu`` (a person born in Luxembourg is in
the RNPP from birth); ``born_in_lu`` left out means "born abroad", and a minor born abroad needs
the request R3 asks for (R9's automatic co-insurance does not apply).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from household_builders import ON, child, household

from eessi.core.eligibility import Outcome, decide
from eessi.core.facts import DocumentKind as D
from eessi.core.household import FamilyMember, Relation
from eessi.core.household_json import parse_household
from eessi.errors import ConfigError, DomainError

ON_DAY = date(2026, 3, 2)


def _file(**member: Any) -> dict[str, Any]:
    lea = {
        "id": "lea",
        "name": "Lea",
        "relation": "child",
        "child_kind": "natural",
        "date_of_birth": "2015-01-01",
        "lives_with": ["marc"],
        **member,
    }
    return {
        "format": "eessi-household/1",
        "main_insured": [
            {
                "id": "marc",
                "pin": "1980010112345",
                "name": "Marc",
                "date_of_birth": "1980-01-01",
                "affiliated_since": "2010-01-01",
            }
        ],
        "members": [lea],
    }


def test_R15_child_born_and_living_in_lu_is_in_the_rnpp_without_saying_so() -> None:
    hf = parse_household(_file(born_in_lu=True), "h.json")
    (lea,) = hf.household.members
    assert lea.rnpp_registered is True
    d = decide(hf.household, "lea", on=ON_DAY)
    assert d.outcome is Outcome.ELIGIBLE
    assert not any(m.kind in (D.BIRTH_CERTIFICATE, D.HOUSEHOLD_COMPOSITION) for m in d.missing)
    (r15,) = [r for r in d.reasons if r.rule == "R15"]
    assert "already registered in the RNPP" in r15.explanation


def test_R15_child_born_abroad_is_not_in_the_rnpp_unless_the_file_says_so() -> None:
    left_out = decide(parse_household(_file(), "h.json").household, "lea", on=ON_DAY)
    assert {m.kind for m in left_out.missing if m.rule == "R15"} == {
        D.BIRTH_CERTIFICATE,
        D.HOUSEHOLD_COMPOSITION,
    }
    said = decide(
        parse_household(_file(rnpp_registered=True), "h.json").household, "lea", on=ON_DAY
    )
    assert not [m for m in said.missing if m.rule == "R15"]


def test_R15_born_in_lu_but_not_in_the_rnpp_is_refused_naming_both_fields() -> None:
    with pytest.raises(ConfigError) as info:
        parse_household(_file(born_in_lu=True, rnpp_registered=False), "h.json")
    err = info.value
    assert err.where == "h.json#/members/0/rnpp_registered"
    assert "born_in_lu" in err.message
    assert "rnpp_registered" in err.message
    assert err.hint is not None
    assert "leave rnpp_registered out" in err.hint


def test_R15_the_model_refuses_the_same_contradiction() -> None:
    with pytest.raises(DomainError, match="born_in_lu is true but rnpp_registered is false"):
        FamilyMember(
            id="lea",
            name="Lea",
            relation=Relation.SPOUSE,
            date_of_birth=date(1990, 1, 1),
            born_in_lu=True,
            rnpp_registered=False,
        )


def test_R5_arrival_before_birth_is_refused_naming_both_fields() -> None:
    with pytest.raises(ConfigError) as info:
        parse_household(_file(arrived_on="2014-06-01"), "h.json")
    assert "arrived_on" in info.value.message
    assert "date_of_birth" in info.value.message


def test_R3_minor_born_abroad_needs_the_request_R3_asks_for_and_R9_says_why() -> None:
    d = decide(household(child(born_in_lu=False)), "lea", on=ON)
    assert d.outcome is Outcome.PENDING
    (request,) = [m for m in d.missing if m.kind is D.CO_INSURANCE_REQUEST]
    assert request.rule == "R3"
    r9 = [r.explanation for r in d.reasons if r.rule == "R9"]
    assert any("not co-insured automatically" in e for e in r9)
    (r3,) = [r for r in d.reasons if r.rule == "R3"]
    assert "minor child born abroad" in r3.explanation
