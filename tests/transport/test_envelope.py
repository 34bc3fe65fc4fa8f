"""Envelope XML: round trips, schema validity, hardened and located decoding errors."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from eessi.errors import EnvelopeError
from eessi.transport.envelope import (
    MAX_ENVELOPE_BYTES,
    ErrorSignal,
    Receipt,
    UserMessage,
    decode,
    decode_signal,
    decode_user_message,
    encode,
    envelope_schema_path,
    payload_digest,
)

from .conftest import user_message

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(envelope_schema_path())))


def test_a_user_message_round_trips_and_is_valid_against_the_xsd() -> None:
    message = UserMessage.for_payload(
        b"<S072/>",
        message_id="b6f0c4a2-1111-4aaa-8bbb-0123456789ab",
        timestamp=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        from_party="LU:CNS00001",
        to_party="BE:MUT000319",
        conversation_id="LU-00AB12CD34EF",
        sed_type="S072",
        sed_version="4.3",
        ref_to_message_id="a&b<c>",
    )
    data = encode(message)
    assert schema().validate(etree.fromstring(data))
    assert decode(data) == message
    assert message.payload_digest == payload_digest(b"<S072/>")
    assert message.payload_size == 7


def test_timestamps_keep_their_zone_and_utc_is_written_z() -> None:
    assert b"<Timestamp>2026-01-05T09:00:00Z</Timestamp>" in encode(user_message(b"x"))
    cet = timezone(timedelta(hours=1))
    receipt = Receipt("r-1", datetime(2026, 1, 5, 10, 0, tzinfo=cet), "m-1")
    data = encode(receipt)
    assert b"2026-01-05T10:00:00+01:00" in data
    assert decode(data) == receipt


def test_a_naive_timestamp_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode(Receipt("r-1", datetime(2026, 1, 5, 9, 0), "m-1"))


def test_receipt_and_error_round_trip_and_are_valid() -> None:
    receipt = Receipt("r-1", T0, "m-1")
    error = ErrorSignal(
        "e-1",
        T0,
        code="EBMS:0010",
        short_description="ProcessingModeMismatch",
        description='version "4.1" is not accepted; supported versions: 4.3, 4.4 & more',
        ref_to_message_id="m-1",
        detail="supported versions: 4.3, 4.4",
    )
    for signal in (receipt, error):
        data = encode(signal)
        assert schema().validate(etree.fromstring(data))
        assert decode_signal(data) == signal


def test_an_error_about_an_unreadable_message_has_no_reference() -> None:
    error = ErrorSignal("e-2", T0, "EBMS:0009", "InvalidHeader", "not XML", detail="line 1")
    decoded = decode_signal(encode(error))
    assert isinstance(decoded, ErrorSignal)
    assert decoded.ref_to_message_id is None


def test_error_text_with_characters_xml_cannot_carry_is_still_encoded() -> None:
    error = ErrorSignal("e-3", T0, "EBMS:0004", "Other", "bad\x00byte\x1b here", detail="x\x0by")
    decoded = decode_signal(encode(error))
    assert isinstance(decoded, ErrorSignal)
    assert decoded.description == "badbyte here"
    assert decoded.detail == "xy"


@given(
    message_id=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80
    ),
    conversation_id=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80
    ),
    payload=st.binary(max_size=200),
)
def test_any_printable_ids_round_trip(
    message_id: str, conversation_id: str, payload: bytes
) -> None:
    message = UserMessage.for_payload(
        payload,
        message_id=message_id,
        timestamp=T0,
        from_party="FR:CPAM5700",
        to_party="LU:CNS00001",
        conversation_id=conversation_id,
        sed_type="X001",
        sed_version="4.4",
        ref_to_message_id=message_id,
    )
    assert decode(encode(message)) == message


def test_an_invalid_party_id_is_refused_with_its_path_and_line() -> None:
    data = encode(user_message(b"x", from_party="FR:CPAM5700")).replace(b"FR:CPAM5700", b"France!")
    with pytest.raises(EnvelopeError) as info:
        decode(data)
    assert info.value.where == "line 2, /Messaging/UserMessage/PartyInfo/From/PartyId"
    assert "France!" in info.value.message


def test_an_unknown_service_is_refused() -> None:
    data = encode(user_message(b"x")).replace(b"BusinessMessaging", b"Pull")
    with pytest.raises(EnvelopeError, match="Service"):
        decode(data)


def test_entity_expansion_is_refused_not_performed() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
        b'<Messaging xmlns="http://ec.europa.eu/eessi/ns/sim/as4">&lol2;</Messaging>'
    )
    with pytest.raises(EnvelopeError) as info:
        decode(bomb)
    assert info.value.code == "transport.envelope-hostile"


def test_an_external_entity_is_never_fetched() -> None:
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<Messaging xmlns="http://ec.europa.eu/eessi/ns/sim/as4">&x;</Messaging>'
    )
    with pytest.raises(EnvelopeError, match="DOCTYPE"):
        decode(xxe)


def test_an_oversized_envelope_is_refused_before_parsing() -> None:
    with pytest.raises(EnvelopeError, match="more than the"):
        decode(b"<a>" + b" " * MAX_ENVELOPE_BYTES + b"</a>")


def test_an_empty_envelope_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="empty"):
        decode(b"  \n")


def test_comments_do_not_shift_the_fields() -> None:
    data = encode(user_message(b"x")).replace(
        b"<MessageInfo>", b"<MessageInfo><!-- a comment --><?pi x?>"
    )
    assert decode(data) == user_message(b"x")


def test_the_expected_kind_of_envelope_is_checked() -> None:
    with pytest.raises(EnvelopeError, match="expected a UserMessage"):
        decode_user_message(encode(Receipt("r-1", T0, "m-1")))
    with pytest.raises(EnvelopeError, match="expected a Receipt or an Error"):
        decode_signal(encode(user_message(b"x")))


def test_a_receipt_without_a_reference_is_refused() -> None:
    data = encode(Receipt("r-1", T0, "m-1")).replace(b"<RefToMessageId>m-1</RefToMessageId>", b"")
    with pytest.raises(EnvelopeError, match="RefToMessageId"):
        decode(data)


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-01-05T24:00:00Z",
        "12026-01-05T09:00:00Z",
        "2026-01-05T09:00:00",
        "-2026-01-05T09:00:00Z",
    ],
)
def test_a_timestamp_python_cannot_hold_is_an_envelope_error(stamp: str) -> None:
    data = encode(user_message(b"x")).replace(b"2026-01-05T09:00:00Z", stamp.encode())
    with pytest.raises(EnvelopeError, match=r"[Tt]imestamp"):
        decode(data)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_cleanly_or_decoded(data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        decode(data)


@given(st.data())
def test_a_valid_envelope_with_one_byte_changed_is_refused_cleanly_or_decoded(
    data: st.DataObject,
) -> None:
    original = bytearray(encode(user_message(b"x")))
    index = data.draw(st.integers(0, len(original) - 1))
    original[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(EnvelopeError):
        decode(bytes(original))


@pytest.mark.parametrize(
    ("element", "mangled"),
    [
        ("<Size>7</Size>", "<Size><?x?>7</Size>"),
        ("<Size>7</Size>", "<Size>7<!-- seven --></Size>"),
        ("<MessageId>msg-0001</MessageId>", "<MessageId><!---->msg-0001</MessageId>"),
        ("<MessageId>msg-0001</MessageId>", "<MessageId>msg<?pi?>-0001</MessageId>"),
        ("<Digest>", "<Digest><!---->"),
        ("<ConversationId>", "<ConversationId><?x?>"),
    ],
)
def test_element_text_is_read_whole_around_comments_and_processing_instructions(
    element: str, mangled: str
) -> None:
    """What the schema validated (text with comments and PIs left out) is what is read."""
    message = user_message(b"<S071/>")
    data = encode(message).replace(element.encode(), mangled.encode())
    assert data != encode(message)
    assert decode(data) == message


def test_party_ids_are_read_whole_around_comments() -> None:
    message = user_message(b"<S071/>")
    data = encode(message).replace(b"<PartyId>FR:", b"<PartyId><!-- from -->FR:")
    assert decode(data) == message
