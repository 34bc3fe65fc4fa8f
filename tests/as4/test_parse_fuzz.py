"""The receive path refuses any damaged message with a structured error, never a crash.

Mutations of the hand-written user message (bytes replaced, removed, duplicated) and of a
secured message go through unpackaging, header parsing, security and payload checks: each
either passes or raises an :class:`~eessi.errors.EessiError` that has an ebMS code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from as4_support import CNS, CPAM, make_pki, pmodes, signed_s072
from hypothesis import given, settings
from hypothesis import strategies as st

from eessi.as4.codes import CODES, ebms_error_of
from eessi.as4.ebms_parse import open_payloads, parse_envelope
from eessi.as4.exchange import receive_user_message
from eessi.as4.mime import unpackage
from eessi.as4.model import UserMessage
from eessi.errors import EessiError

SAMPLE = (
    (Path(__file__).parent / "samples" / "user-message.mime")
    .read_text("utf-8")
    .replace("\n", "\r\n")
    .encode("utf-8")
)
CONTENT_TYPE = (
    'multipart/related; type="application/soap+xml"; '
    'boundary="uuid:0f4e6b2c-7d1a-4c3e-9b8f-2a6d5e4c3b21"; start="<root.message@cxf.apache.org>"'
)
PMODES = pmodes()


def _outcome(content_type: str, body: bytes) -> str:
    """``"accepted"``, or the ebMS code of the refusal (anything else propagates: a crash)."""
    try:
        parts = unpackage(content_type, body)
        parsed = parse_envelope(parts.envelope)
        if isinstance(parsed.message, UserMessage):
            open_payloads(parsed.message, parts.attachments, PMODES, receiver=CNS)
    except EessiError as exc:
        return ebms_error_of(exc).code
    return "accepted"


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for pos, length, insert in edits:
        pos %= len(data) + 1
        data = data[:pos] + insert + data[pos + length :]
    return data


edits = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(SAMPLE)),
        st.integers(min_value=0, max_value=40),
        st.sampled_from(
            [b"", b"<", b">", b"\r\n", b"--", b'"', b"&amp;", b"\x00", b"\xff", b"<x/>", b"cid:"]
        ),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300)
@given(edits)
def test_a_damaged_message_is_refused_with_an_ebms_code(
    changes: list[tuple[int, int, bytes]],
) -> None:
    assert _outcome(CONTENT_TYPE, _mutate(SAMPLE, changes)) in {"accepted", *CODES}


@settings(max_examples=100)
@given(st.text(max_size=200))
def test_any_content_type_is_refused_or_read(content_type: str) -> None:
    assert _outcome(content_type, SAMPLE) in {"accepted", *CODES}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A signed and encrypted message and the keys to read it."""
    now = dt.datetime.now(dt.UTC)
    pki = make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM}, now=now, days=2)
    out = signed_s072(pki, seed=1, timestamp=now, pm=PMODES)
    return {"out": out, "pki": pki, "now": now, "creds": pki.credentials(CPAM)}


@settings(max_examples=150)
@given(edits)
def test_a_damaged_secured_message_is_refused_with_an_ebms_code(
    secured: dict[str, Any], changes: list[tuple[int, int, bytes]]
) -> None:
    s = secured
    body = _mutate(s["out"].packaged.body, changes)
    try:
        receive_user_message(
            s["out"].packaged.content_type,
            body,
            pmodes=PMODES,
            receiver=CPAM,
            credentials=s["creds"],
            trust=s["pki"].trust,
            now=s["now"],
        )
        outcome = "accepted"
    except EessiError as exc:
        outcome = ebms_error_of(exc).code
    assert outcome in {"accepted", *CODES}
