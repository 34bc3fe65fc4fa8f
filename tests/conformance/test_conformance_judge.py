"""The checks every document from the SUT is held to, on documents made here: the schema (ours
and, with ``--schemas``, the official one, explained by xmlschema) and the XPath locator."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eessi.conformance.judge import locate, schema_findings
from eessi.conformance.model import SutMessage
from eessi.sed.examples import example_xml
from eessi.sed.schemas import SchemaSet

REPO = Path(__file__).resolve().parents[2]


def official_dir() -> Path:
    env = os.environ.get("EESSI_OFFICIAL_SCHEMAS")
    d = Path(env) if env else REPO.parent / "shared" / "cdm-4.4"
    if not (d / "S071-4.4.xsd").is_file():
        pytest.skip(f"the official CDM 4.4 schemas are not here ({d}): nothing to compare with")
    return d


def message(payload: bytes, sed: str = "S071") -> SutMessage:
    return SutMessage(
        message_id="m-1",
        sender="FR:CPAM5701",
        receiver="LU:CNS00001",
        sed=sed,
        version="4.4",
        case="FR-1",
        status="refused",
        at=datetime(2026, 4, 15, 9, tzinfo=UTC),
        payload=payload,
    )


def test_a_valid_s071_passes_our_schema_and_the_official_one() -> None:
    official = SchemaSet(official_dir())
    assert schema_findings(message(example_xml("S071")), official) == []


def test_an_s071_breaking_both_schemas_is_named_twice_with_xpath_line_and_reason() -> None:
    official = SchemaSet(official_dir())
    broken = example_xml("S071").replace(b"<Person>", b"<Persona/><Person>", 1)
    findings = schema_findings(message(broken), official)
    assert [f.message for f in findings] == [
        "S071 4.4 is not valid against our schema",
        f"S071 4.4 is not valid against the official schema ({official.directory})",
    ]
    for f in findings:
        assert f.xpath == "/sed:S071/Persona"
        assert f.line is not None
        assert f.explanation is not None
        assert "Person" in f.explanation


def test_an_sed_the_official_set_lacks_is_judged_by_ours_only() -> None:
    official = SchemaSet(official_dir())  # S071 and S041 only
    assert schema_findings(message(example_xml("S072"), sed="S072"), official) == []


def test_locate_gives_values_and_the_line_of_the_first_node() -> None:
    payload = example_xml("S072", "4.3")
    values, line = locate(payload, "/sed:S072/entitlementConfirmed/value")
    assert values == ["01"]
    assert line is not None
    assert payload.decode().splitlines()[line - 1].strip() == "<value>01</value>"
    assert locate(b"not xml", "/sed:S072") == ([], None)
