"""HMAC-SHA256 peer authentication over the exact body."""

from __future__ import annotations

from eessi.transport.auth import sign, verify

BODY = b"--b\r\n\r\n<Messaging/>\r\n--b--"


def test_a_body_signed_with_the_senders_credential_verifies() -> None:
    assert verify(BODY, "fr-secret", sign(BODY, "fr-secret"))


def test_another_credential_does_not_verify() -> None:
    assert not verify(BODY, "fr-secret", sign(BODY, "someone-else"))


def test_one_altered_byte_does_not_verify() -> None:
    assert not verify(BODY + b" ", "fr-secret", sign(BODY, "fr-secret"))


def test_a_missing_or_garbled_header_does_not_verify() -> None:
    good = sign(BODY, "fr-secret")
    assert not verify(BODY, "fr-secret", None)
    assert not verify(BODY, "fr-secret", "")
    assert not verify(BODY, "fr-secret", good.replace("hmac-sha256=", "sha1="))
    assert not verify(BODY, "fr-secret", good + "é")


def test_the_header_names_its_algorithm() -> None:
    value = sign(BODY, "k")
    assert value.startswith("hmac-sha256=")
    assert len(value) == len("hmac-sha256=") + 64
