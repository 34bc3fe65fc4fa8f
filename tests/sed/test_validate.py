from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eessi.errors import SchemaError, SedInvalidError, UnsupportedVersionError
from eessi.sed.catalogue import SEDS
from eessi.sed.examples import example_xml
from eessi.sed.schemas import SchemaSet, default_schemas, schema_dir
from eessi.sed.validate import (
    MAX_ISSUES,
    ValidationIssue,
    ValidationReport,
    validate,
    validate_or_raise,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
VALID_S071 = (DATA / "valid" / "S071-4.4-family-member.xml").read_bytes()


def official_dir() -> Path:
    """The official CDM 4.4 files (S071, S041), or skip: a user's clone does not have them."""
    env = os.environ.get("EESSI_OFFICIAL_SCHEMAS")
    path = Path(env) if env else ROOT.parent / "shared" / "cdm-4.4"
    if not (path / "S071-4.4.xsd").is_file():
        pytest.skip(f"official CDM 4.4 schemas not found at {path} (set EESSI_OFFICIAL_SCHEMAS)")
    return path


@pytest.mark.parametrize(
    ("code", "version"), [(c, v) for c, t in sorted(SEDS.items()) for v in t.versions]
)
def test_every_catalogue_example_is_valid(code: str, version: str) -> None:
    report = validate(example_xml(code, version))
    assert report == ValidationReport(code, version, True, ())


def test_validate_or_raise_returns_tree_code_and_version() -> None:
    root, sed, version = validate_or_raise(VALID_S071)
    assert (sed, version) == ("S071", "4.4")
    assert root.findtext("Person/PersonIdentification/familyName") == "Schmit"


def test_validate_or_raise_carries_every_schema_issue() -> None:
    data = VALID_S071.replace(b"<value>02</value>", b"<value>03</value>").replace(
        b"<town>Thionville</town>", b"<town></town>", 1
    )
    with pytest.raises(SedInvalidError) as caught:
        validate_or_raise(data, where="msg-1")
    error = caught.value
    assert error.code == "sed.schema-violation"
    assert error.where == "msg-1"
    assert error.details["sed"] == "S071"
    issues = error.details["issues"]
    assert [i["xpath"] for i in issues] == [
        "/sed:S071/Person/PersonIdentification/sex/value",
        "/sed:S071/AddressOfPersonForWhomAnEntitlementDocument/Address/town",
    ]
    assert "and 1 more issue" in error.message


def test_schema_violation_report_names_element_value_and_line() -> None:
    report = validate(VALID_S071.replace(b"<value>02</value>", b"<value>03</value>"))
    assert not report.ok
    (issue,) = report.errors
    assert issue.code == "sed.schema-violation"
    assert issue.line == 9
    assert "'03'" in issue.message


def test_long_patterns_are_shortened_in_messages() -> None:
    data = VALID_S071.replace(b"<value>FR</value>", b"<value>XX</value>", 1)
    (issue,) = validate(data).errors
    assert len(issue.message) < 200
    assert "XX" in issue.message


def test_number_of_issues_is_capped() -> None:
    nationality = b"<nationality>\n        <value>LU</value>"
    assert nationality in VALID_S071
    many = b"<nationality>" + b"<value>XX</value>" * (MAX_ISSUES + 10)
    report = validate(VALID_S071.replace(nationality, many))
    assert len(report.errors) == MAX_ISSUES


def test_receiver_accepting_only_44_names_the_versions_it_supports() -> None:
    report = validate(example_xml("S072", "4.3"), accept_versions=["4.4"])
    assert report.sed == "S072"
    assert report.version == "4.3"
    (issue,) = report.errors
    assert issue.code == "sed.unsupported-version"
    assert "4.3 is not supported" in issue.message
    assert "supports S072 in version 4.4 only" in issue.message


def test_unsupported_version_raises_its_own_error() -> None:
    data = VALID_S071.replace(b"4_4/S071", b"3_9/S071")
    with pytest.raises(UnsupportedVersionError) as caught:
        validate_or_raise(data)
    assert caught.value.details["supported"] == ["4.3", "4.4"]


def test_report_and_issue_serialise_to_json_ready_dicts() -> None:
    report = ValidationReport("S071", "4.4", False, (ValidationIssue("c", "m", "/x", 1, 2),))
    assert report.to_dict() == {
        "sed": "S071",
        "version": "4.4",
        "ok": False,
        "errors": [{"code": "c", "message": "m", "xpath": "/x", "line": 1, "column": 2}],
    }


# --- schemas.py -----------------------------------------------------------------------------


def test_schema_dir_is_the_checkout_schemas_in_a_checkout() -> None:
    assert (schema_dir() / "4.4" / "S071.xsd").is_file()


def test_our_schema_set_supports_every_catalogue_sed_and_version() -> None:
    schemas = default_schemas()
    for code, sed in SEDS.items():
        assert schemas.supported(code) == sed.versions


def test_schema_is_compiled_once_and_reused() -> None:
    schemas = SchemaSet()
    first = schemas.schema("S071", "4.4")
    assert schemas.schema("S071", "4.4") is first
    assert schemas.lookup("S071", "4.4") is first
    assert schemas.lookup("S071", "3.9") is None


def test_missing_schema_names_directory_and_available_versions() -> None:
    with pytest.raises(SchemaError) as caught:
        SchemaSet().schema("S071", "3.9")
    assert "4.3, 4.4" in str(caught.value)


def test_missing_directory_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError):
        SchemaSet(tmp_path / "nope")


