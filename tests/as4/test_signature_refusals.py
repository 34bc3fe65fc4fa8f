"""What the receiver refuses in a secured message's security header, and with which ebMS code:
signature wrapping, a second signature, a reference missing, a key or token the header does not
hold, a key encrypted for another certificate (docs/as4.md "Security"; D250 changed how the
verifier and decrypter read the header, not what they refuse). Each test alters a real message
made by the sender, as an attacker or a careless peer would on the wire."""

from __future__ import annotations

import base64
import re
import textwrap
from collections.abc import Callable
from dataclasses import replace

import pytest
from as4_support import CNS, CPAM, make_pki, signed_s072
from as4_support import receive_secured as _receive

from eessi.as4.codes import ebms_error_of
from eessi.as4.mime import Packaged
from eessi.as4.pki import Pki
from eessi.as4.security import certificate_b64
from eessi.errors import EessiError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def sent(pki: Pki) -> Packaged:
    return signed_s072(pki).packaged


def _refusal(call: Callable[[], object]) -> EessiError:
    with pytest.raises(EessiError) as info:
        call()
    return info.value


def _altered(
    packaged: Packaged, pattern: bytes, new: bytes | Callable[[re.Match[bytes]], bytes]
) -> Packaged:
    body, count = re.subn(pattern, new, packaged.body, count=1, flags=re.S)
    assert count == 1, f"{pattern!r} not in the message"
    return replace(packaged, body=body)


def test_the_sent_message_is_accepted_unaltered(pki: Pki, sent: Packaged) -> None:
    assert _receive(pki, sent).delivered.sender == CNS


def test_a_second_element_with_the_signed_header_id_is_refused_as_wrapping(
    pki: Pki, sent: Packaged
) -> None:
    wrapped = _altered(
        sent, rb"</wsse:Security>", b'<wsu:Timestamp wsu:Id="_ebMessaging"/></wsse:Security>'
    )
    error = _refusal(lambda: _receive(pki, wrapped))
    assert ebms_error_of(error).code == "EBMS:0101"
    assert "names 2 elements" in error.message


def test_a_second_signature_is_policy_noncompliance(pki: Pki, sent: Packaged) -> None:
    twice = _altered(sent, rb"<ds:Signature .*?</ds:Signature>", lambda m: m.group(0) * 2)
    error = _refusal(lambda: _receive(pki, twice))
    assert ebms_error_of(error).code == "EBMS:0103"
    assert "2 ds:Signature elements" in error.message


def test_a_signature_that_leaves_the_body_out_is_policy_noncompliance(
    pki: Pki, sent: Packaged
) -> None:
    partial = _altered(sent, rb'<ds:Reference URI="#_soapBody">.*?</ds:Reference>', b"")
    error = _refusal(lambda: _receive(pki, partial))
    assert ebms_error_of(error).code == "EBMS:0103"
    assert "does not cover: body" in error.message


def test_a_key_info_naming_a_token_the_header_lacks_is_policy_noncompliance(
    pki: Pki, sent: Packaged
) -> None:
    elsewhere = _altered(sent, rb'URI="#_signerToken"', b'URI="#_someoneElsesToken"')
    error = _refusal(lambda: _receive(pki, elsewhere))
    assert ebms_error_of(error).code == "EBMS:0103"
    assert "BinarySecurityToken" in error.message


def test_an_encrypted_key_naming_a_token_the_header_lacks_fails_decryption(
    pki: Pki, sent: Packaged
) -> None:
    elsewhere = _altered(sent, rb'URI="#_recipientToken"', b'URI="#_absentToken"')
    error = _refusal(lambda: _receive(pki, elsewhere))
    assert ebms_error_of(error).code == "EBMS:0102"
    assert "not in the header" in error.message


def test_a_key_encrypted_for_another_certificate_fails_decryption(pki: Pki, sent: Packaged) -> None:
    ours = certificate_b64(pki.certificate(CPAM)).encode("ascii")
    theirs = certificate_b64(pki.certificate("BE:MC000200")).encode("ascii")
    other = _altered(sent, re.escape(ours), theirs)
    error = _refusal(lambda: _receive(pki, other))
    assert ebms_error_of(error).code == "EBMS:0102"
    assert "another certificate" in error.message


def test_the_receivers_token_wrapped_in_lines_as_wss4j_writes_it_is_still_its_own(
    pki: Pki, sent: Packaged
) -> None:
    ours = certificate_b64(pki.certificate(CPAM))
    wrapped = "\n".join(textwrap.wrap(ours, 76)).encode("ascii")
    assert base64.b64decode(wrapped) == base64.b64decode(ours)
    rewrapped = _altered(sent, re.escape(ours.encode("ascii")), wrapped)
    assert _receive(pki, rewrapped).delivered.sender == CNS
