"""``eessi.sed.explain``: xmlschema's reason, expected elements and path for each schema issue.

Run on the invalid samples of ``tests/data`` (the manifest says which fail their schema)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from eessi.cli import main
from eessi.sed.explain import Explanation, explain
from eessi.sed.validate import validate

DATA = Path(__file__).resolve().parents[1] / "data"
MANIFEST = tomllib.loads((DATA / "manifest.toml").read_text(encoding="utf-8"))["sample"]
SCHEMA_BROKEN = [s["file"] for s in MANIFEST if s.get("error") == "sed.schema-violation"]
REFUSED_BEFORE = [s["file"] for s in MANIFEST if not s["ok"] and s["file"] not in SCHEMA_BROKEN]


@pytest.mark.parametrize("name", SCHEMA_BROKEN)
def test_every_schema_issue_of_an_invalid_sample_is_explained(name: str) -> None:
    data = (DATA / name).read_bytes()
    report = explain(data, validate(data))
    assert not report.ok
    for issue in report.errors:
        assert isinstance(issue.explanation, Explanation), issue
        assert issue.explanation.reason
        assert issue.explanation.path is not None
        assert issue.explanation.path.startswith("/")


@pytest.mark.parametrize("name", REFUSED_BEFORE)
def test_a_document_refused_before_its_schema_has_nothing_to_explain(name: str) -> None:
    data = (DATA / name).read_bytes()
    report = validate(data)
    assert explain(data, report) is report


def test_a_missing_mandatory_element_is_named_as_expected_at_its_parent() -> None:
    data = (DATA / "invalid" / "S071-missing-forename.xml").read_bytes()
    (issue,) = explain(data, validate(data)).errors
    assert issue.xpath == "/sed:S071/Person/PersonIdentification/dateBirth"  # libxml2's
    assert issue.explanation == Explanation(
        "Unexpected child with tag 'dateBirth' at position 2. Tag 'forename' expected.",
        ("forename",),
        "/sed:S071/Person/PersonIdentification",
    )


def test_a_code_outside_its_list_is_explained_with_the_allowed_values() -> None:
    data = (DATA / "invalid" / "S071-wrong-sex-code.xml").read_bytes()
    (issue,) = explain(data, validate(data)).errors
    assert issue.explanation is not None
    assert issue.explanation.reason == "value must be one of ['01', '02', '98']"
    assert issue.explanation.path == "/sed:S071/Person/PersonIdentification/sex/value"


def test_a_valid_document_comes_back_as_it_was() -> None:
    data = (DATA / "valid" / "S071-4.4-family-member.xml").read_bytes()
    report = validate(data)
    assert explain(data, report) is report


def test_eessi_validate_explain_prints_the_reason_the_expected_elements_and_the_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = DATA / "invalid" / "S071-missing-forename.xml"
    assert main(["validate", "--explain", str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{bad}:6:")
    assert lines[1:4] == [
        "    why: Unexpected child with tag 'dateBirth' at position 2. Tag 'forename' expected.",
        "    expected: forename",
        "    at: /sed:S071/Person/PersonIdentification",
    ]


def test_eessi_validate_json_explain_carries_the_explanation_and_plain_json_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = DATA / "invalid" / "S071-missing-forename.xml"
    assert main(["validate", "--json", "--explain", str(bad)]) == 1
    (issue,) = json.loads(capsys.readouterr().out)["reports"][0]["errors"]
    assert issue["explanation"] == {
        "reason": "Unexpected child with tag 'dateBirth' at position 2. Tag 'forename' expected.",
        "expected": ["forename"],
        "path": "/sed:S071/Person/PersonIdentification",
    }
    assert main(["validate", "--json", str(bad)]) == 1
    (issue,) = json.loads(capsys.readouterr().out)["reports"][0]["errors"]
    assert "explanation" not in issue