def test_schema_needing_the_network_fails_to_compile_with_its_file_named(tmp_path: Path) -> None:
    (tmp_path / "S071.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' targetNamespace="http://ec.europa.eu/eessi/ns/4_4/S071">'
        '<xsd:include schemaLocation="http://127.0.0.1:9/common.xsd"/>'
        '<xsd:element name="S071" type="Missing"/></xsd:schema>'
    )
    schemas = SchemaSet(tmp_path)
    assert schemas.supported("S071") == ("4.4",)
    with pytest.raises(SchemaError) as caught:
        schemas.schema("S071", "4.4")
    assert caught.value.where == str(tmp_path / "S071.xsd")


def test_validate_reraises_a_broken_schema_set(tmp_path: Path) -> None:
    (tmp_path / "bad.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' targetNamespace="http://ec.europa.eu/eessi/ns/4_4/S071"><oops/></xsd:schema>'
    )
    with pytest.raises(SchemaError):
        validate(VALID_S071, schemas=SchemaSet(tmp_path))


def test_official_schema_directory_is_mapped_by_namespace() -> None:
    schemas = SchemaSet(official_dir())
    assert schemas.codes() == ("S041", "S071")
    assert schemas.paths[("S071", "4.4")].name == "S071-4.4.xsd"


def test_valid_sample_is_valid_against_official_schemas_too() -> None:
    report = validate(VALID_S071, schemas=SchemaSet(official_dir()))
    assert report.ok, report.errors


def test_sed_without_official_schema_is_unsupported_with_reason() -> None:
    report = validate(example_xml("S072"), schemas=SchemaSet(official_dir()))
    (issue,) = report.errors
    assert issue.code == "sed.unsupported-version"
    assert "no schema for it" in issue.message


def test_oversized_document_is_refused_with_its_own_code() -> None:
    padding = b"<!-- " + b"x" * (1 << 20) + b" -->"
    report = validate(VALID_S071.replace(b"<Person>", padding + b"<Person>", 1))
    assert not report.ok
    (issue,) = report.errors
    assert issue.code == "sed.too-large"
    assert "limit of 1048576" in issue.message


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_report_never_an_exception(data: bytes) -> None:
    report = validate(data)
    assert not report.ok
    assert report.errors[0].code.startswith("sed.")


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(VALID_S071) - 1), st.binary(min_size=1, max_size=8))
def test_corrupted_valid_document_gives_a_report_never_an_exception(at: int, junk: bytes) -> None:
    report = validate(VALID_S071[:at] + junk + VALID_S071[at + len(junk) :])
    assert report.ok is (not report.errors)
    for issue in report.errors:
        assert issue.message
