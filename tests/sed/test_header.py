"""The SBDH-like header: round trip, schema validity, clear errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from eessi.errors import SedError, SedModelError
from eessi.sed.catalogue import BUCS, Role
from eessi.sed.header import (
    SBDH_NS,
    BusinessScope,
    CaseAction,
    DocumentIdentification,
    Header,
    Partner,
)
from eessi.sed.model import INSTITUTION_ID_RE

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "header" / "sbdh.xsd"


def sbdh_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA), etree.XMLParser(no_network=True)))


def sample() -> Header:
    return Header(
        sender=Partner(identifier="FR:CPAM5701", role=Role.CASE_OWNER),
        receiver=Partner(identifier="LU:CNS00001", role=Role.COUNTERPARTY),
        document=DocumentIdentification(
            type="S071",
            type_version="4.4",
            instance_id="0f8fad5b-d9cb-469f-a165-70867728950e",
            document_version=1,
            created=dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC),
            case_action=CaseAction.CREATE,
        ),
        scope=BusinessScope(case_id="FR-00A1B2C3D4E5", buc_name="S_BUC_01", buc_version="v4.2"),
    )


partners = st.builds(
    Partner,
    identifier=st.from_regex(INSTITUTION_ID_RE, fullmatch=True),
    role=st.sampled_from(list(Role)),
)
headers = st.builds(
    Header,
    sender=partners,
    receiver=partners,
    document=st.builds(
        DocumentIdentification,
        type=st.sampled_from(["S071", "S072", "S073", "S040", "S041", "X001", "X050"]),
        type_version=st.sampled_from(["4.3", "4.4"]),
        instance_id=st.uuids().map(str),
        document_version=st.none() | st.integers(min_value=1, max_value=99),
        created=st.datetimes(
            min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)
        ).map(lambda d: d.replace(tzinfo=dt.UTC)),
        case_action=st.sampled_from(list(CaseAction)),
    ),
    scope=st.builds(
        BusinessScope,
        case_id=st.from_regex(r"[A-Za-z0-9._:\-]{1,65}", fullmatch=True),
        buc_name=st.sampled_from(sorted(BUCS)),
        buc_version=st.sampled_from(["v4.2", "v4.3"]),
    ),
)


@settings(max_examples=40, deadline=None)
@given(headers)
def test_generated_headers_round_trip_and_are_schema_valid(header: Header) -> None:
    data = header.to_xml()
    back = Header.from_xml(data)
    assert back == header
    assert back.to_xml() == data
    schema = sbdh_schema()
    assert schema.validate(etree.fromstring(data)), schema.error_log


def test_header_elements_are_qualified_in_the_sbdh_namespace() -> None:
    root = etree.fromstring(sample().to_xml())
    assert root.tag == f"{{{SBDH_NS}}}StandardBusinessDocumentHeader"
    assert all(etree.QName(el).namespace == SBDH_NS for el in root.iter())
    assert root.findtext(f"{{{SBDH_NS}}}Sender/{{{SBDH_NS}}}role") == "PO"


def test_a_sed_is_not_a_header() -> None:
    from eessi.sed.examples import example_xml

    with pytest.raises(SedError, match="expected a StandardBusinessDocumentHeader"):
        Header.from_xml(example_xml("S071"))


def test_naive_creation_time_is_refused() -> None:
    with pytest.raises(SedModelError, match="time-zone aware"):
        dataclasses.replace(sample().document, created=dt.datetime(2026, 3, 2, 9, 30))


def test_bad_institution_id_is_refused() -> None:
    with pytest.raises(SedModelError, match="does not match"):
        Partner(identifier="LU:CNS", role=Role.CASE_OWNER)


def test_unqualified_header_children_are_unexpected() -> None:
    data = (
        sample()
        .to_xml()
        .replace(b"<sbdh:Sender>", b"<Sender>")
        .replace(b"</sbdh:Sender>", b"</Sender>")
    )
    with pytest.raises(SedError):
        Header.from_xml(data)
