"""A forged or unsigned message costs the receiver no RSA private-key operation, an accepted
one exactly one (D390), and a copy of a message already receipted none (D450): the signature
over ``ds:SignedInfo`` and the signer's trust are checked with the sender's public key before
the transported AES key is unwrapped, on the text path (our template's messages, D320) and on
the tree path (any other layout), and the two paths share one unwrap; a receipted message's
key is kept, so that its copy is not unwrapped again. The receiver's key here is the real key
behind a counter of its private-key operations (:class:`eessi.as4.security.keys.CountingKey`;
each one about 0.7 ms of CPU: what a flood of forged messages would otherwise buy)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from as4_support import CNS, CPAM, NOW, make_pki, pmodes, signed_s072

from eessi.as4.codes import ebms_error_of
from eessi.as4.exchange import Incoming, receive_user_message
from eessi.as4.mime import Packaged, unpackage
from eessi.as4.pki import Pki
from eessi.as4.pmode import PModeSet
from eessi.as4.security import Credentials
from eessi.as4.security.decrypt import KnownKeys
from eessi.as4.security.keys import CountingKey
from eessi.errors import EessiError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _received(
    pki: Pki, packaged: Packaged, pm: PModeSet | None = None, known: KnownKeys | None = None
) -> tuple[Incoming | EessiError, int]:
    """The CPAM's reading of ``packaged`` (accepted, or the refusal) and how many private-key
    operations its key did for it (``known``: the keys of the messages it receipted)."""
    own = pki.credentials(CPAM)
    key = CountingKey(own.key)
    try:
        result: Incoming | EessiError = receive_user_message(
            packaged.content_type,
            packaged.body,
            pmodes=pm or pmodes(),
            receiver=CPAM,
            credentials=Credentials(key, own.certificate),
            trust=pki.trust,
            now=NOW,
            known=known,
        )
    except EessiError as exc:
        result = exc
    return result, key.operations


def _altered(
    packaged: Packaged, pattern: bytes, new: Callable[[re.Match[bytes]], bytes]
) -> Packaged:
    body, count = re.subn(pattern, new, packaged.body, count=1, flags=re.S)
    assert count == 1, f"{pattern!r} not in the message"
    return replace(packaged, body=body)


def _refused(result: Incoming | EessiError) -> str:
    assert isinstance(result, EessiError), "the message was accepted"
    assert result.where  # a structured refusal: where, and the code the receiver answers
    return ebms_error_of(result).code


def test_an_accepted_message_costs_one_private_key_operation(pki: Pki) -> None:
    result, operations = _received(pki, signed_s072(pki).packaged)
    assert isinstance(result, Incoming)
    assert result.delivered.sender == CNS
    assert operations == 1


def test_a_message_signed_under_another_ca_is_refused_before_any_unwrap(
    pki: Pki, tmp_path: Path
) -> None:
    other = make_pki(tmp_path / "other", {CNS})  # a forger's own "CNS" key and certificate
    forged = signed_s072(pki, credentials=other.credentials(CNS)).packaged
    result, operations = _received(pki, forged)
    assert _refused(result) == "EBMS:0101"
    assert operations == 0


def test_a_message_signed_by_another_institution_is_refused_before_any_unwrap(pki: Pki) -> None:
    forged = signed_s072(pki, credentials=pki.credentials("DE:TKK00001")).packaged
    result, operations = _received(pki, forged)
    assert _refused(result) == "EBMS:0101"
    assert operations == 0


def test_a_forged_signature_value_is_refused_before_any_unwrap(pki: Pki) -> None:
    sent = signed_s072(pki).packaged
    forged = _altered(
        sent,
        rb"<ds:SignatureValue>(.)",
        lambda m: b"<ds:SignatureValue>" + (b"B" if m.group(1) == b"A" else b"A"),
    )
    result, operations = _received(pki, forged)
    assert _refused(result) == "EBMS:0101"
    assert operations == 0


def test_a_changed_header_is_refused_before_any_unwrap(pki: Pki) -> None:
    sent = signed_s072(pki).packaged
    forged = _altered(sent, rb"FR-1A2B3C4D5E6F", lambda m: b"FR-FFFFFFFFFFFF")
    result, operations = _received(pki, forged)
    assert _refused(result) == "EBMS:0101"
    assert operations == 0


def test_an_encrypted_unsigned_message_is_refused_before_any_unwrap(pki: Pki) -> None:
    # Encrypted for the CPAM (anyone may: its certificate is public), the signature left out.
    unsigned = _altered(signed_s072(pki).packaged, rb"<ds:Signature .*?</ds:Signature>", _gone)
    assert b"xenc:EncryptedKey" in unsigned.body
    result, operations = _received(pki, unsigned)
    assert _refused(result) == "EBMS:0103"
    assert operations == 0


def _gone(m: re.Match[bytes]) -> bytes:
    return b""


def test_a_changed_ciphertext_costs_one_unwrap_though_both_paths_read_it(pki: Pki) -> None:
    # Signed by the CNS: the text path unwraps the key, the attachment does not decrypt, and
    # the tree path gives the refusal with the key the text path unwrapped.
    sent = signed_s072(pki).packaged
    data = unpackage(sent.content_type, sent.body).attachments[0].data
    flipped = data[:40] + bytes([data[40] ^ 1]) + data[41:]
    result, operations = _received(pki, replace(sent, body=sent.body.replace(data, flipped)))
    assert _refused(result) == "EBMS:0102"
    assert operations == 1


def test_another_layout_costs_one_unwrap_and_is_accepted(pki: Pki) -> None:
    sent = signed_s072(pki).packaged
    other = _altered(sent, rb"</xenc:EncryptedKey>", lambda m: m.group(0) + b"\n")
    result, operations = _received(pki, other)
    assert isinstance(result, Incoming)
    assert result.delivered.sender == CNS
    assert operations == 1


# -- a copy of a receipted message (D450) ----------------------------------------------------


def _receipted(pki: Pki, packaged: Packaged, layout: bool = False) -> tuple[Incoming, KnownKeys]:
    """``packaged`` accepted once (one unwrap) and receipted: its key kept as the endpoint
    keeps it (:meth:`As4Endpoint._receipt`)."""
    known = KnownKeys()
    first, operations = _received(pki, packaged, known=known)
    assert isinstance(first, Incoming)
    assert operations == 1
    assert first.key is not None
    known.add(*first.key)
    return first, known


def test_a_copy_of_a_receipted_message_costs_no_private_key_operation(pki: Pki) -> None:
    sent = signed_s072(pki).packaged
    first, known = _receipted(pki, sent)
    again, operations = _received(pki, sent, known=known)
    assert operations == 0
    assert isinstance(again, Incoming)
    assert again == first  # the same SED, references and header: the journal's duplicate


def test_a_copy_in_another_layout_costs_no_private_key_operation_either(pki: Pki) -> None:
    # The tree path (another access point's layout) asks the same Unwrap.
    sent = _altered(signed_s072(pki).packaged, rb"</xenc:EncryptedKey>", lambda m: m[0] + b"\n")
    first, known = _receipted(pki, sent)
    again, operations = _received(pki, sent, known=known)
    assert operations == 0
    assert isinstance(again, Incoming)
    assert again.delivered.payload == first.delivered.payload


def test_a_copy_with_a_changed_ciphertext_is_refused_as_before_without_an_unwrap(
    pki: Pki,
) -> None:
    sent = signed_s072(pki).packaged
    _, known = _receipted(pki, sent)
    data = unpackage(sent.content_type, sent.body).attachments[0].data
    flipped = data[:40] + bytes([data[40] ^ 1]) + data[41:]
    result, operations = _received(
        pki, replace(sent, body=sent.body.replace(data, flipped)), known=known
    )
    assert _refused(result) == "EBMS:0102"  # the AES-GCM tag, as for any message
    assert operations == 0


@pytest.mark.parametrize(
    ("pattern", "new", "code"),
    [
        (rb"FR-1A2B3C4D5E6F", lambda m: b"FR-FFFFFFFFFFFF", "EBMS:0101"),
        (rb"<ds:Signature .*?</ds:Signature>", _gone, "EBMS:0103"),
    ],
    ids=["changed-header", "signature-removed"],
)
def test_a_forged_copy_of_a_receipted_message_is_refused_as_before(
    pki: Pki, pattern: bytes, new: Callable[[re.Match[bytes]], bytes], code: str
) -> None:
    # Its key is known, and the signature is still checked first: refused, no key used.
    sent = signed_s072(pki).packaged
    _, known = _receipted(pki, sent)
    result, operations = _received(pki, _altered(sent, pattern, new), known=known)
    assert _refused(result) == code
    assert operations == 0


def test_the_kept_keys_are_bounded_and_a_copy_older_than_them_pays_its_unwrap(
    pki: Pki,
) -> None:
    sent = signed_s072(pki).packaged
    first, _ = _receipted(pki, sent)
    assert first.key is not None
    known = KnownKeys(limit=2)
    known.add(*first.key)
    known.add(b"w2", b"k" * 16)
    known.add(b"w3", b"k" * 16)  # the first message's key goes
    assert len(known) == 2
    again, operations = _received(pki, sent, known=known)
    assert isinstance(again, Incoming)
    assert operations == 1
