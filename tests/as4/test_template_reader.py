"""The reader of our template's variable texts (eessi.as4.recognise, D452) finds what the
regular expression it replaced matched: the same texts for our own messages and receipts, and
the same "no" for every changed, inserted or deleted character the fuzzing below tries (``<``,
``>``, ``"`` and ordinary characters, at every few positions, in both envelopes). The
expression is built here as the module built it before (the escaped template, ``[^<>"]*`` per
marked value, back-references for a repeated one, ``<eb:unit>.*`` for the ebMS unit)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

import pytest
from as4_support import CNS, CPAM, make_pki, s072_message

from eessi.as4.model import Receipt
from eessi.as4.pki import Pki
from eessi.as4.recognise import _ENVELOPE, _RECEIPT, _mark, _refs_marked, _Template
from eessi.as4.render import (
    encryption_text,
    envelope_text,
    receipt_refs,
    render_receipt,
    render_user_message,
    signature_text,
    user_message_refs,
)


def _pattern(text: str, names: Sequence[str], unit: str) -> re.Pattern[str]:
    pattern = re.escape(text)
    for name in names:
        marker = re.escape(_mark(name))
        first, _, rest = pattern.partition(marker)
        pattern = first + f'(?P<{name}>[^<>"]*)' + rest.replace(marker, f"(?P={name})")
    return re.compile(pattern.replace(re.escape(_mark("unit")), f"(?P<unit><eb:{unit}>.*)"), re.S)


_ENVELOPE_RE = _pattern(
    envelope_text(
        encryption_text(_mark("rtoken"), _mark("wrapped"), _mark("mime"), _mark("cid"))
        + signature_text(
            _mark("stoken"), _refs_marked(user_message_refs("", _mark("cid"), b"")), _mark("value")
        ),
        _mark("unit"),
    ),
    ("rtoken", "wrapped", "mime", "cid", "stoken", "d1", "d2", "d3", "value"),
    "UserMessage",
)
_RECEIPT_RE = _pattern(
    envelope_text(
        signature_text(_mark("stoken"), _refs_marked(receipt_refs("")), _mark("value")),
        _mark("unit"),
    ),
    ("stoken", "d1", "d2", "value"),
    "SignalMessage",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM})


@pytest.fixture(scope="module")
def texts(pki: Pki) -> tuple[str, str]:
    um, attachment, _ = s072_message()
    rendered = render_user_message(
        um, attachment, signer=pki.credentials(CNS), recipient=pki.certificate(CPAM)
    )
    assert rendered is not None
    receipt = render_receipt(
        Receipt("r-1@eessi-sim", um.timestamp, um.message_id, rendered[2]), pki.credentials(CPAM)
    )
    assert receipt is not None
    return rendered[0].decode("ascii"), receipt.decode("ascii")


def _same(reader: _Template, pattern: re.Pattern[str], text: str) -> bool:
    found = reader.read(text)
    match = pattern.fullmatch(text)
    if match is None or found is None:
        return match is None and found is None
    return dict(found) == match.groupdict() and found.string == text


def _variants(text: str, *, every: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for at in range(0, len(text), every):
        new = rng.choice('<>"a=0 /@')
        yield text[:at] + new + text[at + 1 :]  # changed
        yield text[:at] + new + text[at:]  # inserted
        yield text[:at] + text[at + 1 :]  # deleted


def test_our_message_and_receipt_are_read_as_the_expression_read_them(
    texts: tuple[str, str],
) -> None:
    message, receipt = texts
    for reader, pattern, text in (
        (_ENVELOPE, _ENVELOPE_RE, message),
        (_RECEIPT, _RECEIPT_RE, receipt),
    ):
        found = reader.read(text)
        assert found is not None
        assert _same(reader, pattern, text)


def test_every_changed_inserted_or_deleted_character_is_read_as_the_expression_read_it(
    texts: tuple[str, str],
) -> None:
    message, receipt = texts
    tried, read = 0, 0
    for reader, pattern, text, every in (
        (_ENVELOPE, _ENVELOPE_RE, message, 7),
        (_RECEIPT, _RECEIPT_RE, receipt, 5),
    ):
        for variant in _variants(text, every=every, seed=every):
            assert _same(reader, pattern, variant), variant
            tried += 1
            read += reader.read(variant) is not None
    assert tried > 4000
    assert 0 < read < tried  # both answers were compared (a value's own character changed)


def test_a_repeated_value_must_repeat_the_first() -> None:
    reader = _Template('<a x="@@one@@"/><b>@@two@@</b><c y="@@one@@"/>@@unit@@</z>', "U")
    assert reader.read('<a x="1"/><b>2</b><c y="1"/><eb:U>u</z>') == {
        "one": "1",
        "two": "2",
        "unit": "<eb:U>u",
    }
    assert reader.read('<a x="1"/><b>2</b><c y="3"/><eb:U>u</z>') is None
    assert reader.read('<a x="1"/><b>2</b><c y="1"/><eb:V>u</z>') is None
    assert reader.read('<a x="1"/><b>2</b><c y="1"/><eb:U>u</y>') is None
