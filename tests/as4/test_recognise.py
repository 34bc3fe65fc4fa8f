"""A user message or a signed receipt that our template wrote is read without an XML tree
(eessi.as4.recognise, D320): the same message, attachment and references as the tree path, and
nothing that path would refuse (a changed byte anywhere, another receiver, another signer, an
expired certificate, a receipt for other digests or another message), which then reads it and
refuses it with its own code."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from as4_support import CNS, CPAM, NOW, PT, WHEN, header_variants, make_pki, s072_message
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from eessi.as4.ebms_parse import parse_envelope
from eessi.as4.model import Attachment, Receipt, SignedReference, UserMessage
from eessi.as4.pki import Pki
from eessi.as4.recognise import Recognised, read_rendered_receipt, receive_rendered
from eessi.as4.render import render_receipt, render_user_message
from eessi.as4.security import Credentials
from eessi.as4.security.decrypt import decrypt
from eessi.as4.security.receipt import check_receipt
from eessi.as4.security.verify import verify
from eessi.errors import EessiError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM, PT})


def _rendered(pki: Pki, um: UserMessage, attachment: Attachment) -> tuple[bytes, list[Attachment]]:
    rendered = render_user_message(
        um, attachment, signer=pki.credentials(CNS), recipient=pki.certificate(CPAM)
    )
    assert rendered is not None
    return rendered[0], rendered[1]


_KEYS: dict[str, Credentials] = {}


def _keys(pki: Pki, who: str) -> Credentials:
    """``who``'s credentials, read once (reading a private key file costs about 50 ms)."""
    if who not in _KEYS:
        _KEYS[who] = pki.credentials(who)
    return _KEYS[who]


def _tree_path(pki: Pki, envelope: bytes, parts: list[Attachment], me: str = CPAM) -> Recognised:
    """What the general receiver makes of the same bytes (or its refusal)."""
    parsed = parse_envelope(envelope)
    assert isinstance(parsed.message, UserMessage)
    clear = decrypt(parsed.root, parts, _keys(pki, me))
    verified = verify(parsed.root, clear, pki.trust, sender=parsed.message.from_party.id, now=NOW)
    return parsed.message, clear, verified.references


def _changed_bytes(data: bytes, *, every: int, seed: int) -> Iterator[tuple[int, bytes]]:
    """``data`` with one byte changed, at every ``every``-th position (to a base64, markup,
    quote, space, letter or non-ASCII byte)."""
    rng = random.Random(seed)
    for pos in range(0, len(data), every):
        changed = bytearray(data)
        changed[pos] = rng.choice(b"A0+/=<>\"' zq&\x80")
        if changed[pos] != data[pos]:
            yield pos, bytes(changed)


def _left_to_the_tree_path(
    pki: Pki, envelope: bytes, parts: list[Attachment], code: str, me: str = CPAM
) -> None:
    """The text path declines ``envelope``; the tree path refuses it with ``code``."""
    assert receive_rendered(envelope, parts, _keys(pki, me), pki.trust, NOW) is None
    with pytest.raises(EessiError) as refused:
        _tree_path(pki, envelope, parts, me=me)
    assert refused.value.details["ebms_code"] == code


@pytest.mark.parametrize("variant", range(6))
def test_our_message_is_read_as_the_tree_path_reads_it(pki: Pki, variant: int) -> None:
    um = header_variants()[variant]
    _, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    got = receive_rendered(envelope, parts, pki.credentials(CPAM), pki.trust, NOW)
    assert got is not None
    assert got == _tree_path(pki, envelope, parts)
    assert got[0] == um
    assert got[1] == [attachment]


def test_a_changed_byte_anywhere_is_never_accepted_by_the_text_path(pki: Pki) -> None:
    """Every 11th byte of the envelope, changed: the text path accepts only what the tree path
    accepts, with the same result (a change the tree path cannot see, if any, reads the same)."""
    um, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    credentials = _keys(pki, CPAM)
    for pos, changed in _changed_bytes(envelope, every=11, seed=13):
        got = receive_rendered(changed, parts, credentials, pki.trust, NOW)
        try:
            want = _tree_path(pki, changed, parts)
        except EessiError:
            assert got is None, f"byte {pos} changed: the tree path refuses, the text path not"
            continue
        assert got is None or got == want


def test_a_changed_attachment_is_left_to_the_tree_path(pki: Pki) -> None:
    um, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    data = bytearray(parts[0].data)
    data[40] ^= 1
    changed = [replace(parts[0], data=bytes(data))]
    _left_to_the_tree_path(pki, envelope, changed, "EBMS:0102")


def test_a_message_for_another_receiver_is_left_to_the_tree_path(pki: Pki) -> None:
    um, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    _left_to_the_tree_path(pki, envelope, parts, "EBMS:0102", me=PT)


