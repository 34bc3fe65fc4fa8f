"""The eb:Messaging header: built messages are schema-valid and parse back to what was built."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import replace

import pytest
from as4_support import CNS, CPAM, WHEN, pmodes, s072_message
from lxml import etree

from eessi.as4 import codes
from eessi.as4.ebms_build import (
    error_detail,
    error_envelope,
    receipt_envelope,
    serialize,
    user_message_envelope,
)
from eessi.as4.ebms_parse import open_payloads, parse_envelope
from eessi.as4.mime import package, unpackage
from eessi.as4.model import ErrorSignal, Receipt, SignedReference
from eessi.errors import EnvelopeError

Check = Callable[[bytes | etree._Element], None]


def test_user_message_is_schema_valid_and_parses_back(as4_schema: Check) -> None:
    um, _, _ = s072_message()
    data = serialize(user_message_envelope(um))
    as4_schema(data)
    assert parse_envelope(data).message == um


def test_sed_travels_gzip_compressed_with_its_part_properties() -> None:
    um, attachment, sed = s072_message()
    part = um.parts[0]
    assert part.href == f"cid:{attachment.content_id}"
    assert part.property("MimeType") == "application/xml"
    assert part.property("CompressionType") == "application/gzip"
    assert gzip.decompress(attachment.data) == sed
    assert um.conversation_id == "FR-1A2B3C4D5E6F"
    assert (um.service, um.action) == ("S_BUC_01", "S072")
    assert um.property("originalSender") == CNS
    assert um.property("finalRecipient") == CPAM


def test_mime_package_round_trip_delivers_the_sed() -> None:
    um, attachment, sed = s072_message()
    packed = package(serialize(user_message_envelope(um)), [attachment])
    assert packed.content_type.startswith("multipart/related;")
    parts = unpackage(packed.content_type, packed.body)
    parsed = parse_envelope(parts.envelope)
    assert isinstance(parsed.message, type(um))
    delivered = open_payloads(parsed.message, parts.attachments, pmodes(), receiver=CPAM)
    assert delivered.payload == sed
    assert (delivered.buc, delivered.sed_type, delivered.sed_version) == ("S_BUC_01", "S072", "4.4")
    assert (delivered.sender, delivered.receiver) == (CNS, CPAM)


def test_receipt_with_non_repudiation_information_is_schema_valid(as4_schema: Check) -> None:
    receipt = Receipt(
        "r-1@eessi-sim",
        WHEN,
        "m-1@eessi-sim",
        (
            SignedReference(
                "#_ebMessaging",
                ("http://www.w3.org/2001/10/xml-exc-c14n#",),
                "http://www.w3.org/2001/04/xmlenc#sha256",
                "q1w2e3r4t5y6u7i8o9p0AAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ),
    )
    data = serialize(receipt_envelope(receipt))
    as4_schema(data)
    assert parse_envelope(data).message == receipt


@pytest.mark.parametrize("code", sorted(codes.CODES))
def test_every_error_code_makes_a_schema_valid_signal(code: str, as4_schema: Check) -> None:
    row = codes.ebms_error(code)
    signal = ErrorSignal(
        "e-1@eessi-sim",
        WHEN,
        (error_detail(row, ref_to_message_in_error="m-1@eessi-sim", description="why"),),
        "m-1@eessi-sim",
    )
    data = serialize(error_envelope(signal))
    as4_schema(data)
    parsed = parse_envelope(data).message
    assert parsed == signal
    assert isinstance(parsed, ErrorSignal)
    assert parsed.errors[0].short_description == row.short_description


def test_error_table_has_the_core_and_as4_codes() -> None:
    assert codes.ebms_error("EBMS:0009").short_description == "InvalidHeader"
    assert codes.ebms_error("EBMS:0303").short_description == "DecompressionFailure"
    assert {c.category for c in codes.CODES.values()} == {
        "Content",
        "Communication",
        "Unpackaging",
        "Processing",
    }
    assert len(codes.CODES) == 19


def _refused_code(exc: EnvelopeError) -> str:
    return codes.ebms_error_of(exc).code


def test_payload_checks_refuse_with_the_right_code() -> None:
    um, attachment, _ = s072_message()
    pm = pmodes()
    with pytest.raises(EnvelopeError) as info:
        open_payloads(um, (), pm)
    assert _refused_code(info.value) == "EBMS:0011"
    with pytest.raises(EnvelopeError) as info:
        open_payloads(um, (replace(attachment, data=b"not gzip"),), pm)
    assert _refused_code(info.value) == "EBMS:0303"
    bomb = gzip.compress(b"<" + b" " * (2 << 20), mtime=0)
    with pytest.raises(EnvelopeError) as info:
        open_payloads(um, (replace(attachment, data=bomb),), pm)
    assert _refused_code(info.value) == "EBMS:0303"
    with pytest.raises(EnvelopeError) as info:
        open_payloads(replace(um, action="S041"), (attachment,), pm)
    assert _refused_code(info.value) == "EBMS:0010"
    with pytest.raises(EnvelopeError) as info:
        open_payloads(um, (attachment,), pm, receiver="DE:TKK00001")
    assert _refused_code(info.value) == "EBMS:0003"
