"""Peer authentication: HMAC-SHA256 over the exact HTTP body with the sender's credential.

The real network signs the ebMS header and payload (XAdES/WS-Security, RSA-SHA256) and uses
mutual TLS, with certificates listed in the Institution Repository. The simulation keeps the
property that matters to the receiver, "this body was produced by the party named in From and
was not altered", with a shared secret per institution from the directory
(``InstitutionEntry.credential``). The MAC covers the whole body, so the envelope (and its
From), the payload digest and the payload are all bound to it.

Header: ``X-EESSI-Signature: hmac-sha256=<64 hex>``. Signals (receipts, errors) carry the same
header made with the *receiver's* credential, so a sender can check who acknowledged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Final

__all__ = ["SIGNATURE_HEADER", "CredentialLookup", "sign", "verify"]

#: The HTTP header carrying the MAC.
SIGNATURE_HEADER: Final = "X-EESSI-Signature"
_SCHEME: Final = "hmac-sha256="

#: Gives the shared secret of an institution (by IR ID), or ``None`` if it is unknown.
#: The node wires it to the directory: ``lambda ir_id: directory.entry(ir_id).credential``.
CredentialLookup = Callable[[str], str | None]


def sign(body: bytes, credential: str) -> str:
    """The header value authenticating ``body`` under ``credential``."""
    return _SCHEME + hmac.digest(credential.encode("utf-8"), body, hashlib.sha256).hex()


def verify(body: bytes, credential: str, header_value: str | None) -> bool:
    """Whether ``header_value`` is a valid MAC of ``body`` under ``credential`` (constant time)."""
    if not header_value or not header_value.startswith(_SCHEME):
        return False
    expected = sign(body, credential)
    return hmac.compare_digest(
        expected.encode("ascii"), header_value.strip().encode("ascii", "replace")
    )