def test_a_signer_that_is_not_the_sending_party_is_left_to_the_tree_path(pki: Pki) -> None:
    """Signed by the Portuguese fund with its own valid certificate, sent as the CNS."""
    um, attachment, _ = s072_message()
    rendered = render_user_message(
        um, attachment, signer=pki.credentials(PT), recipient=pki.certificate(CPAM)
    )
    assert rendered is not None
    envelope, parts, _ = rendered
    _left_to_the_tree_path(pki, envelope, parts, "EBMS:0101")


def test_an_expired_certificate_is_left_to_the_tree_path(pki: Pki) -> None:
    um, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    later = NOW + timedelta(days=45)
    assert receive_rendered(envelope, parts, pki.credentials(CPAM), pki.trust, later) is None


def test_a_signature_value_of_other_bytes_is_left_to_the_tree_path(pki: Pki) -> None:
    um, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    text = envelope.decode("ascii")
    start = text.index("<ds:SignatureValue>") + len("<ds:SignatureValue>")
    end = text.index("</ds:SignatureValue>")
    other = pki.credentials(CNS).key.sign(b"other", padding.PKCS1v15(), hashes.SHA256())
    forged = (text[:start] + base64.b64encode(other).decode() + text[end:]).encode("ascii")
    _left_to_the_tree_path(pki, forged, parts, "EBMS:0101")


def test_another_layout_of_the_security_header_is_left_to_the_tree_path(pki: Pki) -> None:
    """Another access point's layout (a line break between the security header's children,
    which no signature covers): the text path declines, the tree path reads the same message."""
    um, attachment, _ = s072_message()
    envelope, parts = _rendered(pki, um, attachment)
    laid_out = envelope.replace(b"</xenc:EncryptedKey>", b"</xenc:EncryptedKey>\n  ")
    assert laid_out != envelope
    assert receive_rendered(laid_out, parts, pki.credentials(CPAM), pki.trust, NOW) is None
    assert _tree_path(pki, laid_out, parts) == _tree_path(pki, envelope, parts)


# --- the signed receipt ------------------------------------------------------------------------


def _receipt(
    pki: Pki, refs: tuple[SignedReference, ...], *, by: str = CPAM, answers: str = "m-1@eessi-sim"
) -> bytes:
    receipt = Receipt("r-1@eessi-sim", WHEN, answers, refs)
    rendered = render_receipt(receipt, _keys(pki, by))
    assert rendered is not None
    return rendered


def _sent(pki: Pki) -> tuple[str, tuple[SignedReference, ...]]:
    um, attachment, _ = s072_message()
    rendered = render_user_message(
        um, attachment, signer=_keys(pki, CNS), recipient=pki.certificate(CPAM)
    )
    assert rendered is not None
    return um.message_id, rendered[2]


def _tree_receipt(
    pki: Pki, envelope: bytes, message_id: str, sent: tuple[SignedReference, ...]
) -> Receipt:
    parsed = parse_envelope(envelope)
    assert isinstance(parsed.message, Receipt)
    check_receipt(
        parsed.root,
        parsed.message,
        message_id=message_id,
        sent=sent,
        trust=pki.trust,
        receiver=CPAM,
        now=NOW,
    )
    return parsed.message


def _text_receipt(
    pki: Pki, envelope: bytes, message_id: str, sent: tuple[SignedReference, ...]
) -> Receipt | None:
    return read_rendered_receipt(
        envelope, message_id=message_id, sent=sent, trust=pki.trust, receiver=CPAM, now=NOW
    )


def test_our_receipt_is_read_as_the_tree_path_reads_it(pki: Pki) -> None:
    message_id, sent = _sent(pki)
    envelope = _receipt(pki, sent)
    got = _text_receipt(pki, envelope, message_id, sent)
    assert got is not None
    assert got == _tree_receipt(pki, envelope, message_id, sent)
    assert got.references == sent


def test_a_changed_byte_anywhere_in_a_receipt_is_never_accepted_by_the_text_path(pki: Pki) -> None:
    message_id, sent = _sent(pki)
    envelope = _receipt(pki, sent)
    for pos, changed in _changed_bytes(envelope, every=7, seed=17):
        got = _text_receipt(pki, changed, message_id, sent)
        try:
            want = _tree_receipt(pki, changed, message_id, sent)
        except EessiError:
            assert got is None, f"byte {pos} changed: the tree path refuses, the text path not"
            continue
        assert got is None or got == want


@pytest.mark.parametrize("case", ["other digests", "another signer", "another message"])
def test_a_receipt_the_tree_path_refuses_is_left_to_it(pki: Pki, case: str) -> None:
    message_id, sent = _sent(pki)
    if case == "other digests":
        first = replace(sent[2], digest_value=base64.b64encode(bytes(32)).decode())
        envelope = _receipt(pki, (*sent[:2], first))
    elif case == "another signer":
        envelope = _receipt(pki, sent, by=PT)
    else:
        envelope = _receipt(pki, sent, answers="m-2@eessi-sim")
    assert _text_receipt(pki, envelope, message_id, sent) is None
    with pytest.raises(EessiError) as refused:
        _tree_receipt(pki, envelope, message_id, sent)
    assert refused.value.details["ebms_code"] == "EBMS:0302"
