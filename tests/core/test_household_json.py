"""The household file format: examples, round trip, errors with JSON pointers, the schema."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from eessi.core import household_json as hj
from eessi.core.eligibility import Outcome, decide_all
from eessi.core.facts import DocumentKind
from eessi.core.household_json import (
    FORMAT,
    HouseholdFile,
    dumps_household,
    loads_household,
    parse_household,
)
from eessi.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "households").glob("*.json"))
SCHEMA = json.loads((ROOT / "docs" / "household.schema.json").read_text(encoding="utf-8"))


def _load(path: Path) -> HouseholdFile:
    return loads_household(path.read_text(encoding="utf-8"), source=path.name)


def _outcomes(hf: HouseholdFile) -> dict[str, str]:
    assert hf.on is not None
    decisions = decide_all(hf.household, on=hf.on, facts=hf.facts, params=hf.parameters)
    return {d.member: d.outcome.value for d in decisions}


# --- examples ----------------------------------------------------------------------------------

EXPECTED = {
    "arrived-from-bilateral-country.json": {"amina": "eligible", "salma": "pending"},
    "belgian-cross-border.json": {"els": "eligible", "lotte": "pending"},
    "cross-border-france.json": {"marie": "pending", "noah": "pending"},
    "main-insured-abroad-family-in-lu.json": {"renate": "pending"},
    "partner-registered-abroad.json": {"rafael": "pending", "caio": "pending"},
    "resident-family.json": {"julia": "eligible", "lena": "eligible", "tom": "pending"},
    "resident-with-family-abroad.json": {"ana": "eligible", "rui": "pending"},
    "spouse-after-own-affiliation.json": {"sofia": "pending"},
    "two-insured-parents.json": {"ella": "eligible", "max": "pending"},
}


def test_there_is_an_example_per_seed_situation() -> None:
    assert sorted(p.name for p in EXAMPLES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_household_loads_and_gives_the_documented_outcomes(path: Path) -> None:
    hf = _load(path)
    assert hf.description
    assert _outcomes(hf) == EXPECTED[path.name]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_dump_then_load_gives_the_same_household(path: Path) -> None:
    hf = _load(path)
    again = loads_household(dumps_household(hf), source="dumped")
    assert again == hf


def test_parameters_in_the_file_change_the_threshold() -> None:
    data = json.loads((ROOT / "examples/households/two-insured-parents.json").read_text())
    data["parameters"] = {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "800"}]}
    hf = parse_household(data, "x.json")
    assert hf.parameters.resources_threshold.on(date(2026, 6, 15)) == Decimal(800)
    assert _outcomes(hf)["ella"] == "not_eligible"  # her 900 EUR are now too much
    assert "parameters" in dumps_household(hf)
    assert loads_household(dumps_household(hf)).parameters.resources_threshold == (
        hf.parameters.resources_threshold
    )


def test_minimal_file_round_trips_and_leaves_defaults_out() -> None:
    hf = parse_household(_minimal())
    text = dumps_household(hf)
    assert loads_household(text) == hf
    data = json.loads(text)
    assert set(data) == {"format", "main_insured", "members"}
    assert "rnpp_registered" not in data["members"][0]  # false, empty and null are left out


def test_amounts_are_read_exactly_from_numbers_and_strings() -> None:
    data = _minimal()
    data["members"][0]["monthly_resources"] = "1699.99"
    assert parse_household(data).household.members[0].monthly_resources == Decimal("1699.99")
    hf = loads_household(json.dumps(_minimal()).replace('"lea"', '"lea", "monthly_resources": 0.1'))
    assert hf.household.members[0].monthly_resources == Decimal("0.1")


def test_cns_service_decision_fact_is_read_with_its_answer() -> None:
    data = _minimal()
    data["facts"] = [{"kind": "cns_service_decision", "member": "lea", "approved": False}]
    (f,) = parse_household(data).facts.items
    assert f.approved is False


def test_facts_are_read_with_their_content() -> None:
    hf = _load(ROOT / "examples/households/resident-family.json")
    s041 = hf.facts.latest(DocumentKind.S041, "julia")
    assert s041 is not None
    assert s041.institution == "DE:TKK00001"
    assert s041.s041 is not None
    assert s041.s041.insured_until == date(2026, 1, 31)


# --- errors: what, where (JSON pointer), what to do -------------------------------------------


def _minimal() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "main_insured": [
            {
                "id": "marc",
                "pin": "1980010112345",
                "name": "Marc",
                "date_of_birth": "1980-01-01",
                "affiliated_since": "2010-01-01",
            }
        ],
        "members": [
            {
                "id": "lea",
                "name": "Lea",
                "relation": "child",
                "child_kind": "natural",
                "date_of_birth": "2015-01-01",
                "lives_with": ["marc"],
            }
        ],
    }


def _set(data: dict[str, Any], pointer: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    parts = pointer.strip("/").split("/")
    target: Any = data
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()

BAD = [
    ("/members/0", None, "/members/0", "found null", "{...}"),
    ("/members/0/name", 5, "/members/0/name", "found the number 5", "name"),
    ("/members/0/name", [], "/members/0/name", "found a list", "name"),
    ("/members/0/name", {}, "/members/0/name", "found an object", "name"),
    ("/members/0/name", True, "/members/0/name", "found a boolean", "name"),
    (
        "/members/0/relation",
        "spouse",
        "/members/0/child_kind",
        "child_kind given for a spouse",
        "remove",
    ),
    (
        "/main_insured/0/date_of_birth",
        19800101,
        "/main_insured/0/date_of_birth",
        "not a date",
        "ISO",
    ),
    ("/format", "eessi-household/9", "/format", "unsupported format", "eessi-household/1"),
    ("/format", _DELETE, "/", "missing required key 'format'", "add"),
    ("/colour", "red", "/colour", "unknown key 'colour'", "known keys"),
    (
        "/members/0/rnpp_registred",
        True,
        "/members/0/rnpp_registred",
        "unknown key",
        "did you mean 'rnpp_registered'?",
    ),
    ("/main_insured/0/pin", "123", "/main_insured/0/pin", "not a 13-digit", "matricule"),
    (
        "/main_insured/0/date_of_birth",
        "01/01/1980",
        "/main_insured/0/date_of_birth",
        "not a date",
        "2026-03-01",
    ),
    ("/main_insured/0/kind", "boss", "/main_insured/0/kind", "not one of", "'worker'"),
    (
        "/main_insured/0/country_of_residence",
        "Lux",
        "/main_insured/0/country_of_residence",
        "not a country code",
        "EESSI",
    ),
    (
        "/main_insured/0/affiliation_end",
        "2000-01-01",
        "/main_insured/0",
        "ends before it starts",
        "affiliation_end",
    ),
    ("/main_insured/0/name", "", "/main_insured/0/name", "non-empty string", "name"),
    (
        "/main_insured/0/belgian_mutual",
        "mutualite",
        "/main_insured/0/belgian_mutual",
        "IR ID",
        "BE:MUT0001",
    ),
    ("/main_insured", [], "/main_insured", "0 main insured", "one or two"),
    ("/main_insured", {}, "/main_insured", "expected a list", "[...]"),
    ("/members/0", "lea", "/members/0", "expected an object", "{...}"),
    ("/members/0/relation", "cousin", "/members/0/relation", "not one of", "'spouse'"),
    ("/members/0/child_kind", _DELETE, "/members/0", "a child needs a child_kind", "legitimate"),
    ("/members/0/lives_with", [], "/members/0", "must live with or be maintained by", "lives_with"),
    ("/members/0/lives_with", ["anna"], "/members/0/lives_with/0", "not a main insured", "marc"),
    ("/members/0/lives_with", [3], "/members/0/lives_with/0", "is not an id", "id"),
    (
        "/members/0/monthly_resources",
        "lots",
        "/members/0/monthly_resources",
        "not an amount",
        "1234.56",
    ),
    (
        "/members/0/monthly_resources",
        -5,
        "/members/0/monthly_resources",
        "not an amount",
        "1234.56",
    ),
    (
        "/members/0/monthly_resources",
        True,
        "/members/0/monthly_resources",
        "not an amount",
        "1234.56",
    ),
    ("/members/0/born_in_lu", "yes", "/members/0/born_in_lu", "expected true or false", "true"),
    (
        "/members/0/documents",
        ["passport"],
        "/members/0/documents/0",
        "not a document kind",
        "birth_certificate",
    ),
    ("/members/0/id", "marc", "/members/0/id", "already used at /main_insured/0", "own id"),
    (
        "/members/0/former_insurance",
        {"basis": "personal"},
        "/members/0/former_insurance",
        "'country'",
        "DE",
    ),
    (
        "/members/0/former_insurance",
        {"country": "DE", "fund_id": "TK"},
        "/members/0/former_insurance/fund_id",
        "IR ID",
        "DE:TKK00001",
    ),
    ("/facts", [{"kind": "S999"}], "/facts/0/kind", "not one of", "'S041'"),
    (
        "/facts",
        [{"kind": "S071", "member": "zoe"}],
        "/facts/0/member",
        "not an id of this household",
        "lea",
    ),
    (
        "/facts",
        [{"kind": "S071", "s041": {"reply": "02"}}],
        "/facts/0/s041",
        "s041 content on a S071",
        "S041",
    ),
    (
        "/facts",
        [{"kind": "S041", "s041": {"reply": "04"}}],
        "/facts/0/s041/reply",
        "not one of",
        "'02'",
    ),
    ("/facts", [{"kind": "cns_service_decision"}], "/facts/0", "needs approved", "true"),
    (
        "/facts",
        [{"kind": "S073", "approved": True}],
        "/facts/0/approved",
        "only for cns_service_decision",
        "remove",
    ),
    (
        "/parameters",
        {"resources_threshold": []},
        "/parameters/resources_threshold",
        "empty",
        "valid_from",
    ),
    (
        "/parameters",
        {"resources_threshold": [{"valid_from": "2026-01-01"}]},
        "/parameters/resources_threshold/0",
        "'amount'",
        "amount",
    ),
    (
        "/parameters",
        {
            "resources_threshold": [
                {"valid_from": "2026-01-01", "amount": 1},
                {"valid_from": "2025-01-01", "amount": 1},
            ]
        },
        "/parameters",
        "increasing",
        "sort",
    ),
]
_IDS = [f"{b[2]} {b[3]}" for b in BAD]


@pytest.mark.parametrize(("at", "value", "pointer", "message", "hint"), BAD, ids=_IDS)
def test_bad_household_file_says_what_where_and_what_to_do(
    at: str, value: Any, pointer: str, message: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_household(_set(_minimal(), at, value), "h.json")
    err = info.value
    assert err.where == f"h.json#{pointer}"
    assert message in err.message
    assert err.hint is not None
    assert hint in err.hint
    assert err.details["pointer"] == pointer
    assert err.code == "config.household"


def test_spouse_needs_related_to_when_there_are_two_main_insured() -> None:
    data = _minimal()
    second = dict(data["main_insured"][0], id="anne", pin="1982010112345")
    data["main_insured"].append(second)
    data["members"] = [
        {"id": "eva", "name": "Eva", "relation": "spouse", "date_of_birth": "1985-01-01"}
    ]
    with pytest.raises(ConfigError, match="needs related_to") as info:
        parse_household(data, "h.json")
    assert info.value.where == "h.json#/members/0"


def test_not_json_gives_line_and_column() -> None:
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        loads_household('{\n  "format": "x",\n}', source="h.json")
    assert info.value.where == "h.json:3:1"
    assert info.value.details == {"file": "h.json", "line": 3, "column": 1}


def test_pointer_tokens_are_escaped() -> None:
    with pytest.raises(ConfigError) as info:
        parse_household(_set(_minimal(), "/a~b", 1), "h.json")
    assert info.value.where == "h.json#/a~0b"


# --- the JSON Schema agrees with the loader --------------------------------------------------


#: The schema's own dialect (2020-12, from its ``$schema``), checked as a schema first.
VALIDATOR = validator_for(SCHEMA)(SCHEMA)


def _errors(value: Any) -> list[str]:
    """What the JSON Schema says of ``value``, one line per error with its JSON pointer."""
    return [
        f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in VALIDATOR.iter_errors(value)
    ]


def test_the_household_schema_is_a_valid_json_schema_2020_12() -> None:
    assert validator_for(SCHEMA) is Draft202012Validator
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_valid_against_the_json_schema(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    assert _errors(data) == []


_BEYOND_SCHEMA = ("ends before", "child_kind given")  # date order, cross-field rules
_SCHEMA_CAN_TELL = [b for b in BAD[:22] if not any(x in b[3] for x in _BEYOND_SCHEMA)]


@pytest.mark.parametrize(
    ("at", "value", "pointer", "message", "hint"),
    _SCHEMA_CAN_TELL,
    ids=[f"{b[2]} {b[3]}" for b in _SCHEMA_CAN_TELL],
)
def test_the_schema_also_rejects_what_the_loader_rejects(
    at: str, value: Any, pointer: str, message: str, hint: str
) -> None:
    assert _errors(_set(_minimal(), at, value)) != []


@pytest.mark.parametrize(
    ("definition", "fields"),
    [
        (None, hj.TOP_FIELDS),
        ("main_insured", hj.MAIN_INSURED_FIELDS),
        ("member", hj.MEMBER_FIELDS),
        ("former_insurance", hj.FORMER_INSURANCE_FIELDS),
        ("fact", hj.FACT_FIELDS),
    ],
)
def test_schema_and_loader_know_the_same_keys(
    definition: str | None, fields: tuple[str, ...]
) -> None:
    node = SCHEMA if definition is None else SCHEMA["$defs"][definition]
    assert set(node["properties"]) == set(fields)
    assert node["additionalProperties"] is False


def test_schema_lists_every_document_kind() -> None:
    assert SCHEMA["$defs"]["document_kind"]["enum"] == [k.value for k in DocumentKind]


def test_outcome_values_are_documented() -> None:
    doc = (ROOT / "docs" / "household-format.md").read_text(encoding="utf-8")
    for kind in DocumentKind:
        assert f"`{kind.value}`" in doc, kind
    assert {o.value for o in Outcome} == {"eligible", "not_eligible", "pending"}
