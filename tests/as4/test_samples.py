"""Hand-written messages (tests/as4/samples/manifest.toml): accepted, or refused with the code."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from as4_support import CNS, pmodes
from lxml import etree

from eessi.as4.codes import ebms_error_of
from eessi.as4.ebms_parse import open_payloads, parse_envelope
from eessi.as4.mime import unpackage
from eessi.as4.model import ErrorSignal, Receipt, UserMessage
from eessi.errors import EessiError

SAMPLES = Path(__file__).parent / "samples"
MANIFEST = tomllib.loads((SAMPLES / "manifest.toml").read_text("utf-8"))["sample"]
_DEFAULT_TYPE = next(s["content_type"] for s in MANIFEST if s.get("file") == "user-message.mime")


def _body(sample: dict[str, Any]) -> bytes:
    text = (SAMPLES / sample.get("file", sample.get("base", ""))).read_text("utf-8")
    old, new = sample.get("replace", ["", ""])
    if old:
        assert old in text, f"sample {sample['name']!r}: {old!r} is not in its base"
        text = text.replace(old, new)
    return text.replace("\n", "\r\n").encode("utf-8")


def receive(content_type: str, body: bytes) -> UserMessage | Receipt | ErrorSignal:
    """What our receiver does with an unsecured message, up to the SED it hands on."""
    parts = unpackage(content_type, body)
    parsed = parse_envelope(parts.envelope)
    if isinstance(parsed.message, UserMessage):
        open_payloads(parsed.message, parts.attachments, pmodes(), receiver=CNS)
    return parsed.message


@pytest.mark.parametrize("sample", MANIFEST, ids=[s["name"] for s in MANIFEST])
def test_hand_written_sample(sample: dict[str, Any]) -> None:
    content_type = sample.get("content_type", _DEFAULT_TYPE)
    body = _body(sample)
    if sample["expect"] == "accept":
        message = receive(content_type, body)
        assert message.message_id
        return
    with pytest.raises(EessiError) as info:
        receive(content_type, body)
    assert ebms_error_of(info.value).code == sample["expect"], info.value
    assert info.value.where, "every refusal says where"


def test_accepted_user_message_delivers_the_hand_written_sed() -> None:
    body = _body({"file": "user-message.mime"})
    parts = unpackage(_DEFAULT_TYPE, body)
    parsed = parse_envelope(parts.envelope)
    assert isinstance(parsed.message, UserMessage)
    delivered = open_payloads(parsed.message, parts.attachments, pmodes(), receiver=CNS)
    assert delivered.payload == (
        b'<S071 xmlns="http://ec.europa.eu/eessi/ns/4_4/S071">hand-written payload</S071>'
    )
    assert (delivered.sender, delivered.sed_type, delivered.message.conversation_id) == (
        "FR:CPAM5701",
        "S071",
        "FR-00AA11BB22CC",
    )


@pytest.mark.parametrize("name", ["receipt.xml", "error.xml"])
def test_hand_written_signals_are_schema_valid(
    name: str, as4_schema: Callable[[bytes | etree._Element], None]
) -> None:
    as4_schema((SAMPLES / name).read_bytes())


def test_hand_written_user_message_envelope_is_schema_valid(
    as4_schema: Callable[[bytes | etree._Element], None],
) -> None:
    parts = unpackage(_DEFAULT_TYPE, _body({"file": "user-message.mime"}))
    as4_schema(parts.envelope)
